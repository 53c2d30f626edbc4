package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/health"
)

// Health statuses, from best to worst: the words of package health.
const (
	StatusHealthy   = health.Healthy
	StatusDegraded  = health.Degraded
	StatusUnhealthy = health.Unhealthy
)

// Thresholds decide the health status. Rates are fractions (0.95 = 95 %).
// A zero field means its default (so do a MinCalls below zero and a rate
// that is NaN or above 1, which are also logged); a negative rate turns its
// rule off; MaxLatencyP99 zero or negative is off.
//
// The rules, judged over the sliding window (WithWindow, default 5 min):
//
//   - unhealthy: no cache is attached; or the primary region's breaker is
//     open; or the window holds at least MinCalls backend calls and their
//     success rate is below UnhealthySuccessRate; or a registered component
//     reports "unhealthy" (or its check panics or times out).
//   - degraded (when not unhealthy): the success rate is below
//     MinSuccessRate (with at least MinCalls calls); or the cache is warmed
//     (at least WarmReads reads in the window) and its hit rate in the window
//     is below MinHitRate; or the primary breaker is half-open; or a
//     non-primary region's breaker is open; or MaxLatencyP99 is set and the
//     p99 latency in the window is above it; or a component reports
//     "degraded" or any status other than "healthy".
//   - healthy otherwise.
//
// A backend call fails, for the success rate, when it returns an error other
// than not found, deleted or invalid request: those are answers about the
// request, not a sick backend. Access denied and decryption failures do
// count (they are deployment faults).
type Thresholds struct {
	MinSuccessRate       float64       // degraded below; default 0.95
	UnhealthySuccessRate float64       // unhealthy below; default 0.50
	MinCalls             int           // calls in the window before the success rate is judged; default 5
	MinHitRate           float64       // degraded below, once warmed; default 0.80
	WarmReads            uint64        // reads in the window that make the cache "warmed"; default 100
	MaxLatencyP99        time.Duration // degraded above; default 0 (off)
}

// DefaultThresholds returns the defaults described on Thresholds.
func DefaultThresholds() Thresholds {
	return Thresholds{MinSuccessRate: 0.95, UnhealthySuccessRate: 0.50, MinCalls: 5,
		MinHitRate: 0.80, WarmReads: 100}
}

// withDefaults returns t with its defaults filled in, and what it ignored.
func (t Thresholds) withDefaults() (Thresholds, error) {
	d := DefaultThresholds()
	var errs []error
	rate := func(name string, v *float64, def float64) {
		switch {
		case *v == 0:
			*v = def
		case math.IsNaN(*v) || *v > 1:
			errs = append(errs, fmt.Errorf("invalid threshold %s ignored", name))
			*v = def
		}
	}
	rate("MinSuccessRate", &t.MinSuccessRate, d.MinSuccessRate)
	rate("UnhealthySuccessRate", &t.UnhealthySuccessRate, d.UnhealthySuccessRate)
	rate("MinHitRate", &t.MinHitRate, d.MinHitRate)
	if t.MinCalls <= 0 {
		t.MinCalls = d.MinCalls
	}
	if t.WarmReads == 0 {
		t.WarmReads = d.WarmReads
	}
	if t.MaxLatencyP99 < 0 {
		t.MaxLatencyP99 = 0
	}
	return t, errors.Join(errs...)
}

// ComponentHealth is what a registered component reports: a health.Report.
type ComponentHealth = health.Report

// HealthStatus is the result of Health, and the body of the health handler.
type HealthStatus struct {
	Status     string                     `json:"status"`            // healthy, degraded or unhealthy
	Reasons    []string                   `json:"reasons,omitempty"` // why it is not healthy
	Timestamp  time.Time                  `json:"timestamp"`
	Region     string                     `json:"region"`
	Cache      CacheHealth                `json:"cache"`
	Perf       PerformanceHealth          `json:"performance"`
	Breakers   []BreakerHealth            `json:"circuit_breakers"`
	Components map[string]ComponentHealth `json:"components"`
}

// CacheHealth is the cache part of the health status.
type CacheHealth struct {
	Status              string  `json:"status"`
	Entries             int     `json:"entries"`
	Bytes               uint64  `json:"bytes"`
	WindowSeconds       float64 `json:"window_seconds"`   // span the window figures cover
	Reads               uint64  `json:"reads"`            // in the window
	HitRatePercent      float64 `json:"hit_rate_percent"` // in the window (hits and stale hits)
	Warmed              bool    `json:"warmed"`           // enough reads in the window to judge the hit rate
	TotalReads          uint64  `json:"total_reads"`      // since the cache started
	TotalHitRatePercent float64 `json:"total_hit_rate_percent"`
}

// PerformanceHealth is the backend part of the health status.
type PerformanceHealth struct {
	Status string `json:"status"`
	// Source says where the figures come from: "observer" (ObserveCall,
	// with latencies), "cache" (the cache's own call and error counters, no
	// latencies: wire ObserveCall for those) or "none" (no calls yet).
	Source             string    `json:"source"`
	WindowSeconds      float64   `json:"window_seconds"`
	Calls              int       `json:"calls"`
	Failures           int       `json:"failures"`
	SuccessRatePercent float64   `json:"success_rate_percent"` // 100 with no calls
	LatencyMs          Latencies `json:"latency_ms"`
}

// Latencies are percentiles of backend call latency, in milliseconds.
type Latencies struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// BreakerHealth is one circuit breaker of the source.
type BreakerHealth struct {
	secretcache.BreakerState
	Status string `json:"status"` // what this breaker contributes: healthy, degraded, unhealthy
}

// Health judges the cache, the backend and the registered components by the
// rules on Thresholds. It runs the component checks concurrently, each
// bounded by WithCheckTimeout and by ctx (a nil ctx is treated as
// context.Background()). It never panics and never returns secret values.
// Figures are recorded for the sliding window on every call.
func (m *Monitor) Health(ctx context.Context) HealthStatus {
	if ctx == nil {
		ctx = context.Background()
	}
	if m == nil {
		return HealthStatus{Status: StatusUnhealthy, Reasons: []string{"no monitor"},
			Timestamp: time.Now().UTC(), Region: unknown, Components: map[string]ComponentHealth{}}
	}
	now := m.now()
	h := HealthStatus{Status: StatusHealthy, Timestamp: now.UTC(), Components: map[string]ComponentHealth{},
		Breakers: []BreakerHealth{}}
	d := m.judgeCache(&h, now)
	m.judgeBackend(&h, now, d)
	m.judgeBreakers(&h)
	m.judgeComponents(ctx, &h)
	return h
}

// flag makes h at least status, and says why.
func (h *HealthStatus) flag(status, format string, args ...any) {
	h.Status = health.Worse(h.Status, status)
	h.Reasons = append(h.Reasons, fmt.Sprintf(format, args...))
}

// judgeCache fills h.Cache and returns the change of the cache's counters
// over the window, which the backend judgement falls back on.
func (m *Monitor) judgeCache(h *HealthStatus, now time.Time) snap {
	t := m.cfg.thresholds
	c := m.cache.Load()
	var st secretcache.Stats
	h.Cache.Status = StatusHealthy
	if c == nil {
		h.Cache.Status = StatusUnhealthy
		h.flag(StatusUnhealthy, "no cache attached")
	} else {
		st = c.Stats()
	}
	d := m.snaps.delta(now, m.cfg.window, snapOf(st))
	h.Cache.Entries, h.Cache.Bytes = st.Entries, st.Bytes
	h.Cache.WindowSeconds = round(time.Duration(d.at).Seconds(), 3)
	h.Cache.Reads = d.reads
	h.Cache.TotalReads = st.Reads()
	h.Cache.TotalHitRatePercent = round(100*st.HitRate, 2)
	if d.reads > 0 {
		h.Cache.HitRatePercent = round(100*float64(d.hits)/float64(d.reads), 2)
	}
	h.Cache.Warmed = d.reads >= t.WarmReads
	if c != nil && h.Cache.Warmed && t.MinHitRate > 0 && float64(d.hits) < t.MinHitRate*float64(d.reads) {
		h.Cache.Status = StatusDegraded
		h.flag(StatusDegraded, "cache hit rate %.1f%% over the last %d reads is below %.1f%%",
			h.Cache.HitRatePercent, d.reads, 100*t.MinHitRate)
	}
	return d
}

// judgeBackend fills h.Perf from the calls ObserveCall saw in the window,
// else from the cache's counters d.
func (m *Monitor) judgeBackend(h *HealthStatus, now time.Time, d snap) {
	t := m.cfg.thresholds
	p := &h.Perf
	p.Status = StatusHealthy
	p.WindowSeconds = round(m.cfg.window.Seconds(), 3)
	ws, observed := m.calls.summary(now.UnixNano() - int64(m.cfg.window))
	switch {
	case observed:
		p.Source = "observer"
		p.Calls, p.Failures = ws.calls, ws.failures
		p.LatencyMs = Latencies{P50: ms(ws.p50), P95: ms(ws.p95), P99: ms(ws.p99)}
	case d.calls > 0:
		p.Source = "cache"
		p.Calls, p.Failures = int(min(d.calls, math.MaxInt32)), int(min(d.failures, math.MaxInt32))
	default:
		p.Source = "none"
	}
	p.SuccessRatePercent = 100
	if p.Calls > 0 {
		p.SuccessRatePercent = round(100*float64(p.Calls-p.Failures)/float64(p.Calls), 2)
	}
	if p.Calls >= t.MinCalls {
		ok := float64(p.Calls - p.Failures)
		switch {
		case t.UnhealthySuccessRate > 0 && ok < t.UnhealthySuccessRate*float64(p.Calls):
			p.Status = StatusUnhealthy
			h.flag(StatusUnhealthy, "backend success rate %.1f%% over %d calls is below %.1f%%",
				p.SuccessRatePercent, p.Calls, 100*t.UnhealthySuccessRate)
		case t.MinSuccessRate > 0 && ok < t.MinSuccessRate*float64(p.Calls):
			p.Status = StatusDegraded
			h.flag(StatusDegraded, "backend success rate %.1f%% over %d calls is below %.1f%%",
				p.SuccessRatePercent, p.Calls, 100*t.MinSuccessRate)
		}
	}
	if t.MaxLatencyP99 > 0 && p.Calls > 0 && p.Source == "observer" && ws.p99 > t.MaxLatencyP99 {
		p.Status = health.Worse(p.Status, StatusDegraded)
		h.flag(StatusDegraded, "backend p99 latency %v is above %v", ws.p99, t.MaxLatencyP99)
	}
}

// judgeBreakers fills h.Breakers and h.Region from the source's breakers.
func (m *Monitor) judgeBreakers(h *HealthStatus) {
	bs := m.breakers()
	h.Region = m.region(bs)
	primary := m.primaryBreaker(bs)
	for i, b := range bs {
		bh := BreakerHealth{BreakerState: b, Status: StatusHealthy}
		bh.Primary = i == primary
		switch {
		case b.State == "open" && bh.Primary:
			bh.Status = StatusUnhealthy
			h.flag(StatusUnhealthy, "circuit breaker of primary region %s is open", b.Name)
		case b.State == "open":
			bh.Status = StatusDegraded
			h.flag(StatusDegraded, "circuit breaker of region %s is open", b.Name)
		case b.State == "half-open" && bh.Primary:
			bh.Status = StatusDegraded
			h.flag(StatusDegraded, "circuit breaker of primary region %s is half-open", b.Name)
		case b.State != "closed" && b.State != "half-open":
			bh.Status = StatusDegraded
			h.flag(StatusDegraded, "circuit breaker of region %s is in unknown state %q", b.Name, cleanLabel(b.State))
		}
		bh.State = cleanLabel(bh.State)
		h.Breakers = append(h.Breakers, bh)
	}
}

// judgeComponents runs the registered checks into h.Components.
func (m *Monitor) judgeComponents(ctx context.Context, h *HealthStatus) {
	checks := m.runChecks(ctx)
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		ch := checks[name]
		h.Components[name] = ch
		switch ch.Status {
		case StatusHealthy:
		case StatusUnhealthy:
			h.flag(StatusUnhealthy, "component %s is unhealthy", name)
		case StatusDegraded:
			h.flag(StatusDegraded, "component %s is degraded", name)
		default:
			h.flag(StatusDegraded, "component %s reported unknown status %q", name, ch.Status)
		}
	}
}

const maxDetailsBytes = 16 << 10

// runChecks runs every registered component check concurrently.
func (m *Monitor) runChecks(ctx context.Context) map[string]ComponentHealth {
	names := m.componentNames()
	out := make(map[string]ComponentHealth, len(names))
	if len(names) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.checkTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		m.compMu.RLock()
		checker := m.components[name]
		m.compMu.RUnlock()
		if checker == nil {
			continue
		}
		done := make(chan ComponentHealth, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					m.cfg.logger.Error("secretcache/monitor: component check panicked", "component", name)
					done <- ComponentHealth{Status: StatusUnhealthy, Message: "check panicked"}
				}
			}()
			done <- checker.CheckHealth(ctx)
		}()
		wg.Go(func() {
			var ch ComponentHealth
			select {
			case ch = <-done:
				ch = sanitizeComponent(ch)
			case <-ctx.Done():
				ch = ComponentHealth{Status: StatusUnhealthy, Message: "check timed out"}
			}
			mu.Lock()
			out[name] = ch
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// sanitizeComponent normalises a component's report: a known status in lower
// case, a bounded one-line message, details that encode as JSON.
func sanitizeComponent(ch ComponentHealth) ComponentHealth {
	s := strings.ToLower(strings.TrimSpace(ch.Status))
	switch s {
	case StatusHealthy, StatusDegraded, StatusUnhealthy:
		ch.Status = s
	case "":
		ch.Status = StatusDegraded
		ch.Message = strings.TrimSpace("no status reported. " + ch.Message)
	default:
		ch.Status = cleanText(ch.Status, 32)
	}
	ch.Message = cleanText(ch.Message, 512)
	if len(ch.Details) > 0 {
		b, err := safeMarshal(ch.Details)
		switch {
		case err != nil:
			ch.Details = map[string]any{"error": "details are not JSON-encodable"}
		case len(b) > maxDetailsBytes:
			ch.Details = map[string]any{"error": fmt.Sprintf("details too large (%d bytes)", len(b))}
		default: // a deep copy, so later changes by the component do not race with encoding
			var cp map[string]any
			if json.Unmarshal(b, &cp) == nil {
				ch.Details = cp
			}
		}
	}
	return ch
}

func safeMarshal(v any) (b []byte, err error) {
	defer func() {
		if recover() != nil {
			b, err = nil, fmt.Errorf("marshal panicked")
		}
	}()
	return json.Marshal(v)
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}
