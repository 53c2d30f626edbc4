package monitor_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

// Invalid options never make New fail or panic: each is logged and its
// default kept.
func TestInvalidOptionsKeepDefaults(t *testing.T) {
	var logs syncBuffer
	m := monitor.New(nil, nil,
		monitor.WithLogger(captureLogger(&logs)),
		monitor.WithLogger(nil),
		monitor.WithNamespace("bad-namespace!"),
		monitor.WithNamespace(strings.Repeat("a", 100)),
		monitor.WithConstLabels(map[string]string{"__reserved": "x", "outcome": "x", "bad-name": "x", "ok": "v\n\xff"}),
		monitor.WithClock(nil),
		monitor.WithWindow(-time.Second, 0),
		monitor.WithBuckets(0.1, 0.05),
		monitor.WithBuckets(math.NaN()),
		monitor.WithBuckets(),
		monitor.WithAPIPrice(-1),
		monitor.WithAPIPrice(math.Inf(1)),
		monitor.WithCheckTimeout(0),
		monitor.WithDegradedStatusCode(99),
		monitor.WithThresholds(monitor.Thresholds{MinSuccessRate: 2, MinHitRate: math.NaN(), MinCalls: -3}),
		monitor.WithRegion("us-east-1\n\x1b[31mFAKE LOG LINE"+strings.Repeat("x", 500)),
	)
	out := logs.String()
	for _, want := range []string{"invalid metric namespace", "reserved constant label name", "nil clock",
		"non-positive window", "non-positive sample count", "invalid histogram buckets", "invalid API price",
		"non-positive check timeout", "invalid degraded status code", "invalid threshold MinSuccessRate",
		"invalid threshold MinHitRate"} {
		if !strings.Contains(out, want) {
			t.Errorf("no warning %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") < 14 {
		t.Errorf("expected a warning per invalid option:\n%s", out)
	}
	// Defaults are in force.
	m.ObserveCall("GetSecretValue", "us-east-1", time.Millisecond, nil)
	fams, _ := scrape(t, m.MetricsHandler())
	if _, ok := fams["secretcache_backend_call_duration_seconds"]; !ok {
		t.Fatalf("default namespace not kept: %v", fams)
	}
	s, _ := sample(fams, "secretcache_backend_call_duration_seconds", "ok", "v")
	if s == nil || len(s.GetHistogram().GetBucket()) != 12 {
		t.Fatalf("constant label or default buckets missing: %v", s)
	}
	for _, l := range s.GetLabel() {
		if l.GetName() == "outcome" && l.GetValue() != "success" || l.GetName() == "__reserved" || l.GetName() == "bad-name" {
			t.Errorf("bad label %s=%s", l.GetName(), l.GetValue())
		}
	}
	h := m.Health(context.Background())
	if h.Region != "us-east-1[31mFAKE LOG LINE"+strings.Repeat("x", 128-len("us-east-1[31mFAKE LOG LINE")) {
		t.Errorf("region not cleaned: %q", h.Region)
	}
	if h.Perf.WindowSeconds != 300 {
		t.Errorf("window %v", h.Perf.WindowSeconds)
	}
	if d := monitor.DefaultThresholds(); d.MinSuccessRate != 0.95 || d.MinCalls != 5 {
		t.Errorf("defaults %+v", d)
	}
	if r := m.Report(); !strings.Contains(r, "at $0.05 per 10,000") {
		t.Errorf("default price not kept:\n%s", r)
	}
	// ReportContext with a nil context works.
	if r := m.ReportContext(nilCtx); !strings.Contains(r, "Status: UNHEALTHY") {
		t.Errorf("report: %s", r)
	}
}

func TestValidOptions(t *testing.T) {
	clk := newClock()
	c := newCache(t, newScripted(map[string]string{"a": "1"}), clk)
	m := monitor.New(c, monitor.WithClock(clk), monitor.WithNamespace(""), monitor.WithBuckets(0.001, 0.01),
		monitor.WithWindow(time.Second, 2))
	m.ObserveCall("GetSecretValue", "us-east-1", 5*time.Millisecond, nil)
	fams, _ := scrape(t, m.MetricsHandler())
	s, ok := sample(fams, "backend_call_duration_seconds")
	if !ok || len(s.GetHistogram().GetBucket()) != 3 { // +Inf included
		t.Fatalf("no-prefix namespace or buckets not applied: %v", fams)
	}
	if _, ok := fams["reads_total"]; !ok {
		t.Fatal("reads_total missing")
	}
	calls(m, 0, 3, secretcache.NewError(secretcache.ErrUnavailable, "a", nil)) // the ring keeps 2
	if p := m.Health(context.Background()).Perf; p.Calls != 2 || p.WindowSeconds != 1 {
		t.Fatalf("window options not applied: %+v", p)
	}
}
