package rotate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

func TestValidationFailureKeepsOld(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	rec := &recorder{}
	var logs bytes.Buffer
	var lmu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		lmu.Lock()
		defer lmu.Unlock()
		return logs.Write(p)
	}), nil))
	r, err := rotate.New(c, "db", rec.spec(), append(fast, rotate.WithLogger(logger))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	good := r.Get()

	src.set("db", "bad") // v2: the new password is wrong
	if _, err := c.Refresh(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "degraded", func() bool { return r.Health().Status == rotate.StatusDegraded })
	h := r.Health()
	if h.VersionID != "v1" || h.PendingVersionID != "v2" || h.LastErrorKind != "validation_failed" || h.NextRetry.IsZero() {
		t.Fatalf("%+v", h)
	}
	if r.Get() != good || good.closed.Load() {
		t.Fatal("old resource replaced or closed")
	}
	// It keeps retrying with backoff, and closes each rejected resource.
	v0 := rec.validates.Load()
	eventually(t, "retries", func() bool { return rec.validates.Load() >= v0+3 })
	eventually(t, "rejected closed", func() bool {
		for _, b := range rec.all() {
			if b.value == "bad" && !b.closed.Load() {
				return false
			}
		}
		return true
	})
	if err := r.ForceRotation(ctx); !errors.Is(err, rotate.ErrValidation) {
		t.Fatalf("force: %v", err)
	} else if strings.Contains(err.Error(), "bad") {
		t.Fatalf("value in error: %v", err)
	}

	src.set("db", "pw3") // fixed
	eventually(t, "recovery", func() bool { return r.Get().value == "pw3" })
	eventually(t, "healthy", func() bool { return r.Health().Status == rotate.StatusHealthy })
	if h := r.Health(); h.Failures != 0 || h.PendingVersionID != "" || h.VersionID != "v3" {
		t.Fatalf("%+v", h)
	}
	r.Close()
	lmu.Lock()
	defer lmu.Unlock()
	for _, v := range []string{"pw1", "pw3", "=bad"} {
		if strings.Contains(logs.String(), v) {
			t.Fatalf("log holds a value %q:\n%s", v, logs.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBuildFailureAndSecretFailure(t *testing.T) {
	src := newFakeSource()
	c := newCache(t, src)
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), fast...)
	err := r.Start(context.Background())
	var re *rotate.Error
	if !errors.Is(err, secretcache.ErrNotFound) || !errors.As(err, &re) || re.Op != "read" || re.SecretID != "db" {
		t.Fatalf("missing secret: %v", err)
	}
	src.set("db", "unbuildable")
	if _, err := c.Refresh(context.Background(), "db"); err != nil { // replaces the cached failure
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); !errors.Is(err, rotate.ErrBuild) {
		t.Fatalf("build: %v", err)
	}
	src.set("db", "bad")
	if _, err := c.Refresh(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); !errors.Is(err, rotate.ErrValidation) {
		t.Fatalf("validate: %v", err)
	}
	src.set("db", "ok")
	if _, err := c.Refresh(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A build failure of a new version degrades and keeps the old one.
	src.set("db", "unbuildable")
	if err := r.ForceRotation(context.Background()); !errors.Is(err, rotate.ErrBuild) {
		t.Fatal(err)
	}
	if h := r.Health(); h.Status != rotate.StatusDegraded || h.LastErrorKind != "build_failed" || r.Get().value != "ok" {
		t.Fatalf("%+v", h)
	}
	r.Close()
}

func TestReportFailure(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src, secretcache.WithTTL(time.Hour))
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), fast...)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src.set("db", "pw2") // the cache does not know yet (1 h TTL)
	r.ReportFailure(errors.New("password authentication failed"))
	eventually(t, "rotation after failure", func() bool { return r.Get().value == "pw2" })
	if h := r.Health(); h.UseFailures != 1 || h.Status != rotate.StatusHealthy {
		t.Fatalf("%+v", h)
	}

	// A failure without a new version re-validates the resource in use.
	v0 := rec.validates.Load()
	r.ReportFailure(nil)
	eventually(t, "revalidation", func() bool { return rec.validates.Load() > v0 })
	if h := r.Health(); h.Status != rotate.StatusHealthy {
		t.Fatalf("%+v", h)
	}
}

func TestReportFailureIsRateLimited(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src, secretcache.WithTTL(time.Hour))
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), rotate.WithFailureRefresh(time.Hour), rotate.WithLogger(quiet()), rotate.WithPollInterval(0))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	calls := src.calls.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				r.ReportFailure(nil)
			}
		})
	}
	wg.Wait()
	eventually(t, "one refresh", func() bool { return src.calls.Load() == calls+1 })
	time.Sleep(20 * time.Millisecond)
	if got := src.calls.Load() - calls; got != 1 {
		t.Fatalf("%d refreshes for 8000 failures", got)
	}
	if r.Health().UseFailures != 8000 {
		t.Fatal(r.Health())
	}
}

// A bad new version found by the poll is retried on the backoff's
// schedule, not at every poll: each attempt at a database is a refused
// login, and enough of them lock the account.
func TestPollDoesNotBypassBackoff(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src, secretcache.WithTTL(time.Hour))
	var mu sync.Mutex
	var attempts []time.Time
	spec := rotate.Spec[*resource]{
		Build: func(_ context.Context, s *secretcache.Secret) (*resource, error) {
			return &resource{version: s.VersionID, value: s.String}, nil
		},
		Validate: func(_ context.Context, r *resource) error {
			if r.value != "bad" {
				return nil
			}
			mu.Lock()
			attempts = append(attempts, time.Now())
			mu.Unlock()
			return errors.New("login failed")
		},
	}
	const base = 20 * time.Millisecond
	r, err := rotate.New(c, "db", spec, rotate.WithPollInterval(time.Millisecond), // a poll every 1 ms
		rotate.WithBackoff(base, time.Hour), rotate.WithLogger(quiet()), rotate.WithDrain(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src.set("db", "bad")
	if _, err := c.Refresh(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // about 400 polls
	mu.Lock()
	got := append([]time.Time(nil), attempts...)
	mu.Unlock()
	// 10-20, 20-40, 40-80, 80-160, 160-320 ms between attempts: at most 5
	// in 400 ms (6 if the clock is generous), never one per poll.
	if len(got) < 2 || len(got) > 6 {
		t.Fatalf("%d attempts of the bad version in 400 ms of 1 ms polls", len(got))
	}
	// Each wait is at least the lower half of its doubling window: the
	// k-th wait (k from 1) at least base·2^(k-1)/2.
	for k := 1; k < len(got); k++ {
		gap := got[k].Sub(got[k-1])
		if want := base << (k - 1) / 2; gap < want {
			t.Fatalf("attempt %d came %v after the previous one, want at least %v (all: %v)", k+1, gap, want, gaps(got))
		}
	}
	if h := r.Health(); h.Status != rotate.StatusDegraded || h.PendingVersionID != "v2" || h.Failures < len(got)-1 || h.Failures > len(got)+1 {
		t.Fatalf("%+v after %d attempts", h, len(got))
	}
	// A ForceRotation still tries at once.
	mu.Lock()
	n := len(attempts)
	mu.Unlock()
	if err := r.ForceRotation(context.Background()); !errors.Is(err, rotate.ErrValidation) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != n+1 {
		t.Fatalf("ForceRotation: %d attempts, want %d", len(attempts), n+1)
	}
}

func gaps(ts []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]).Round(time.Millisecond))
	}
	return out
}
