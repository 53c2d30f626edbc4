package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

func TestHealthRules(t *testing.T) {
	ctx := context.Background()
	unavailable := secretcache.NewError(secretcache.ErrUnavailable, "x", nil)
	notFound := secretcache.NewError(secretcache.ErrNotFound, "x", nil)
	denied := secretcache.NewError(secretcache.ErrAccessDenied, "x", nil)
	cases := []struct {
		name     string
		setup    func(m *monitor.Monitor, src *scripted, c *secretcache.Cache)
		want     string
		reason   string
		opts     []monitor.Option
		breakers []secretcache.BreakerState
	}{
		{name: "idle", want: monitor.StatusHealthy},
		{name: "all calls ok", want: monitor.StatusHealthy, setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 20, 0, nil)
		}},
		{name: "few failures below MinCalls", want: monitor.StatusHealthy, setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 0, 4, unavailable)
		}},
		{name: "success rate 90%", want: monitor.StatusDegraded, reason: "below 95.0%", setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 18, 2, unavailable)
		}},
		{name: "success rate exactly 95%", want: monitor.StatusHealthy, setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 19, 1, unavailable)
		}},
		{name: "success rate 40%", want: monitor.StatusUnhealthy, reason: "below 50.0%", setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 4, 6, unavailable)
		}},
		{name: "not found is not a failure", want: monitor.StatusHealthy, setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 1, 10, notFound)
		}},
		{name: "access denied is a failure", want: monitor.StatusUnhealthy, setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
			calls(m, 1, 10, denied)
		}},
		{name: "custom thresholds", want: monitor.StatusHealthy,
			opts:  []monitor.Option{monitor.WithThresholds(monitor.Thresholds{MinSuccessRate: 0.5, UnhealthySuccessRate: -1})},
			setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) { calls(m, 6, 4, unavailable) }},
		{name: "slow p99", want: monitor.StatusDegraded, reason: "p99 latency",
			opts: []monitor.Option{monitor.WithThresholds(monitor.Thresholds{MaxLatencyP99: 100 * time.Millisecond})},
			setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
				calls(m, 98, 0, nil)
				m.ObserveCall("GetSecretValue", "us-east-1", time.Second, nil)
				m.ObserveCall("GetSecretValue", "us-east-1", time.Second, nil)
			}},
		{name: "primary open", want: monitor.StatusUnhealthy, reason: "primary region us-east-1 is open",
			breakers: []secretcache.BreakerState{{Name: "us-east-1", Primary: true, State: "open"}, {Name: "us-west-2", State: "closed"}}},
		{name: "primary half-open", want: monitor.StatusDegraded, reason: "half-open",
			breakers: []secretcache.BreakerState{{Name: "us-east-1", Primary: true, State: "half-open"}}},
		{name: "replica open", want: monitor.StatusDegraded, reason: "region us-west-2 is open",
			breakers: []secretcache.BreakerState{{Name: "us-east-1", Primary: true, State: "closed"}, {Name: "us-west-2", State: "open"}}},
		{name: "primary by WithRegion", want: monitor.StatusUnhealthy, reason: "primary region eu-west-1",
			opts:     []monitor.Option{monitor.WithRegion("eu-west-1")},
			breakers: []secretcache.BreakerState{{Name: "us-east-1", State: "closed"}, {Name: "eu-west-1", State: "open"}}},
		{name: "unknown breaker state", want: monitor.StatusDegraded, reason: "unknown state",
			breakers: []secretcache.BreakerState{{Name: "us-east-1", Primary: true, State: "melted\n"}}},
		{name: "low hit rate once warmed", want: monitor.StatusDegraded, reason: "hit rate",
			setup: func(_ *monitor.Monitor, src *scripted, c *secretcache.Cache) {
				for i := range 100 { // 100 distinct secrets, each read once: 0% hits
					id := "s" + string(rune('a'+i%26)) + string(rune('a'+i/26))
					src.set(func(s *scripted) { s.values[id] = "v" })
					_, _ = c.GetString(ctx, id)
				}
			}},
		{name: "low hit rate not yet warmed", want: monitor.StatusHealthy,
			setup: func(_ *monitor.Monitor, src *scripted, c *secretcache.Cache) {
				for i := range 99 {
					id := "s" + string(rune('a'+i%26)) + string(rune('a'+i/26))
					src.set(func(s *scripted) { s.values[id] = "v" })
					_, _ = c.GetString(ctx, id)
				}
			}},
		{name: "good hit rate", want: monitor.StatusHealthy,
			setup: func(_ *monitor.Monitor, src *scripted, c *secretcache.Cache) {
				src.set(func(s *scripted) { s.values["one"] = "v" })
				for range 200 {
					_, _ = c.GetString(ctx, "one")
				}
			}},
		{name: "component degraded", want: monitor.StatusDegraded, reason: "component db is degraded",
			setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
				m.RegisterComponent("db", func(context.Context) monitor.ComponentHealth {
					return monitor.ComponentHealth{Status: "Degraded", Message: "1 of 3 pools rotating"}
				})
			}},
		{name: "component unhealthy", want: monitor.StatusUnhealthy, reason: "component db is unhealthy",
			setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
				m.RegisterComponent("db", func(context.Context) monitor.ComponentHealth {
					return monitor.ComponentHealth{Status: monitor.StatusUnhealthy}
				})
			}},
		{name: "component unknown status", want: monitor.StatusDegraded, reason: "unknown status",
			setup: func(m *monitor.Monitor, _ *scripted, _ *secretcache.Cache) {
				m.RegisterComponent("db", func(context.Context) monitor.ComponentHealth {
					return monitor.ComponentHealth{Status: "great"}
				})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			src := newScripted(map[string]string{})
			src.breakers = tc.breakers
			c := newCache(t, src, clk)
			m := monitor.New(c, append([]monitor.Option{monitor.WithClock(clk)}, tc.opts...)...)
			if tc.setup != nil {
				tc.setup(m, src, c)
			}
			h := m.Health(ctx)
			if h.Status != tc.want {
				t.Fatalf("status %s, want %s; reasons %v", h.Status, tc.want, h.Reasons)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(h.Reasons, "; "), tc.reason) {
				t.Fatalf("reasons %v lack %q", h.Reasons, tc.reason)
			}
			if tc.want == monitor.StatusHealthy && len(h.Reasons) != 0 {
				t.Fatalf("healthy with reasons %v", h.Reasons)
			}
		})
	}
}

// calls reports ok successful and bad failed backend calls.
func calls(m *monitor.Monitor, ok, bad int, err error) {
	for range ok {
		m.ObserveCall("GetSecretValue", "us-east-1", 10*time.Millisecond, nil)
	}
	for range bad {
		m.ObserveCall("GetSecretValue", "us-east-1", 10*time.Millisecond, err)
	}
}

func TestHealthWindowSlides(t *testing.T) {
	clk := newClock()
	m := monitor.New(newCache(t, newScripted(nil), clk), monitor.WithClock(clk), monitor.WithWindow(time.Minute, 100))
	calls(m, 0, 10, errors.New("network down"))
	if s := m.Health(context.Background()).Status; s != monitor.StatusUnhealthy {
		t.Fatalf("with failures: %s", s)
	}
	clk.Advance(30 * time.Second)
	calls(m, 10, 0, nil)
	if h := m.Health(context.Background()); h.Status != monitor.StatusDegraded || h.Perf.SuccessRatePercent != 50 {
		t.Fatalf("half the window failed: %s %+v", h.Status, h.Perf)
	}
	clk.Advance(31 * time.Second) // the failures leave the window
	if h := m.Health(context.Background()); h.Status != monitor.StatusHealthy || h.Perf.Calls != 10 {
		t.Fatalf("after the window: %s %+v", h.Status, h.Perf)
	}
	// The sample ring is bounded: 500 failures then 100 successes -> only the successes remain.
	calls(m, 0, 500, errors.New("x"))
	calls(m, 100, 0, nil)
	if h := m.Health(context.Background()); h.Perf.Calls != 100 || h.Perf.Failures != 0 {
		t.Fatalf("ring not bounded: %+v", h.Perf)
	}
}

func TestHealthPercentiles(t *testing.T) {
	m := monitor.New(nil)
	for i := 1; i <= 100; i++ {
		m.ObserveCall("GetSecretValue", "us-east-1", time.Duration(i)*time.Millisecond, nil)
	}
	p := m.Health(context.Background()).Perf
	if p.LatencyMs.P50 != 50 || p.LatencyMs.P95 != 95 || p.LatencyMs.P99 != 99 {
		t.Fatalf("percentiles %+v", p.LatencyMs)
	}
}

// Without ObserveCall the success rate comes from the cache's counters.
func TestHealthFromCacheCounters(t *testing.T) {
	clk := newClock()
	src := newScripted(map[string]string{"a": "1"})
	c := newCache(t, src, clk)
	m := monitor.New(c, monitor.WithClock(clk), monitor.WithWindow(time.Minute, 64))
	ctx := context.Background()
	for range 5 {
		if _, err := c.Refresh(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	h := m.Health(ctx)
	if h.Status != monitor.StatusHealthy || h.Perf.Source != "cache" || h.Perf.Calls != 5 {
		t.Fatalf("healthy: %s %+v", h.Status, h.Perf)
	}
	src.set(func(s *scripted) { s.failAll = secretcache.NewError(secretcache.ErrUnavailable, "a", nil) })
	for range 10 {
		_, _ = c.Refresh(ctx, "a")
	}
	if h := m.Health(ctx); h.Status != monitor.StatusUnhealthy || h.Perf.Failures != 10 {
		t.Fatalf("failing: %s %+v", h.Status, h.Perf)
	}
	src.set(func(s *scripted) { s.failAll = nil })
	clk.Advance(2 * time.Minute)
	m.Health(ctx) // a reading at the start of the new window
	for range 5 {
		_, _ = c.Refresh(ctx, "a")
	}
	if h := m.Health(ctx); h.Status != monitor.StatusHealthy || h.Perf.Failures != 0 || h.Perf.Calls != 5 {
		t.Fatalf("recovered: %s %+v", h.Status, h.Perf)
	}
}

func TestHealthNoCache(t *testing.T) {
	m := monitor.New(nil)
	h := m.Health(nilCtx)
	if h.Status != monitor.StatusUnhealthy || h.Region != "unknown" {
		t.Fatalf("%+v", h)
	}
	var nilM *monitor.Monitor
	if nilM.Health(context.Background()).Status != monitor.StatusUnhealthy {
		t.Fatal("nil monitor healthy")
	}
	code, _, _ := get(m.HealthHandler(), http.MethodGet, "/health/secrets")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("code %d", code)
	}
}

func TestComponents(t *testing.T) {
	clk := newClock()
	c := newCache(t, newScripted(nil), clk)
	m := monitor.New(c, monitor.WithClock(clk), monitor.WithCheckTimeout(50*time.Millisecond), quiet)
	ctx := context.Background()
	m.RegisterComponent("ok", func(context.Context) monitor.ComponentHealth {
		return monitor.ComponentHealth{Status: "healthy", Message: "line1\nline2\x1b[31m", Details: map[string]any{"pools": 3}}
	})
	m.RegisterComponent("panics", func(context.Context) monitor.ComponentHealth { panic("secret-in-panic") })
	m.RegisterComponent("slow", func(ctx context.Context) monitor.ComponentHealth {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond)
		return monitor.ComponentHealth{Status: "healthy"}
	})
	m.RegisterComponent("weird", func(context.Context) monitor.ComponentHealth {
		return monitor.ComponentHealth{Status: "healthy", Details: map[string]any{"ch": make(chan int), "f": math.NaN()}}
	})
	m.RegisterComponent("huge", func(context.Context) monitor.ComponentHealth {
		return monitor.ComponentHealth{Status: "healthy", Details: map[string]any{"blob": strings.Repeat("x", 100000)}}
	})
	m.RegisterComponent("", func(context.Context) monitor.ComponentHealth { return monitor.ComponentHealth{} })
	m.RegisterComponent("bad\nname", func(context.Context) monitor.ComponentHealth { return monitor.ComponentHealth{} })
	m.RegisterComponent(strings.Repeat("n", 200), func(context.Context) monitor.ComponentHealth { return monitor.ComponentHealth{} })
	m.RegisterComponent("removed", func(context.Context) monitor.ComponentHealth { return monitor.ComponentHealth{} })
	m.RegisterComponent("removed", nil)

	h := m.Health(ctx)
	if h.Status != monitor.StatusUnhealthy {
		t.Fatalf("status %s", h.Status)
	}
	if len(h.Components) != 5 {
		t.Fatalf("components %v", h.Components)
	}
	if ok := h.Components["ok"]; ok.Status != "healthy" || strings.ContainsAny(ok.Message, "\n\x1b") || ok.Details["pools"] != float64(3) {
		t.Errorf("ok: %+v", ok)
	}
	if p := h.Components["panics"]; p.Status != "unhealthy" || p.Message != "check panicked" {
		t.Errorf("panics: %+v", p)
	}
	if s := h.Components["slow"]; s.Status != "unhealthy" || s.Message != "check timed out" {
		t.Errorf("slow: %+v", s)
	}
	if w := h.Components["weird"]; w.Details["error"] == nil {
		t.Errorf("weird: %+v", w)
	}
	if w := h.Components["huge"]; w.Details["error"] == nil {
		t.Errorf("huge: %+v", w)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("health not encodable: %v", err)
	}
	if strings.Contains(string(b), "secret-in-panic") {
		t.Error("panic value leaked")
	}
	// A cancelled request context ends the checks at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if h := m.Health(cctx); h.Components["slow"].Status != "unhealthy" {
		t.Error("cancelled context")
	}
}

func TestHealthHandler(t *testing.T) {
	clk := newClock()
	src := newScripted(nil)
	c := newCache(t, src, clk)
	for _, tc := range []struct {
		breaker  string
		opts     []monitor.Option
		wantCode int
	}{
		{"closed", nil, 200},
		{"half-open", nil, 503},
		{"half-open", []monitor.Option{monitor.WithDegradedStatusCode(200)}, 200},
		{"half-open", []monitor.Option{monitor.WithDegradedStatusCode(42)}, 503}, // invalid, ignored
		{"open", []monitor.Option{monitor.WithDegradedStatusCode(200)}, 503},
	} {
		src.set(func(s *scripted) {
			s.breakers = []secretcache.BreakerState{{Name: "us-east-1", Primary: true, State: tc.breaker}}
		})
		m := monitor.New(c, append([]monitor.Option{monitor.WithClock(clk), quiet}, tc.opts...)...)
		code, body, hdr := get(m.HealthHandler(), http.MethodGet, "/health/secrets?verbose=1&x=%00")
		if code != tc.wantCode {
			t.Errorf("%s %d: got %d", tc.breaker, len(tc.opts), code)
		}
		var hs monitor.HealthStatus
		if err := json.Unmarshal([]byte(body), &hs); err != nil {
			t.Fatalf("body: %v\n%s", err, body)
		}
		if hdr.Get("Content-Type") != "application/json; charset=utf-8" || hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", hdr)
		}
		hcode, hbody, _ := get(m.HealthHandler(), http.MethodHead, "/health/secrets")
		if hcode != code || hbody != "" {
			t.Errorf("HEAD: %d %q", hcode, hbody)
		}
		if pc, _, ph := get(m.HealthHandler(), http.MethodPost, "/health/secrets"); pc != 405 || ph.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST: %d", pc)
		}
	}
}
