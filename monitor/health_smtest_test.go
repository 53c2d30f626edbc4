package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/monitor"
	"github.com/secretcache/secretcache/smtest"
)

// TestHealthFollowsSMTestFaults runs the real AWS SDK against smtest over
// HTTP: health is healthy, turns unhealthy while every call fails (the
// success rate collapses and the primary breaker opens), and is healthy again
// once the faults are removed, the breaker has closed and the failures have
// left the window. The handler's status code follows.
func TestHealthFollowsSMTestFaults(t *testing.T) {
	// With a breaker that trips after 3 failures the open primary breaker
	// makes it unhealthy; with one that never trips, the success rate does.
	t.Run("breaker", func(t *testing.T) { healthFollowsFaults(t, 3) })
	t.Run("success-rate", func(t *testing.T) { healthFollowsFaults(t, 1000) })
}

func healthFollowsFaults(t *testing.T, breakerFails int) {
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = fmt.Sprintf("prod/svc/secret-%d", i)
		if _, err := srv.CreateSecret("us-east-1", ids[i], fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	mclk := newClock() // the monitor's window clock; the source and cache run on real time
	m := monitor.New(nil, monitor.WithClock(mclk), monitor.WithWindow(time.Minute, 256))
	src, err := awssm.New(srv.AWSConfig("us-east-1"),
		awssm.WithCallObserver(m.ObserveCall),
		awssm.WithMaxAttempts(1),
		awssm.WithAttemptTimeout(time.Second),
		awssm.WithTimeout(2*time.Second),
		awssm.WithBreaker(breakerFails, 300*time.Millisecond),
		awssm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(src, secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	m.SetCache(c)
	h := m.HealthHandler()
	ctx := context.Background()

	check := func(phase, want string, wantCode int) monitor.HealthStatus {
		t.Helper()
		hs := m.Health(ctx)
		if hs.Status != want {
			b, _ := json.MarshalIndent(hs, "", "  ")
			t.Fatalf("%s: status %s, want %s\n%s", phase, hs.Status, want, b)
		}
		code, body, _ := get(h, http.MethodGet, "/health/secrets")
		if code != wantCode || !strings.Contains(body, `"status": "`+want+`"`) {
			t.Fatalf("%s: handler answered %d, want %d\n%s", phase, code, wantCode, body)
		}
		return hs
	}

	// Healthy: every read needs one call, all succeed.
	if err := c.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := c.Refresh(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	hs := check("before faults", monitor.StatusHealthy, http.StatusOK)
	if hs.Perf.Source != "observer" || hs.Perf.Calls < 6 || hs.Perf.SuccessRatePercent != 100 || hs.Perf.LatencyMs.P99 <= 0 {
		t.Fatalf("performance before faults: %+v", hs.Perf)
	}
	if len(hs.Breakers) != 1 || hs.Breakers[0].Name != "us-east-1" || !hs.Breakers[0].Primary || hs.Breakers[0].State != "closed" {
		t.Fatalf("breakers: %+v", hs.Breakers)
	}
	if hs.Region != "us-east-1" {
		t.Fatalf("region %q", hs.Region)
	}

	// Faults: the backend answers 500 to everything.
	srv.SetFault("", "", smtest.Fault{ErrorCode: "InternalServiceError"})
	for i := range 10 {
		if _, err := c.Refresh(ctx, ids[i%len(ids)]); err == nil {
			t.Fatal("refresh succeeded during the fault")
		}
	}
	for _, id := range ids { // readers still get their cached values
		if _, err := c.GetString(ctx, id); err != nil {
			t.Fatalf("cached read during the fault: %v", err)
		}
	}
	hs = check("during faults", monitor.StatusUnhealthy, http.StatusServiceUnavailable)
	if hs.Perf.Status == monitor.StatusHealthy || hs.Perf.Failures < 3 {
		t.Fatalf("performance during faults: %+v", hs.Perf)
	}
	joined := strings.Join(hs.Reasons, "; ")
	wantState, wantGauge := "open", 2.0
	if breakerFails > 10 {
		wantState, wantGauge = "closed", 0
		if hs.Perf.Status != monitor.StatusUnhealthy || hs.Perf.Failures != 10 {
			t.Fatalf("performance during faults: %+v", hs.Perf)
		}
	} else if !strings.Contains(joined, "primary region us-east-1 is open") {
		t.Fatalf("reasons: %v", hs.Reasons)
	}
	if hs.Breakers[0].State != wantState || !strings.Contains(joined, "success rate") {
		t.Fatalf("breaker during faults: %+v; reasons %v", hs.Breakers[0], hs.Reasons)
	}
	// The metrics show it too.
	fams, _ := scrape(t, m.MetricsHandler())
	if v := value(t, fams, "secretcache_breaker_state", "region", "us-east-1"); v != wantGauge {
		t.Fatalf("breaker_state = %v, want %v", v, wantGauge)
	}
	if v := value(t, fams, "secretcache_backend_errors_total", "kind", "unavailable"); v < 3 {
		t.Fatalf("unavailable errors = %v", v)
	}

	// Recovery: clear the faults, let the breaker's probe through, and let the
	// failures age out of the window.
	srv.ClearFaults()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Refresh(ctx, ids[0]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the source did not recover")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mclk.Advance(2 * time.Minute)
	for _, id := range ids {
		if _, err := c.Refresh(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	hs = check("after faults", monitor.StatusHealthy, http.StatusOK)
	if hs.Perf.Failures != 0 || hs.Breakers[0].State != "closed" {
		t.Fatalf("after faults: %+v %+v", hs.Perf, hs.Breakers)
	}
}
