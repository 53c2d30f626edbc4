package monitor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/secretcache/secretcache"
)

// Report returns a human-readable monitoring report: the health status and
// its reasons, the cache statistics, reads served against backend calls
// made, calls saved, the estimated API cost and saving (at WithAPIPrice,
// default $0.05 per 10,000 calls), backend errors, refreshes, latency,
// breakers and components. It runs Health with a background context (so the
// component checks, bounded by WithCheckTimeout). It never includes secret
// values; names of regions and components are cleaned of control characters.
func (m *Monitor) Report() string {
	return m.ReportContext(context.Background())
}

// ReportContext is Report with a context for the component checks.
func (m *Monitor) ReportContext(ctx context.Context) string {
	if m == nil {
		return "secretcache monitoring report\n  no monitor\n"
	}
	h := m.Health(ctx)
	c := m.cache.Load()
	var st secretcache.Stats
	var cs CacheStats
	if c != nil {
		st = c.Stats()
		cs = m.cacheStatsFrom(c, st, h.Region)
	} else {
		cs = CacheStats{Region: h.Region, CacheEfficiency: CacheEfficiency{CacheStatus: CacheEmpty}}
	}
	var r report
	r.line("secretcache monitoring report (%s, secretcache %s)", h.Timestamp.Format(time.RFC3339), secretcache.Version)
	r.line("Status: %s", strings.ToUpper(h.Status))
	for _, why := range h.Reasons {
		r.line("  - %s", why)
	}
	r.line("Region: %s", h.Region)
	r.line("")
	r.cache(c != nil, st, cs)
	r.line("")
	r.reads(st, h.Cache, m.cfg.price)
	r.line("")
	r.backend(h.Perf, m.cfg.window)
	r.line("")
	r.breakers(h.Breakers)
	r.line("")
	r.components(h.Components)
	return r.String()
}

// report is the text of ReportContext, one section per method.
type report struct{ strings.Builder }

func (r *report) line(format string, args ...any) {
	fmt.Fprintf(r, format, args...)
	r.WriteByte('\n')
}

func (r *report) cache(attached bool, st secretcache.Stats, cs CacheStats) {
	r.line("Cache")
	if !attached {
		r.line("  no cache attached")
	}
	r.line("  %s in %s, %s; %.2f%% of capacity (max %d entries, %s)",
		count(cs.CachedSecretsCount, "secret", "secrets"), count(cs.TotalCacheEntries, "entry", "entries"), bytesText(st.Bytes), cs.CacheEfficiency.CacheUtilizationPercent,
		st.MaxEntries, bytesText(uint64(max(st.MaxBytes, 0))))
	r.line("  entry age: oldest %.2fs, newest %.2fs, average %.2fs (%s)",
		cs.OldestCacheAgeSeconds, cs.NewestCacheAgeSeconds, cs.CacheEfficiency.AvgCacheAgeSeconds, cs.CacheEfficiency.CacheStatus)
}

// reads is the section on reads served against calls made, priced at
// pricePer10k dollars per 10,000 calls.
func (r *report) reads(st secretcache.Stats, ch CacheHealth, pricePer10k float64) {
	price := pricePer10k / 10000
	r.line("Reads and calls")
	reads := st.Reads()
	r.line("  reads served: %d (%s, %d stale, %s; %s)", reads, count(st.Hits, "hit", "hits"), st.StaleHits,
		count(st.Misses, "miss", "misses"), count(st.Fallbacks, "fallback", "fallbacks"))
	r.line("  hit rate: %.2f%% since start, %.2f%% over the last %d reads", 100*st.HitRate, ch.HitRatePercent, ch.Reads)
	r.line("  backend calls made: %d for %d reads served", st.BackendCalls, reads)
	r.line("  calls saved: %d (%s)", st.CallsSaved, savedShare(st.CallsSaved, reads))
	r.line("  estimated API cost: %s (%s at $%.2f per 10,000); saved %s", money(float64(st.BackendCalls)*price),
		count(st.BackendCalls, "call", "calls"), pricePer10k, money(float64(st.CallsSaved)*price))
	r.line("  backend errors: %s", errorsText(st.BackendErrors))
	r.line("  refreshes: %d ahead, %d on expiry, %d forced; %d version changes; %d evictions",
		st.RefreshesAhead, st.RefreshesOnExpiry, st.RefreshesForced, st.VersionChanges, st.Evictions)
}

func (r *report) backend(p PerformanceHealth, window time.Duration) {
	r.line("Backend performance (%s, last %s)", p.Status, window)
	switch p.Source {
	case "none":
		r.line("  no backend calls in the window")
	case "cache":
		r.line("  %s, %d failed, success rate %.2f%% (latency unknown: pass ObserveCall to the source)",
			count(p.Calls, "call", "calls"), p.Failures, p.SuccessRatePercent)
	default:
		r.line("  %s, %d failed, success rate %.2f%%", count(p.Calls, "call", "calls"), p.Failures, p.SuccessRatePercent)
		r.line("  latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms", p.LatencyMs.P50, p.LatencyMs.P95, p.LatencyMs.P99)
	}
}

func (r *report) breakers(bs []BreakerHealth) {
	r.line("Circuit breakers")
	if len(bs) == 0 {
		r.line("  none reported by the source")
	}
	for _, br := range bs {
		role := ""
		if br.Primary {
			role = " (primary)"
		}
		line := fmt.Sprintf("  %s%s: %s, %d consecutive failures", br.Name, role, br.State, br.Failures)
		if br.LastErrorKind != "" {
			line += ", last error " + br.LastErrorKind
		}
		if !br.Since.IsZero() {
			line += ", since " + br.Since.UTC().Format(time.RFC3339)
		}
		r.line("%s", line)
	}
}

func (r *report) components(cs map[string]ComponentHealth) {
	r.line("Components")
	if len(cs) == 0 {
		r.line("  none registered")
	}
	for _, name := range slices.Sorted(maps.Keys(cs)) {
		ch := cs[name]
		line := fmt.Sprintf("  %s: %s", name, ch.Status)
		if ch.Message != "" {
			line += " - " + ch.Message
		}
		r.line("%s", line)
	}
}

func count[N int | uint64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// money prints dollars: cents from one cent up, millionths below.
func money(v float64) string {
	if v >= 0.01 || v == 0 {
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("$%.6f", v)
}

func savedShare(saved, reads uint64) string {
	if reads == 0 {
		return "no reads yet"
	}
	return fmt.Sprintf("%.2f%% of reads needed no API call", 100*float64(saved)/float64(reads))
}

func errorsText(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", cleanLabel(k), m[k]))
	}
	return strings.Join(parts, ", ")
}

func bytesText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
