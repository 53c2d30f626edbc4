package rotate_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

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
