package rotate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

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
		rotate.WithPollInterval(-1), rotate.WithTimeout(0), rotate.WithFailureRefresh(-1), rotate.WithLogger(nil), rotate.WithTracer(nil)} {
		if _, err := rotate.New(c, "db", spec, o); err == nil {
			t.Fatal("bad option accepted")
		}
	}
}

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
