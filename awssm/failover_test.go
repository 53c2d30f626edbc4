package awssm_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// Network failures, timeouts and resets are ErrUnavailable, retried by the
// SDK, and fail over.
func TestNetworkFailuresFailOver(t *testing.T) {
	for _, f := range []struct {
		name  string
		fault smtest.Fault
	}{
		{"blackhole", smtest.Fault{Blackhole: true}},
		{"reset", smtest.Fault{Reset: true}},
		{"slow", smtest.Fault{Latency: 2 * tAttempt}},
		{"throttled", smtest.Fault{RatePerSecond: 0.001}},
		{"500", smtest.Fault{ErrorCode: "InternalServiceError"}},
	} {
		t.Run(f.name, func(t *testing.T) {
			srv := newServer(t)
			arn := replicated(t, srv, "db", "pw")
			// Let the rate-limited fault spend its one token first.
			srv.SetFault(primary, "", f.fault)
			src := newSource(t, srv, awssm.WithBreaker(100, time.Minute))
			one := newSource(t, srv, awssm.WithRegions(primary), awssm.WithBreaker(100, time.Minute))
			if f.fault.RatePerSecond > 0 {
				one.Fetch(bg, secretcache.Ref{ID: "db"})
			}
			_, err := one.Fetch(bg, secretcache.Ref{ID: "db"})
			if !secretcache.IsTransient(err) {
				t.Fatalf("single region: %v is not transient", err)
			}
			for _, id := range []string{"db", arn} {
				s, err := src.Fetch(bg, secretcache.Ref{ID: id})
				if err != nil {
					t.Fatalf("%s: error reached the caller with a healthy replica: %v", id, err)
				}
				if s.String != "pw" || s.ARN != arn && id == arn {
					t.Fatalf("%s: got %+v", id, s)
				}
			}
			if srv.Calls(primary, "GetSecretValue") < 2 {
				t.Fatalf("primary not retried: %d calls", srv.Calls(primary, "GetSecretValue"))
			}
		})
	}
}

func TestRetryWithinRegion(t *testing.T) {
	srv := newServer(t)
	replicated(t, srv, "db", "pw")
	srv.SetFault(primary, "GetSecretValue", smtest.Fault{ErrorCode: "InternalServiceError", Count: 1})
	src := newSource(t, srv)
	if _, err := src.Fetch(bg, secretcache.Ref{ID: "db"}); err != nil {
		t.Fatal(err)
	}
	if p, r := srv.Calls(primary, ""), srv.Calls(replica, ""); p != 2 || r != 0 {
		t.Fatalf("calls primary=%d replica=%d, want 2 and 0", p, r)
	}
	if b := breaker(src, primary); b.Failures != 0 || b.State != "closed" {
		t.Fatalf("breaker %+v", b)
	}
}

// Adaptive mode retries too, and after a throttling error its client-side
// rate limiter holds the retry back (the standard mode waits a few ms).
func TestAdaptiveRetry(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "db", "pw")
	srv.SetFault(primary, "GetSecretValue", smtest.Fault{ErrorCode: "ThrottlingException", Count: 1})
	src := newSource(t, srv, awssm.WithRegions(primary), awssm.WithAdaptiveRetry())
	start := time.Now()
	if _, err := src.Fetch(bg, secretcache.Ref{ID: "db"}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls(primary, ""); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("retry after throttling came after %v: no client-side rate limiting", d)
	}
}

// The breaker opens after the configured failures; from then on no request
// waits on the dead region, none reaches it, and no error reaches the
// caller; after the open period the region is probed in the background and
// the breaker closes once it answers.
func TestBreakerOpensSkipsAndRecovers(t *testing.T) {
	srv := newServer(t)
	arn := replicated(t, srv, "db", "pw")
	src := newSource(t, srv)
	srv.SetFault(primary, "", smtest.Fault{Blackhole: true})

	for i := 0; i < tFails; i++ {
		start := time.Now()
		s, err := src.Fetch(bg, secretcache.Ref{ID: "db"})
		if err != nil || s.String != "pw" {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if d := time.Since(start); d < 2*tAttempt {
			t.Fatalf("fetch %d took %v: did not wait for the primary", i, d)
		}
	}
	b := breaker(src, primary)
	if b.State != "open" || b.LastErrorKind != "unavailable" || b.Failures != tFails || !b.Primary {
		t.Fatalf("primary breaker %+v", b)
	}
	if r := breaker(src, replica); r.State != "closed" || r.Primary {
		t.Fatalf("replica breaker %+v", r)
	}
	openedAt := b.Since

	// Open: the primary is skipped at once.
	before := srv.Calls(primary, "")
	for i := 0; i < 20; i++ {
		start := time.Now()
		s, err := src.Fetch(bg, secretcache.Ref{ID: arn})
		if err != nil || s.String != "pw" || s.ARN != arn {
			t.Fatalf("fetch while open: %v %+v", err, s)
		}
		if d := time.Since(start); d > tAttempt/2 {
			t.Fatalf("fetch while open took %v: waited on the dead region", d)
		}
	}
	if n := srv.Calls(primary, ""); n != before {
		t.Fatalf("%d calls reached the dead primary while its breaker was open", n-before)
	}

	// Half-open while still dead: callers are served by the replica without
	// waiting; the probe runs in the background and fails; the breaker opens
	// again.
	time.Sleep(tOpenFor + 50*time.Millisecond)
	if st := breaker(src, primary).State; st != "half-open" {
		t.Fatalf("state after open period: %s", st)
	}
	for i := 0; i < 5; i++ {
		start := time.Now()
		if _, err := src.Fetch(bg, secretcache.Ref{ID: "db"}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > tAttempt/2 {
			t.Fatalf("fetch while half-open took %v", d)
		}
	}
	eventually(t, "failed probe to reopen the breaker", func() bool {
		b := breaker(src, primary)
		return b.State == "open" && b.Since.After(openedAt)
	})

	// The region recovers: the next probe closes the breaker and traffic
	// returns to the primary.
	srv.ClearFaults()
	time.Sleep(tOpenFor + 50*time.Millisecond)
	if _, err := src.Fetch(bg, secretcache.Ref{ID: "db"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "breaker to close", func() bool { return breaker(src, primary).State == "closed" })
	srv.ResetCalls()
	if _, err := src.Fetch(bg, secretcache.Ref{ID: "db"}); err != nil {
		t.Fatal(err)
	}
	if p, r := srv.Calls(primary, ""), srv.Calls(replica, ""); p != 1 || r != 0 {
		t.Fatalf("after recovery: primary=%d replica=%d calls", p, r)
	}
	if b := breaker(src, primary); b.Failures != 0 {
		t.Fatalf("failures not reset: %+v", b)
	}
}

// With every region down the caller gets ErrUnavailable; once all breakers
// are open it gets it at once.
func TestAllRegionsDown(t *testing.T) {
	srv := newServer(t)
	replicated(t, srv, "db", "pw")
	srv.SetFault("", "", smtest.Fault{ErrorCode: "InternalServiceError"})
	src := newSource(t, srv, awssm.WithBreaker(1, time.Minute))
	_, err := src.Fetch(bg, secretcache.Ref{ID: "db"})
	mustKind(t, err, secretcache.ErrUnavailable)
	if apiCode(err) != "InternalServiceError" {
		t.Fatalf("code %q", apiCode(err))
	}
	srv.ResetCalls()
	_, err = src.Fetch(bg, secretcache.Ref{ID: "db"})
	mustKind(t, err, secretcache.ErrUnavailable)
	if !strings.Contains(err.Error(), "circuit breaker open") || srv.Calls("", "") != 0 {
		t.Fatalf("%v after %d calls", err, srv.Calls("", ""))
	}
}

// Permanent errors are successes for the breaker: a flood of not-found does
// not open it.
func TestPermanentErrorsDoNotTripBreaker(t *testing.T) {
	srv := newServer(t)
	src := newSource(t, srv)
	for i := 0; i < 10; i++ {
		_, err := src.Fetch(bg, secretcache.Ref{ID: "missing"})
		mustKind(t, err, secretcache.ErrNotFound)
	}
	if b := breaker(src, primary); b.State != "closed" || b.Failures != 0 {
		t.Fatalf("breaker %+v", b)
	}
	if n := srv.Calls(replica, ""); n != 0 {
		t.Fatalf("not-found failed over: %d replica calls", n)
	}
}

// A caller that gives up is not the region's fault.
func TestCallerCancelIsNotABreakerFailure(t *testing.T) {
	srv := newServer(t)
	replicated(t, srv, "db", "pw")
	srv.SetFault(primary, "", smtest.Fault{Blackhole: true})
	src := newSource(t, srv, awssm.WithBreaker(1, time.Minute), awssm.WithAttemptTimeout(5*time.Second))
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	_, err := src.Fetch(ctx, secretcache.Ref{ID: "db"})
	mustKind(t, err, secretcache.ErrUnavailable)
	if b := breaker(src, primary); b.State != "closed" || b.Failures != 0 {
		t.Fatalf("breaker %+v", b)
	}
	if n := srv.Calls(replica, ""); n != 0 {
		t.Fatalf("failed over after the caller gave up: %d", n)
	}
}

func TestOverallTimeout(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "db", "pw")
	srv.SetFault(primary, "", smtest.Fault{Blackhole: true})
	src := newSource(t, srv, awssm.WithRegions(primary), awssm.WithAttemptTimeout(10*time.Second),
		awssm.WithTimeout(100*time.Millisecond))
	start := time.Now()
	_, err := src.Fetch(bg, secretcache.Ref{ID: "db"})
	mustKind(t, err, secretcache.ErrUnavailable)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
	var ne net.Error
	if !errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cause not a timeout: %v", err)
	}
}

// Through the cache: readers see no error while the primary region cycles
// through throttling, 500s, resets and a blackhole, since the replica is
// healthy.
func TestCacheReadersSeeNoErrorDuringFailover(t *testing.T) {
	srv := newServer(t)
	var ids []string
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("svc/%d", i)
		replicated(t, srv, id, "v"+id)
		ids = append(ids, id)
	}
	src := newSource(t, srv)
	c, err := secretcache.New(src, secretcache.WithTTL(200*time.Millisecond), secretcache.WithClock(wallClock{}),
		secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for n := g; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[n%len(ids)]
				v, err := c.GetString(bg, id)
				if err != nil || v != "v"+id {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %q %v", id, v, err))
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	for _, f := range []smtest.Fault{{ErrorCode: "ThrottlingException"}, {ErrorCode: "InternalServiceError"},
		{Reset: true}, {Blackhole: true}, {Latency: time.Second}} {
		srv.SetFault(primary, "", f)
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d reads failed, first: %v", len(errs), errs[0])
	}
	if st := c.Stats(); st.Reads() == 0 || srv.Calls(replica, "") == 0 {
		t.Fatalf("no failover happened: %+v", st)
	}
}
