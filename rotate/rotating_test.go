package rotate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

// fakeSource serves secrets whose value and version the test sets.
type fakeSource struct {
	mu      sync.Mutex
	version map[string]int
	value   map[string]string
	calls   atomic.Int64
}

func newFakeSource() *fakeSource {
	return &fakeSource{version: map[string]int{}, value: map[string]string{}}
}

func (f *fakeSource) set(id, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version[id]++
	f.value[id] = value
}

func (f *fakeSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	f.calls.Add(1)
	f.mu.Lock()
	v, ok := f.version[ref.ID]
	val := f.value[ref.ID]
	f.mu.Unlock()
	if !ok {
		return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprintf("v%d", v),
		VersionStages: []string{"AWSCURRENT"}, String: val}, nil
}

// resource is what the tests rotate.
type resource struct {
	version string
	value   string
	closed  atomic.Bool
}

type recorder struct {
	mu        sync.Mutex
	built     []*resource
	validates atomic.Int64
	buildHold chan struct{}
}

func (rec *recorder) spec() rotate.Spec[*resource] {
	return rotate.Spec[*resource]{
		Build: func(ctx context.Context, s *secretcache.Secret) (*resource, error) {
			if rec.buildHold != nil {
				select {
				case <-rec.buildHold:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			if s.String == "unbuildable" {
				return nil, errors.New("cannot build")
			}
			r := &resource{version: s.VersionID, value: s.String}
			rec.mu.Lock()
			rec.built = append(rec.built, r)
			rec.mu.Unlock()
			return r, nil
		},
		Validate: func(_ context.Context, r *resource) error {
			rec.validates.Add(1)
			if r.value == "bad" {
				return errors.New("login failed")
			}
			return nil
		},
		Close: func(r *resource) error {
			if r.closed.Swap(true) {
				panic("closed twice")
			}
			return nil
		},
	}
}

func (rec *recorder) all() []*resource {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*resource(nil), rec.built...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newCache(t *testing.T, src secretcache.Source, opts ...secretcache.Option) *secretcache.Cache {
	t.Helper()
	c, err := secretcache.New(src, append([]secretcache.Option{secretcache.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

var fast = []rotate.Option{rotate.WithBackoff(10*time.Millisecond, 40*time.Millisecond),
	rotate.WithDrain(20 * time.Millisecond), rotate.WithPollInterval(0), rotate.WithLogger(quiet()),
	rotate.WithFailureRefresh(0)}

func TestRotatesOnNewVersion(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	rec := &recorder{}
	r, err := rotate.New(c, "db", rec.spec(), fast...)
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Health(); h.Status != rotate.StatusUnhealthy {
		t.Fatalf("before start: %+v", h)
	}
	if r.Get() != nil {
		t.Fatal("Get before Start")
	}
	if err := r.ForceRotation(context.Background()); !errors.Is(err, rotate.ErrNotStarted) {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	first := r.Get()
	if first.value != "pw1" || first.version != "v1" {
		t.Fatalf("%+v", first)
	}
	if h := r.Health(); h.Status != rotate.StatusHealthy || h.VersionID != "v1" || h.Rotations != 0 {
		t.Fatalf("%+v", h)
	}

	// The secret rotates; a refresh of the cache (by anyone) finds it.
	src.set("db", "pw2")
	if _, err := c.Refresh(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rotation", func() bool { return r.Get().value == "pw2" })
	if h := r.Health(); h.Status != rotate.StatusHealthy || h.VersionID != "v2" || h.Rotations != 1 || h.LastRotation.IsZero() {
		t.Fatalf("%+v", h)
	}
	if v, ok := r.Version(); !ok || v.VersionID != "v2" {
		t.Fatal(v, ok)
	}
	// The old one is closed after the drain period, not before.
	if first.closed.Load() {
		t.Fatal("closed before its drain period")
	}
	eventually(t, "drain", first.closed.Load)
	if r.Get().closed.Load() {
		t.Fatal("current closed")
	}
	r.Close()
	if r.Get() != nil {
		t.Fatal("Get after Close")
	}
	for _, b := range rec.all() {
		if !b.closed.Load() {
			t.Fatalf("%s not closed", b.version)
		}
	}
	if h := r.Health(); h.Status != rotate.StatusUnhealthy {
		t.Fatalf("%+v", h)
	}
	if err := r.Start(ctx); !errors.Is(err, rotate.ErrClosed) {
		t.Fatal(err)
	}
	if err := r.ForceRotation(ctx); !errors.Is(err, rotate.ErrClosed) {
		t.Fatal(err)
	}
	r.Close() // twice is fine
	r.ReportFailure(nil)
	r.Invalidate()
}

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

func TestChangeCallbackNeverBlocks(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), fast...)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.buildHold = make(chan struct{}) // builds now hang
	for i := range 5 {
		src.set("db", fmt.Sprintf("pw%d", i+2))
		done := make(chan struct{})
		go func() {
			_, _ = c.Refresh(context.Background(), "db") // runs the change callbacks
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the change callback blocked the cache")
		}
	}
	if r.Get().value != "pw1" {
		t.Fatal("swapped while the build hangs")
	}
	close(rec.buildHold)
	eventually(t, "latest version", func() bool { return r.Get().value == "pw6" })
	r.Close()
}

func TestForceRotationAndInvalidate(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), fast...)
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := r.Get()
	if err := r.ForceRotation(ctx); err != nil {
		t.Fatal(err)
	}
	b := r.Get()
	if a == b || b.version != "v1" || r.Health().Rotations != 1 {
		t.Fatal("force did not rebuild")
	}
	calls := src.calls.Load()
	r.Invalidate()
	eventually(t, "rebuild after invalidate", func() bool { return r.Get() != b })
	if src.calls.Load() <= calls {
		t.Fatal("invalidate did not refetch")
	}
}

func TestPollNoticesNewVersion(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	// Nothing else reads the secret: only the poll makes the cache refresh.
	c := newCache(t, src, secretcache.WithTTL(50*time.Millisecond))
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), rotate.WithPollInterval(5*time.Millisecond), rotate.WithLogger(quiet()))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src.set("db", "pw2")
	eventually(t, "poll rotation", func() bool { return r.Get().value == "pw2" })
}

func TestShutdownClosesDraining(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), rotate.WithDrain(time.Hour), rotate.WithLogger(quiet()), rotate.WithPollInterval(0))
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	old := r.Get()
	if err := r.ForceRotation(ctx); err != nil {
		t.Fatal(err)
	}
	if h := r.Health(); h.Draining != 1 {
		t.Fatalf("%+v", h)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range rec.all() {
		if !b.closed.Load() {
			t.Fatal("not closed after shutdown")
		}
	}
	if !old.closed.Load() || r.Get() != nil || r.Health().Draining != 0 {
		t.Fatal("shutdown")
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	release := make(chan struct{})
	r, _ := rotate.New(c, "db", rotate.Spec[int]{
		Build: func(context.Context, *secretcache.Secret) (int, error) { return 1, nil },
		Close: func(int) error { <-release; return nil },
	}, rotate.WithLogger(quiet()))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	close(release)
}

func TestConcurrentGetDuringRotations(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	rec := &recorder{}
	r, _ := rotate.New(c, "db", rec.spec(), rotate.WithDrain(time.Second), rotate.WithLogger(quiet()), rotate.WithPollInterval(0))
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var bad atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v := r.Get(); v == nil || v.closed.Load() {
					bad.Add(1)
				}
				runtime.Gosched()
			}
		})
	}
	for i := range 30 {
		src.set("db", fmt.Sprintf("pw%d", i+2))
		if _, err := c.Refresh(ctx, "db"); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			_ = r.ForceRotation(ctx)
		}
		time.Sleep(time.Millisecond)
	}
	eventually(t, "last version", func() bool { return r.Get().value == "pw31" })
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d reads saw no or a closed resource", bad.Load())
	}
	r.Close()
}

func TestNewRejectsBadInput(t *testing.T) {
	c := newCache(t, newFakeSource())
	spec := (&recorder{}).spec()
	if _, err := rotate.New(nil, "db", spec); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if _, err := rotate.New(c, "db", rotate.Spec[*resource]{}); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	for _, id := range []string{"", "a b", "a\x00", strings.Repeat("x", 3000), "\xff"} {
		_, err := rotate.New(c, id, spec)
		if !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Fatalf("%.20q: %v", id, err)
		}
		if len(err.Error()) > 300 {
			t.Fatalf("error too long: %d", len(err.Error()))
		}
	}
	for _, o := range []rotate.Option{nil, rotate.WithDrain(-1), rotate.WithBackoff(0, 1), rotate.WithBackoff(2, 1),
		rotate.WithPollInterval(-1), rotate.WithTimeout(0), rotate.WithFailureRefresh(-1), rotate.WithLogger(nil)} {
		if _, err := rotate.New(c, "db", spec, o); err == nil {
			t.Fatal("bad option accepted")
		}
	}
}

func TestCloseUsesIOCloser(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	var closed atomic.Int64
	r, err := rotate.New(c, "db", rotate.Spec[closer]{
		Build: func(context.Context, *secretcache.Secret) (closer, error) { return closer{&closed}, nil },
	}, rotate.WithLogger(quiet()), rotate.WithDrain(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.ForceRotation(context.Background()); err != nil {
		t.Fatal(err)
	}
	if closed.Load() != 1 {
		t.Fatal("drain 0 did not close at once")
	}
	r.Close()
	if closed.Load() != 2 {
		t.Fatal(closed.Load())
	}
}

type closer struct{ n *atomic.Int64 }

func (c closer) Close() error { c.n.Add(1); return errors.New("close error is only logged") }

func TestHealthJSONHasNoValues(t *testing.T) {
	src := newFakeSource()
	src.set("db", "super-secret-pw")
	c := newCache(t, src)
	r, _ := rotate.New(c, "db", (&recorder{}).spec(), fast...)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	js, _ := json.Marshal(r.Health())
	if strings.Contains(string(js), "super-secret") || !strings.Contains(string(js), `"version_id":"v1"`) {
		t.Fatal(string(js))
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

// slowSpec builds resources whose Build waits for release, honouring its
// context or not.
func slowSpec(release chan struct{}, building chan<- struct{}, honourCtx bool, closed *atomic.Int64) rotate.Spec[*resource] {
	var first atomic.Bool
	return rotate.Spec[*resource]{
		Build: func(ctx context.Context, s *secretcache.Secret) (*resource, error) {
			if first.CompareAndSwap(false, true) {
				return &resource{version: s.VersionID, value: s.String}, nil // Start's
			}
			select {
			case building <- struct{}{}:
			default:
			}
			if honourCtx {
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			} else {
				<-release
			}
			return &resource{version: s.VersionID, value: s.String}, nil
		},
		Close: func(*resource) error { closed.Add(1); return nil },
	}
}

// Shutdown honours its context while a ForceRotation (holding the caller's
// context) or the worker is in a slow Build, and cancels that Build.
func TestShutdownDuringSlowBuild(t *testing.T) {
	for _, tc := range []struct {
		name      string
		honourCtx bool
		force     bool
	}{
		{"force, build ignores ctx", false, true},
		{"force, build honours ctx", true, true},
		{"worker, build ignores ctx", false, false},
		{"worker, build honours ctx", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeSource()
			src.set("db", "pw1")
			c := newCache(t, src)
			release := make(chan struct{})
			building := make(chan struct{}, 1)
			var closed atomic.Int64
			r, err := rotate.New(c, "db", slowSpec(release, building, tc.honourCtx, &closed),
				rotate.WithTimeout(time.Hour), rotate.WithLogger(quiet()), rotate.WithPollInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			forced := make(chan error, 1)
			if tc.force {
				go func() { forced <- r.ForceRotation(context.Background()) }()
			} else {
				src.set("db", "pw2")
				if _, err := c.Refresh(context.Background(), "db"); err != nil {
					t.Fatal(err)
				}
			}
			<-building
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = r.Shutdown(ctx)
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("Shutdown took %v with a 50 ms context", took)
			}
			if tc.honourCtx {
				if err != nil {
					t.Fatalf("Shutdown: %v (the build should have been cancelled)", err)
				}
			} else if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown: %v", err)
			}
			if r.Get() != nil && tc.honourCtx {
				t.Fatal("Get after Shutdown")
			}
			if h := r.Health(); h.Status != rotate.StatusUnhealthy {
				t.Fatalf("%+v", h)
			}
			close(release)
			if tc.force {
				if err := <-forced; !errors.Is(err, rotate.ErrClosed) {
					t.Fatalf("ForceRotation interrupted by Shutdown: %v", err)
				}
			}
			if err := r.Shutdown(context.Background()); err != nil { // waits for the first one's work
				t.Fatal(err)
			}
			want := int64(1) // Start's resource; the slow one is closed too when it was built
			if !tc.honourCtx {
				want = 2
			}
			if closed.Load() != want || r.Get() != nil {
				t.Fatalf("%d resources closed, want %d", closed.Load(), want)
			}
		})
	}
}

// Start with its own slow Build, and Start or ForceRotation waiting behind
// one, give up with their context or when Shutdown begins.
func TestStartAndForceHonourContextWhileWaiting(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	release := make(chan struct{})
	building := make(chan struct{}, 1)
	var closed atomic.Int64
	r, _ := rotate.New(c, "db", slowSpec(release, building, false, &closed), rotate.WithLogger(quiet()), rotate.WithPollInterval(0))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.ForceRotation(context.Background()) }()
	<-building
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.ForceRotation(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ForceRotation waiting for the slot: %v", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- r.ForceRotation(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer scancel()
	_ = r.Shutdown(sctx)
	select {
	case err := <-waiting:
		if !errors.Is(err, rotate.ErrClosed) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a ForceRotation waiting for the slot did not end with Shutdown")
	}
	close(release)
	r.Close()
	if err := r.Start(context.Background()); !errors.Is(err, rotate.ErrClosed) {
		t.Fatal(err)
	}
}
