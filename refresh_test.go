package secretcache_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// barrierBatch is a batch source whose calls, once armed, wait until want
// of them are under way together (or a second passes), and which records
// the most calls it saw under way at once.
type barrierBatch struct {
	batchScript
	armed    atomic.Bool
	want     int
	mu       sync.Mutex
	cond     *sync.Cond
	inFlight int
	most     int
}

func (b *barrierBatch) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	if b.armed.Load() {
		b.mu.Lock()
		b.inFlight++
		b.most = max(b.most, b.inFlight)
		b.cond.Broadcast()
		deadline := time.AfterFunc(time.Second, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
		start := time.Now()
		for b.most < b.want && time.Since(start) < time.Second {
			b.cond.Wait()
		}
		deadline.Stop()
		b.inFlight--
		b.mu.Unlock()
	}
	return b.batchScript.FetchBatch(ctx, refs)
}

// TestRefreshBatchesRunInParallel: 100 entries due together are refreshed
// in 5 batch calls under way at once, not one after another, so a slow
// backend does not push the last of them past their expiry.
func TestRefreshBatchesRunInParallel(t *testing.T) {
	src := &barrierBatch{batchScript: batchScript{newScript()}, want: 5}
	src.cond = sync.NewCond(&src.mu)
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("svc/secret-%03d", i)
		src.set(ids[i], "v")
	}
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
	if err := c.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		mustString(t, c, id)
	}
	src.armed.Store(true)
	before := src.batches.Load()
	clk.Advance(50 * time.Second)
	mustString(t, c, ids[0]) // due: the other 99 go along
	c.WaitIdle()
	if n := src.batches.Load() - before; n != 5 {
		t.Fatalf("%d batch calls to refresh 100 entries, want 5", n)
	}
	if src.most < 5 {
		t.Fatalf("at most %d batch calls under way at once, want 5", src.most)
	}
}

// slowSource takes latency of the cache's clock per call.
type slowSource struct {
	*script
	clk     *fakeClock
	latency time.Duration
}

func (s slowSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.clk.Advance(s.latency)
	return s.script.Fetch(ctx, ref)
}

// TestRefreshWindowAdaptsToLatency: with a backend that takes 15 s a call,
// a refresh that started only in the last 20 % of a 100 s TTL could not end
// in time; the window grows to cover the measured latency (up to half the
// TTL), and stays off when refresh-ahead is off.
func TestRefreshWindowAdaptsToLatency(t *testing.T) {
	for _, ahead := range []float64{0.2, 0} {
		t.Run(fmt.Sprintf("ahead=%v", ahead), func(t *testing.T) {
			sc := newScript()
			sc.set("db", "v")
			clk := newClock()
			c, err := secretcache.New(slowSource{sc, clk, 15 * time.Second}, secretcache.WithClock(clk),
				secretcache.WithLogger(quiet()), secretcache.WithTTL(100*time.Second), secretcache.WithRefreshAhead(ahead))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mustString(t, c, "db") // stored when the 15 s call ended
			clk.Advance(45 * time.Second)
			mustString(t, c, "db")
			c.WaitIdle()
			if n := c.Stats().RefreshesAhead; n != 0 {
				t.Fatalf("refreshed %d times before half the TTL", n)
			}
			clk.Advance(30 * time.Second) // 75 s: 25 s left, more than 20 % but under 2 calls
			mustString(t, c, "db")
			c.WaitIdle()
			st := c.Stats()
			want := uint64(1)
			if ahead == 0 {
				want = 0
			}
			if st.RefreshesAhead != want {
				t.Fatalf("%d refreshes ahead with 25 s left and 15 s calls, want %d", st.RefreshesAhead, want)
			}
			if ahead > 0 && (st.RefreshesOnExpiry != 0 || st.Misses != 1) {
				t.Fatalf("a reader waited: %+v", st)
			}
		})
	}
}

// rotating is a source whose every call finds a new version (v1, v2, ...),
// and which holds calls back while gate is set.
type rotating struct {
	calls atomic.Int64
	mu    sync.Mutex
	gate  chan struct{}
}

func (r *rotating) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	n := r.calls.Add(1)
	r.mu.Lock()
	g := r.gate
	r.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprintf("v%d", n), String: "pw"}, nil
}

func (r *rotating) hold() chan struct{} {
	g := make(chan struct{})
	r.mu.Lock()
	r.gate = g
	r.mu.Unlock()
	return g
}

// refreshBurst runs n Refresh calls of id with opts at once and returns the
// versions they got.
func refreshBurst(t *testing.T, c *secretcache.Cache, n int, id string, opts ...secretcache.GetOption) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s, err := c.Refresh(ctx, id, opts...)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[s.VersionID]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

// TestRefreshIfVersion: 50 callers that all failed with version v1 cost one
// call, whether they join the fetch under way or come after it stored v2;
// once another version is cached, Refresh(IfVersion(v1)) makes no call.
func TestRefreshIfVersion(t *testing.T) {
	src := &rotating{}
	c, _ := newCache(t, src)
	if s, err := c.Get(ctx, "db"); err != nil || s.VersionID != "v1" {
		t.Fatal(s, err)
	}
	gate := src.hold()
	done := make(chan map[string]int)
	go func() { done <- refreshBurst(t, c, 50, "db", secretcache.IfVersion("v1")) }()
	for src.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // let the others arrive and join
	close(gate)
	if got := <-done; got["v2"] != 50 {
		t.Fatalf("versions returned: %v, want v2 50 times", got)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d calls for a burst of 50, want 1 more than the first read", n)
	}
	if s, err := c.Refresh(ctx, "db", secretcache.IfVersion("v1")); err != nil || s.VersionID != "v2" {
		t.Fatal(s, err)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("Refresh(IfVersion(v1)) with v2 cached called the source (%d calls)", n)
	}
	if s, err := c.Refresh(ctx, "db", secretcache.IfVersion("v2")); err != nil || s.VersionID != "v3" {
		t.Fatal(s, err)
	}
	// Nothing cached: a conditional Refresh fetches.
	if s, err := c.Refresh(ctx, "other", secretcache.IfVersion("v1")); err != nil || s.VersionID != "v4" {
		t.Fatal(s, err)
	}
	if s, err := c.Refresh(ctx, "db"); err != nil || s.VersionID != "v5" {
		t.Fatal("an unconditional Refresh must fetch:", s, err)
	}
}

// TestRefreshIfOlderThan: a Refresh of a value fetched less than d ago (by
// the cache's clock) makes no call; one that is older makes one, shared by
// a burst.
func TestRefreshIfOlderThan(t *testing.T) {
	src := &rotating{}
	c, clk := newCache(t, src)
	if _, err := c.Get(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond)
	if got := refreshBurst(t, c, 50, "db", secretcache.IfOlderThan(time.Second)); got["v1"] != 50 {
		t.Fatalf("versions returned: %v, want the cached v1 50 times", got)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d calls; a value 0.5 s old must not be refreshed with IfOlderThan(1s)", n)
	}
	clk.Advance(time.Second)
	gate := src.hold()
	done := make(chan map[string]int)
	go func() { done <- refreshBurst(t, c, 50, "db", secretcache.IfOlderThan(time.Second)) }()
	for src.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	close(gate)
	if got := <-done; got["v2"] != 50 {
		t.Fatalf("versions returned: %v, want v2 50 times", got)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d calls; a burst on a 1.5 s old value must make one", n)
	}
	if s, err := c.GetString(ctx, "db", secretcache.IfOlderThan(time.Hour), secretcache.IfVersion("x")); err != nil || s != "pw" {
		t.Fatal("reads ignore the conditions:", s, err)
	}
}
