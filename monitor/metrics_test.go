package monitor_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

// runScript runs a fixed workload whose every counter is known. See the
// comments for the expected effect of each step.
func runScript(t *testing.T, perSecret bool) (*monitor.Monitor, *scripted, *fakeClock) {
	t.Helper()
	clk := newClock()
	src := newScripted(map[string]string{"app/a": "value-a", "app/b": "value-b"})
	src.bump["app/b"] = true
	src.latency = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond,
		40 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond}
	src.breakers = []secretcache.BreakerState{
		{Name: "us-east-1", Primary: true, State: "closed"},
		{Name: "us-west-2", State: "open", Failures: 3, LastErrorKind: "unavailable"},
	}
	c := newCache(t, src, clk)
	m := monitor.New(c, monitor.WithClock(clk), monitor.WithPerSecretLabels(perSecret))
	src.observe = m.ObserveCall
	ctx := context.Background()
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.GetString(ctx, "app/a")) // miss, call 1 (10 ms)
	for range 4 {
		must(c.GetString(ctx, "app/a")) // 4 hits
	}
	must(c.GetString(ctx, "app/b")) // miss, call 2 (20 ms), b v1
	for range 2 {
		must(c.GetString(ctx, "app/b")) // 2 hits
	}
	if _, err := c.GetString(ctx, "app/missing"); !errors.Is(err, secretcache.ErrNotFound) { // miss, call 3 not_found (30 ms)
		t.Fatalf("missing: %v", err)
	}
	if _, err := c.GetString(ctx, "app/missing"); !errors.Is(err, secretcache.ErrNotFound) { // miss (cached failure), no call
		t.Fatalf("missing again: %v", err)
	}
	if v, err := c.GetString(ctx, "app/missing", secretcache.WithFallback("fb")); err != nil || v != "fb" { // miss + fallback
		t.Fatalf("fallback: %q %v", v, err)
	}
	clk.Advance(61 * time.Second) // a and b expire
	src.set(func(s *scripted) { s.fail["app/a"] = secretcache.NewError(secretcache.ErrThrottled, "app/a", nil) })
	must(c.GetString(ctx, "app/a"))                    // refresh on expiry, call 4 throttled (40 ms) -> stale
	must(c.GetString(ctx, "app/a"))                    // stale (backing off, no call)
	must(c.GetString(ctx, "app/b"))                    // refresh on expiry, call 5 (50 ms): miss, b v2 (version change)
	if _, err := c.Refresh(ctx, "app/b"); err != nil { // forced, call 6 (60 ms), b v3 (version change)
		t.Fatal(err)
	}
	return m, src, clk
}

func TestMetricsMatchScriptedWorkload(t *testing.T) {
	m, _, _ := runScript(t, false)
	fams, body := scrape(t, m.MetricsHandler())

	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"secretcache_reads_total", []string{"outcome", "hit"}, 6},
		{"secretcache_reads_total", []string{"outcome", "miss"}, 6},
		{"secretcache_reads_total", []string{"outcome", "stale"}, 2},
		{"secretcache_reads_total", []string{"outcome", "fallback"}, 1},
		{"secretcache_refreshes_total", []string{"kind", "ahead"}, 0},
		{"secretcache_refreshes_total", []string{"kind", "expiry"}, 2},
		{"secretcache_refreshes_total", []string{"kind", "forced"}, 1},
		{"secretcache_version_changes_total", nil, 2},
		{"secretcache_backend_calls_total", nil, 6},
		{"secretcache_backend_errors_total", []string{"kind", "not_found"}, 1},
		{"secretcache_backend_errors_total", []string{"kind", "throttled"}, 1},
		{"secretcache_backend_errors_total", []string{"kind", "unavailable"}, 0},
		{"secretcache_backend_errors_total", []string{"kind", "access_denied"}, 0},
		{"secretcache_evictions_total", nil, 0},
		{"secretcache_calls_saved_total", nil, 8},
		{"secretcache_entries", nil, 2},
		{"secretcache_max_entries", nil, 1024}, // the core's default bounds
		{"secretcache_max_bytes", nil, 64 << 20},
		{"secretcache_entry_age_oldest_seconds", nil, 61},
		{"secretcache_entry_age_newest_seconds", nil, 0},
		{"secretcache_entry_age_average_seconds", nil, 30.5},
		{"secretcache_hit_ratio", nil, 8.0 / 14.0},
		{"secretcache_breaker_state", []string{"region", "us-east-1", "primary", "true"}, 0},
		{"secretcache_breaker_state", []string{"region", "us-west-2", "primary", "false"}, 2},
		{"secretcache_breaker_consecutive_failures", []string{"region", "us-west-2"}, 3},
		{"secretcache_build_info", []string{"version", secretcache.Version}, 1},
	}
	for _, w := range want {
		if got := value(t, fams, w.name, w.labels...); math.Abs(got-w.v) > 1e-9 {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	if got := value(t, fams, "secretcache_bytes"); got <= 0 {
		t.Errorf("bytes = %v, want > 0", got)
	}

	// The latency histogram: 4 successes (10, 20, 50, 60 ms), 1 not_found
	// (30 ms), 1 throttled (40 ms).
	hist := func(outcome string) (uint64, float64, map[float64]uint64) {
		s, ok := sample(fams, "secretcache_backend_call_duration_seconds",
			"operation", "GetSecretValue", "region", "us-east-1", "outcome", outcome)
		if !ok {
			t.Fatalf("no histogram for %s\n%s", outcome, body)
		}
		b := map[float64]uint64{}
		for _, bk := range s.GetHistogram().GetBucket() {
			b[bk.GetUpperBound()] = bk.GetCumulativeCount()
		}
		return s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum(), b
	}
	n, sum, b := hist("success")
	if n != 4 || math.Abs(sum-0.14) > 1e-9 || b[0.005] != 0 || b[0.01] != 1 || b[0.025] != 2 || b[0.05] != 3 || b[0.1] != 4 {
		t.Errorf("success histogram: n=%d sum=%v buckets=%v", n, sum, b)
	}
	if n, sum, _ := hist("not_found"); n != 1 || math.Abs(sum-0.03) > 1e-9 {
		t.Errorf("not_found histogram: n=%d sum=%v", n, sum)
	}
	if n, sum, b := hist("throttled"); n != 1 || math.Abs(sum-0.04) > 1e-9 || b[0.025] != 0 || b[0.05] != 1 {
		t.Errorf("throttled histogram: n=%d sum=%v %v", n, sum, b)
	}

	// Per-secret series are off by default.
	for name := range fams {
		if strings.HasPrefix(name, "secretcache_secret_") {
			t.Errorf("per-secret metric %s exported without opt-in", name)
		}
	}
	if strings.Contains(body, "app/a") {
		t.Error("secret name appears in metrics without per-secret labels")
	}
	// Every family is documented and prefixed.
	for name, f := range fams {
		if !strings.HasPrefix(name, "secretcache_") || f.GetHelp() == "" {
			t.Errorf("family %s: bad name or no help", name)
		}
	}
}

func TestMetricsPerSecretOptIn(t *testing.T) {
	m, _, _ := runScript(t, true)
	fams, _ := scrape(t, m.MetricsHandler())
	if got := value(t, fams, "secretcache_secret_age_seconds", "secret", "app/a", "stage", "AWSCURRENT"); got != 61 {
		t.Errorf("age of a = %v, want 61", got)
	}
	if got := value(t, fams, "secretcache_secret_age_seconds", "secret", "app/b", "stage", "AWSCURRENT"); got != 0 {
		t.Errorf("age of b = %v, want 0", got)
	}
	if got := value(t, fams, "secretcache_secret_stale", "secret", "app/a"); got != 1 {
		t.Errorf("a stale = %v, want 1", got)
	}
	if got := value(t, fams, "secretcache_secret_refresh_failures", "secret", "app/a"); got != 1 {
		t.Errorf("a failures = %v, want 1", got)
	}
	if got := value(t, fams, "secretcache_secret_stale", "secret", "app/b"); got != 0 {
		t.Errorf("b stale = %v, want 0", got)
	}
	if n := len(fams["secretcache_secret_age_seconds"].GetMetric()); n != 2 {
		t.Errorf("%d per-secret age series, want 2 (cached failures excluded)", n)
	}
}

func TestCollectorRegistersWithUserRegistry(t *testing.T) {
	clk := newClock()
	c := newCache(t, newScripted(map[string]string{"x": "1"}), clk)
	m := monitor.New(c, monitor.WithClock(clk), monitor.WithNamespace("myapp"),
		monitor.WithConstLabels(map[string]string{"cache": "payments"}))
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m.Collector()); err != nil {
		t.Fatal(err)
	}
	if m.Collector() != m.Collector() {
		t.Error("Collector returns different collectors")
	}
	m.ObserveCall("GetSecretValue", "eu-west-1", time.Millisecond, nil)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		for _, mm := range f.GetMetric() {
			ok := false
			for _, l := range mm.GetLabel() {
				ok = ok || (l.GetName() == "cache" && l.GetValue() == "payments")
			}
			if !ok {
				t.Errorf("%s lacks the constant label", f.GetName())
			}
		}
	}
	for _, n := range []string{"myapp_reads_total", "myapp_backend_call_duration_seconds", "myapp_entries"} {
		if !names[n] {
			t.Errorf("missing %s in %v", n, names)
		}
	}
	// Registering twice is refused by the registry, not a panic.
	if err := reg.Register(m.Collector()); err == nil {
		t.Error("second registration accepted")
	}
}

func TestObserveCallHostileLabels(t *testing.T) {
	m := monitor.New(nil)
	m.ObserveCall("", "", -time.Second, nil)
	m.ObserveCall("Get\nSecret\x00Value\xff", strings.Repeat("r", 10000), time.Millisecond, errors.New("boom"))
	for i := range 1000 { // far more pairs than the cap
		m.ObserveCall("op", "region-"+string(rune('a'+i%26))+strings.Repeat("x", i%50), time.Millisecond, nil)
	}
	var nilM *monitor.Monitor
	nilM.ObserveCall("GetSecretValue", "us-east-1", time.Second, nil) // no panic
	fams, body := scrape(t, m.MetricsHandler())
	if _, ok := sample(fams, "secretcache_backend_call_duration_seconds", "operation", "unknown", "region", "unknown"); !ok {
		t.Error("empty labels not recorded as unknown")
	}
	if _, ok := sample(fams, "secretcache_backend_call_duration_seconds", "operation", "GetSecretValue", "outcome", "unavailable"); !ok {
		t.Errorf("control characters not stripped:\n%s", body)
	}
	series := len(fams["secretcache_backend_call_duration_seconds"].GetMetric())
	if series > 260 {
		t.Errorf("%d latency series: cardinality not capped", series)
	}
	if _, ok := sample(fams, "secretcache_backend_call_duration_seconds", "operation", "other", "region", "other"); !ok {
		t.Error("pairs beyond the cap not folded into other")
	}
	for _, mm := range fams["secretcache_backend_call_duration_seconds"].GetMetric() {
		for _, l := range mm.GetLabel() {
			if len(l.GetValue()) > 128 {
				t.Errorf("label %s is %d bytes", l.GetName(), len(l.GetValue()))
			}
		}
	}
	// With no cache only the histogram and build info are exported.
	if _, ok := fams["secretcache_reads_total"]; ok {
		t.Error("reads exported without a cache")
	}
}

func TestMetricsHandlerMethods(t *testing.T) {
	m := monitor.New(nil)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, "BREW"} {
		code, _, h := get(m.MetricsHandler(), method, "/metrics")
		if code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d %q", method, code, h.Get("Allow"))
		}
	}
	if code, _, _ := get(m.MetricsHandler(), http.MethodHead, "/metrics"); code != http.StatusOK {
		t.Errorf("HEAD: %d", code)
	}
}
