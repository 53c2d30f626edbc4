package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// gate is a source whose first fetch of each id answers with the value set
// when the fetch began and then waits for release; later fetches answer at
// once. It lets a test hold a fetch under way while it invalidates.
type gate struct {
	mu      sync.Mutex
	values  map[string]string
	held    map[string]bool
	release chan struct{}
	calls   atomic.Int64
	started chan string // receives the id of each fetch that is held
}

func newGate() *gate {
	return &gate{values: map[string]string{}, held: map[string]bool{}, release: make(chan struct{}),
		started: make(chan string, 16)}
}

func (g *gate) set(id, v string) { g.mu.Lock(); g.values[id] = v; g.mu.Unlock() }

func (g *gate) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	g.calls.Add(1)
	g.mu.Lock()
	v := g.values[ref.ID]
	hold := !g.held[ref.ID]
	g.held[ref.ID] = true
	g.mu.Unlock()
	if hold {
		g.started <- ref.ID
		<-g.release
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: "v-" + v, String: v}, nil
}

// TestReadAfterInvalidateNeverGetsOlderFetch: a read that starts after
// Invalidate (or Clear) returned never takes the answer of a fetch that
// began before it, even when that fetch is still under way and would
// coalesce with it; neither do Refresh and Warm.
func TestReadAfterInvalidateNeverGetsOlderFetch(t *testing.T) {
	drop := map[string]func(*secretcache.Cache){
		"Invalidate": func(c *secretcache.Cache) { c.Invalidate("db") },
		"Clear":      func(c *secretcache.Cache) { c.Clear() },
	}
	reads := map[string]func(*secretcache.Cache) (string, error){
		"GetString": func(c *secretcache.Cache) (string, error) { return c.GetString(ctx, "db") },
		"Refresh": func(c *secretcache.Cache) (string, error) {
			s, err := c.Refresh(ctx, "db")
			if err != nil {
				return "", err
			}
			return s.String, nil
		},
		"Warm": func(c *secretcache.Cache) (string, error) {
			if err := c.Warm(ctx, "db"); err != nil {
				return "", err
			}
			return c.GetString(ctx, "db")
		},
	}
	for dname, dropFn := range drop {
		for rname, read := range reads {
			t.Run(dname+"/"+rname, func(t *testing.T) {
				g := newGate()
				g.set("db", "old")
				c, _ := newCache(t, g)
				first := make(chan string, 1)
				go func() { v, _ := c.GetString(ctx, "db"); first <- v }()
				<-g.started // the miss's fetch is under way with "old"
				g.set("db", "new")
				dropFn(c)
				after := make(chan string, 1)
				go func() {
					v, err := read(c)
					if err != nil {
						v = err.Error()
					}
					after <- v
				}()
				var got string
				select {
				case got = <-after:
					close(g.release)
				case <-time.After(2 * time.Second): // it waits on the old fetch: let it end
					close(g.release)
					got = <-after
				}
				if got != "new" {
					t.Fatalf("%s after %s got %q, want the value fetched after it", rname, dname, got)
				}
				if v := <-first; v != "old" {
					t.Fatalf("the read begun before %s got %q", dname, v)
				}
				if v := mustString(t, c, "db"); v != "new" {
					t.Fatalf("cached after both: %q", v)
				}
			})
		}
	}
}

// ctxSource blocks every fetch until its context ends (or, with ignore,
// until the test ends, whatever the context).
type ctxSource struct {
	ignore bool
	stop   chan struct{}
	calls  atomic.Int64
	value  atomic.Bool // answer at once (to fill the cache) while set
}

func (s *ctxSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.calls.Add(1)
	if !s.value.Load() {
		if s.ignore {
			<-s.stop
		} else {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-s.stop:
			}
		}
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: "v"}, nil
}

func (s *ctxSource) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	out := make([]secretcache.Result, len(refs))
	for i, r := range refs {
		out[i].Secret, out[i].Err = s.Fetch(ctx, r)
	}
	return out
}

type plainCtxSource struct{ *ctxSource }

func (p plainCtxSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	return p.ctxSource.Fetch(ctx, ref)
}

// TestCloseReleasesEveryone: Close releases, within 100 ms and with
// ErrClosed, every caller blocked on the backend: a miss, a second reader
// waiting on the same fetch, a read that found its entry expired, Refresh
// and Warm; with a source that honours its context and with one that
// ignores it. Close itself returns as fast.
func TestCloseReleasesEveryone(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("ignoresContext=%v/batch=%v", ignore, batch), func(t *testing.T) {
				cs := &ctxSource{ignore: ignore, stop: make(chan struct{})}
				t.Cleanup(func() { close(cs.stop) })
				var src secretcache.Source = plainCtxSource{cs}
				if batch {
					src = cs
				}
				c, clk := newCache(t, src, secretcache.WithTTL(time.Minute), secretcache.WithRefreshAhead(0))
				cs.value.Store(true)
				mustString(t, c, "expiring")
				cs.value.Store(false)
				clk.Advance(2 * time.Minute)

				calls := []func() error{
					func() error { _, err := c.GetString(ctx, "miss"); return err },
					func() error { _, err := c.GetString(ctx, "miss"); return err }, // coalesces
					func() error { _, err := c.GetString(ctx, "expiring"); return err },
					func() error { _, err := c.Get(ctx, "expiring", secretcache.WithFallback("fb")); return err },
					func() error { _, err := c.Refresh(ctx, "refreshed"); return err },
					func() error { return c.Warm(ctx, "warm-1", "warm-2") },
				}
				errs := make(chan error, len(calls))
				for _, call := range calls {
					go func() { errs <- call() }()
				}
				// Every call but the coalescing reader and the fallback read
				// reaches the source (Warm with one call, or two without
				// batches).
				want := int64(4)
				if !batch {
					want = 5
				}
				for cs.calls.Load() < want {
					time.Sleep(time.Millisecond)
				}
				start := time.Now()
				closed := make(chan struct{})
				go func() { _ = c.Close(); close(closed) }()
				deadline := time.After(100 * time.Millisecond)
				for range calls {
					select {
					case err := <-errs:
						if !errors.Is(err, secretcache.ErrClosed) {
							t.Errorf("after Close: %v, want ErrClosed", err)
						}
					case <-deadline:
						t.Fatalf("callers still blocked 100 ms after Close")
					}
				}
				select {
				case <-closed:
				case <-deadline:
					t.Fatalf("Close blocked")
				}
				t.Logf("released %d callers in %v", len(calls), time.Since(start))
			})
		}
	}
}

// versioned answers with the number of the version current when the fetch
// began, after a short pause, so that fetches overlap what the test does.
type versioned struct {
	v     atomic.Int64
	calls atomic.Int64
}

func (s *versioned) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.calls.Add(1)
	v := s.v.Load()
	for range 1 + rand.IntN(50) {
		runtime.Gosched()
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprint(v), String: fmt.Sprint(v)}, nil
}

func (s *versioned) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	out := make([]secretcache.Result, len(refs))
	for i, r := range refs {
		out[i].Secret, out[i].Err = s.Fetch(ctx, r)
	}
	return out
}

// TestInvalidateUnderLoad: while readers, refreshes ahead and on expiry,
// Refresh and Warm keep fetches of a secret under way, every read that
// starts after Invalidate or Clear returned sees a version at least as new
// as the one current when Invalidate was called.
func TestInvalidateUnderLoad(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			src := &versioned{}
			var s secretcache.Source = secretcache.SourceFunc(src.Fetch)
			if batch {
				s = src
			}
			c, clk := newCache(t, s, secretcache.WithTTL(time.Second))
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						switch {
						case i == 0 && n%10 == 0:
							clk.Advance(100 * time.Millisecond) // into refresh ahead, then expiry
						case i == 1 && n%5 == 0:
							_, _ = c.Refresh(ctx, "db")
						case i == 2 && n%5 == 0:
							_ = c.Warm(ctx, "db", "other")
						default:
							_, _ = c.GetString(ctx, "db")
						}
					}
				})
			}
			check := func(what string, v int64, got string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				var n int64
				fmt.Sscan(got, &n)
				if n < v {
					t.Fatalf("%s after Invalidate of version %d got version %d", what, v, n)
				}
			}
			for i := range 300 {
				v := src.v.Add(1)
				if i%3 == 0 {
					c.Clear()
				} else {
					c.Invalidate("db")
				}
				switch i % 3 {
				case 0:
					got, err := c.GetString(ctx, "db")
					check("GetString", v, got, err)
				case 1:
					s, err := c.Refresh(ctx, "db")
					if err == nil {
						check("Refresh", v, s.String, nil)
					} else {
						check("Refresh", v, "", err)
					}
				case 2:
					err := c.Warm(ctx, "db")
					got, gerr := c.GetString(ctx, "db")
					check("Warm", v, got, errors.Join(err, gerr))
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}

// TestWarmCutShortCachesNothing: a Warm whose context ends returns
// ErrUnavailable at once, even with a source that ignores its context, and
// the calls it cut short leave no cached failure behind: the next read
// fetches.
func TestWarmCutShortCachesNothing(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoresContext=%v", ignore), func(t *testing.T) {
			cs := &ctxSource{ignore: ignore, stop: make(chan struct{})}
			stopped := false
			defer func() {
				if !stopped {
					close(cs.stop)
				}
			}()
			c, _ := newCache(t, cs)
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := c.Warm(wctx, "a", "b")
			if !errors.Is(err, secretcache.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Warm with an ended context: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Warm returned %v after its context ended", d)
			}
			close(cs.stop)
			stopped = true
			cs.value.Store(true)
			if got := mustString(t, c, "a"); got != "v" {
				t.Fatalf("after a cut-short Warm: %q", got)
			}
		})
	}
}
