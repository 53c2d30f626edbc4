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
