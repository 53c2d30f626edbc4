package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

func TestRefreshAheadNeverBlocksReaders(t *testing.T) {
	src := newScript()
	src.set("a", "one")
	c, clk := newCache(t, src, secretcache.WithTTL(100*time.Second))
	mustString(t, c, "a")
	src.set("a", "two")
	block := make(chan struct{})
	src.mu.Lock()
	src.block = block
	src.mu.Unlock()
	clk.Advance(85 * time.Second) // inside the last 20 %
	for range 50 {
		done := make(chan string)
		go func() { done <- mustString(t, c, "a") }()
		select {
		case v := <-done:
			if v != "one" {
				t.Fatalf("got %q while refreshing", v)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("reader blocked on a background refresh")
		}
	}
	close(block)
	c.WaitIdle()
	if got := mustString(t, c, "a"); got != "two" {
		t.Fatalf("after refresh got %q", got)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d source calls; 50 reads in the window must start one refresh", n)
	}
	if st := c.Stats(); st.RefreshesAhead != 1 || st.Misses != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchedRefreshCost(t *testing.T) {
	src := batchScript{newScript()}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("svc/secret-%03d", i)
		src.set(ids[i], "v")
	}
	ttl := 5 * time.Minute
	c, clk := newCache(t, src, secretcache.WithTTL(ttl))
	if err := c.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	start := src.batches.Load() + src.calls.Load()
	const windows = 10
	step := 5 * time.Second
	for elapsed := time.Duration(0); elapsed < windows*ttl; elapsed += step {
		clk.Advance(step)
		for _, id := range ids { // a steady set, every secret read every step
			mustString(t, c, id)
		}
		c.WaitIdle()
	}
	calls := src.batches.Load() + src.calls.Load() - start
	perSecretWindow := float64(calls) / float64(len(ids)) / windows
	t.Logf("%d backend calls for %d secrets over %d TTL windows: %.3f calls/secret/window", calls, len(ids), windows, perSecretWindow)
	if perSecretWindow >= 0.1 {
		t.Fatalf("%.3f calls per secret per window, goal < 0.1", perSecretWindow)
	}
	if st := c.Stats(); st.Misses != 0 || st.StaleHits != 0 || st.RefreshesOnExpiry != 0 {
		t.Fatalf("readers waited: %+v", st)
	}
}

func TestUnreadEntriesAreNotRefreshed(t *testing.T) {
	src := batchScript{newScript()}
	src.set("hot", "v")
	src.set("cold", "v")
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
	if err := c.Warm(ctx, "hot", "cold"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Second)
	mustString(t, c, "hot")
	c.WaitIdle()
	if n := src.batchIDs.Load(); n != 3 { // warm 2, then only "hot"
		t.Fatalf("%d refs fetched, want 3", n)
	}
}

func TestRefreshForced(t *testing.T) {
	src := newScript()
	src.set("a", "one")
	c, _ := newCache(t, src)
	mustString(t, c, "a")
	src.set("a", "two")
	s, err := c.Refresh(ctx, "a")
	if err != nil || s.String != "two" || mustString(t, c, "a") != "two" {
		t.Fatal(s, err)
	}
	if st := c.Stats(); st.RefreshesForced != 1 || st.BackendCalls != 2 {
		t.Fatalf("stats %+v", st)
	}
	src.fail("a", secretcache.NewError(secretcache.ErrThrottled, "a", nil))
	if _, err := c.Refresh(ctx, "a"); !errors.Is(err, secretcache.ErrThrottled) {
		t.Fatal(err)
	}
	if got := mustString(t, c, "a"); got != "two" {
		t.Fatalf("transient refresh failure dropped the value: %q", got)
	}
	src.fail("a", secretcache.NewError(secretcache.ErrNotFound, "a", nil))
	if _, err := c.Refresh(ctx, "a"); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.GetString(ctx, "a"); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatalf("permanent refresh failure kept the value: %v", err)
	}
	if _, err := c.Refresh(ctx, ""); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
}

func TestWarm(t *testing.T) {
	src := batchScript{newScript()}
	var ids []string
	for i := range 45 {
		ids = append(ids, fmt.Sprintf("w%d", i))
		src.set(ids[i], "v")
	}
	c, _ := newCache(t, src)
	if err := c.Warm(ctx, append(ids, ids[0], ids[1])...); err != nil {
		t.Fatal(err)
	}
	if b := src.batches.Load(); b != 3 {
		t.Fatalf("%d batch calls for 45 ids", b)
	}
	for _, id := range ids {
		mustString(t, c, id)
	}
	if src.calls.Load() != 0 || src.batches.Load() != 3 {
		t.Fatal("reads after Warm missed")
	}
	src.set("ok", "v")
	before := src.batchIDs.Load()
	if err := c.Warm(ctx, "ok", "", "bad id"); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if src.batchIDs.Load() != before+1 {
		t.Fatal("an invalid id stopped Warm from fetching the valid one")
	}
	err := c.Warm(ctx, "w1", "missing-1", "missing-2")
	var se *secretcache.Error
	if !errors.Is(err, secretcache.ErrNotFound) || !errors.As(err, &se) || !strings.Contains(err.Error(), "missing-2") {
		t.Fatal(err)
	}
	if err := c.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	plain := newScript()
	plain.set("p1", "v")
	c2, _ := newCache(t, plain)
	if err := c2.Warm(ctx, "p1", "p2"); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal(err)
	}
	if mustString(t, c2, "p1") != "v" || plain.calls.Load() != 2 {
		t.Fatal("non-batch warm")
	}
}

func TestRefreshNeverReturnsAFetchBegunBeforeTheCall(t *testing.T) {
	src := newScript()
	src.set("db", "old")
	c, _ := newCache(t, src)
	block := make(chan struct{})
	src.mu.Lock()
	src.block = block
	src.mu.Unlock()
	first := make(chan string)
	go func() { s, _ := c.Refresh(ctx, "db"); first <- s.String }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The first fetch is under way (it will answer "old"). The secret
	// rotates; callers from now on must see the new value.
	src.set("db", "new")
	var wg sync.WaitGroup
	results := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			s, err := c.Refresh(ctx, "db")
			if err != nil {
				t.Error(err)
				return
			}
			results <- s.String
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(block)
	wg.Wait()
	close(results)
	if v := <-first; v != "old" {
		t.Fatalf("first refresh got %q", v)
	}
	for v := range results {
		if v != "new" {
			t.Fatalf("a Refresh called after the rotation got %q", v)
		}
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d fetches; 21 refreshes in two bursts should cost 2", n)
	}
}

// seqSource answers the first fetch with v1 after a delay the test controls,
// and later fetches with v2 at once.
type seqSource struct {
	calls   atomic.Int64
	release chan struct{}
}

func (s *seqSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	if s.calls.Add(1) == 1 {
		<-s.release
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: "old"}, nil
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: "v2", VersionStages: []string{"AWSCURRENT"}, String: "new"}, nil
}

func TestOlderFetchNeverReplacesNewer(t *testing.T) {
	src := &seqSource{release: make(chan struct{})}
	var changes atomic.Int64
	c, _ := newCache(t, src)
	c.OnChange(func(secretcache.ChangeEvent) { changes.Add(1) })
	slow := make(chan string)
	go func() { v, _ := c.GetString(ctx, "db"); slow <- v }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if s, err := c.Refresh(ctx, "db"); err != nil || s.String != "new" {
		t.Fatal(s, err)
	}
	close(src.release)
	<-slow // the slow miss got its own (older) answer...
	if got := mustString(t, c, "db"); got != "new" {
		t.Fatalf("an answer fetched before the refresh replaced it: %q", got)
	}
	if n := changes.Load(); n != 0 {
		t.Fatalf("%d change events; v2 -> v1 must never be reported", n)
	}
}
