package secretcache_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// A source that relays an earlier read (a shared cache) reports its time in
// Secret.FetchedAt: the cache counts the value's age from it, never stores
// it expired nor due sooner than half its refresh-ahead window from now,
// and counts a time in the future as now.
func TestRelayedAge(t *testing.T) {
	const ttl = time.Minute
	for _, tc := range []struct {
		name    string
		ago     time.Duration // how old the source says its answer is (negative: the future)
		ahead   float64       // WithRefreshAhead
		wantAge time.Duration
	}{
		{"not relayed", 0, 0.2, 0},
		{"relayed", 20 * time.Second, 0.2, 20 * time.Second},
		{"older than the refresh point", 55 * time.Second, 0.2, 42 * time.Second}, // due in 6 s, 18 s left
		{"older than the TTL", 5 * time.Minute, 0.2, 42 * time.Second},
		{"refresh ahead off", 50 * time.Second, 0, 30 * time.Second}, // half the TTL left
		{"from the future", -time.Hour, 0.2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			src := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
				s := &secretcache.Secret{Name: ref.ID, String: "v"}
				if tc.ago != 0 {
					s.FetchedAt = clk.Now().Add(-tc.ago)
				}
				return s, nil
			})
			c, err := secretcache.New(src, secretcache.WithClock(clk), secretcache.WithTTL(ttl),
				secretcache.WithRefreshAhead(tc.ahead), secretcache.WithLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := c.Get(context.Background(), "a")
			if err != nil {
				t.Fatal(err)
			}
			if want := clk.Now().Add(-tc.wantAge); !s.FetchedAt.Equal(want) {
				t.Errorf("FetchedAt %v, want %v", s.FetchedAt, want)
			}
			for info := range c.Entries() {
				if info.Age != tc.wantAge || info.TTL != ttl {
					t.Errorf("entry age %v TTL %v, want %v and %v", info.Age, info.TTL, tc.wantAge, ttl)
				}
				if info.Stale {
					t.Error("a relayed answer was stored stale")
				}
			}
		})
	}
}

// orderedBatch records the refs of each FetchBatch call.
type orderedBatch struct {
	*script
	mu    sync.Mutex
	calls [][]string
}

func (o *orderedBatch) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	o.mu.Lock()
	o.calls = append(o.calls, ids)
	o.mu.Unlock()
	return batchScript{o.script}.FetchBatch(ctx, refs)
}

// A refresh round asks for its refs in key order, so that caches sharing a
// backend cache, whose entries fall due together, ask for the same batches.
func TestRefreshRoundsAreInKeyOrder(t *testing.T) {
	sc := newScript()
	ids := []string{"m", "c", "x", "a", "q", "b", "z", "k"}
	for _, id := range ids {
		sc.set(id, "v-"+id)
	}
	src := &orderedBatch{script: sc}
	clk := newClock()
	c, err := secretcache.New(src, secretcache.WithClock(clk), secretcache.WithTTL(time.Minute), secretcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.calls = nil
	src.mu.Unlock()
	clk.Advance(55 * time.Second) // past the refresh point of all
	for _, id := range slices.Backward(ids) {
		if _, err := c.GetString(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		src.mu.Lock()
		var n int
		for _, call := range src.calls {
			n += len(call)
		}
		calls := slices.Clone(src.calls)
		src.mu.Unlock()
		if n >= len(ids) {
			for _, call := range calls {
				if !slices.IsSorted(call) {
					t.Errorf("a refresh batch asked for %q, not in key order", call)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("refreshed %d of %d ids", n, len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A relayed answer read from its origin before the cached value, of another
// version, does not roll the cache back (a host read v2 directly while the
// shared cache still held v1), and Refresh answers with the newer value.
func TestRelayedOlderVersionDoesNotRollBack(t *testing.T) {
	clk := newClock()
	var mu sync.Mutex
	answer := &secretcache.Secret{Name: "a", VersionID: "v2", String: "two"}
	src := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		mu.Lock()
		defer mu.Unlock()
		return answer.Clone(), nil
	})
	c, err := secretcache.New(src, secretcache.WithClock(clk), secretcache.WithTTL(time.Minute), secretcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if v, err := c.GetString(ctx, "a"); err != nil || v != "two" {
		t.Fatal(v, err)
	}
	mu.Lock()
	answer = &secretcache.Secret{Name: "a", VersionID: "v1", String: "one", FetchedAt: clk.Now().Add(-time.Second)}
	mu.Unlock()
	clk.Advance(time.Second)
	s, err := c.Refresh(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if s.VersionID != "v2" {
		t.Errorf("Refresh answered %s, an older read of another version", s.VersionID)
	}
	if v, _ := c.GetString(ctx, "a"); v != "two" {
		t.Errorf("the cache rolled back to %q", v)
	}
	// A relayed answer read after the cached value is taken.
	mu.Lock()
	answer = &secretcache.Secret{Name: "a", VersionID: "v3", String: "three", FetchedAt: clk.Now()}
	mu.Unlock()
	if s, err := c.Refresh(ctx, "a"); err != nil || s.VersionID != "v3" {
		t.Errorf("Refresh: %v %v", s, err)
	}
}

// Refresh tells the source its fetch is forced, and since when the
// cache's value dates.
func TestForcedTellsTheSource(t *testing.T) {
	clk := newClock()
	type seen struct {
		forced bool
		after  time.Time
	}
	var got []seen
	var mu sync.Mutex
	src := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		after, ok := secretcache.Forced(ctx)
		mu.Lock()
		got = append(got, seen{ok, after})
		mu.Unlock()
		return &secretcache.Secret{Name: ref.ID, String: "v"}, nil
	})
	c, err := secretcache.New(src, secretcache.WithClock(clk), secretcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	t0 := clk.Now()
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, err := c.Refresh(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []seen{{false, time.Time{}}, {true, t0}, {true, time.Time{}}}
	if len(got) != len(want) {
		t.Fatalf("fetches %v", got)
	}
	for i := range want {
		if got[i].forced != want[i].forced || !got[i].after.Equal(want[i].after) {
			t.Errorf("fetch %d: forced %v after %v; want %v %v", i, got[i].forced, got[i].after, want[i].forced, want[i].after)
		}
	}
}
