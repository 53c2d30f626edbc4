package secretcache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// paramStore is a scripted batch source shaped like Parameter Store: batches
// of at most 10, versions but no stages, answers named by the id asked for.
// It records every batch it was asked for.
type paramStore struct {
	mu      sync.Mutex
	version int
	batches [][]secretcache.Ref
	bad     []string // what the cache passed that such a backend refuses
}

func (p *paramStore) Describe() secretcache.Description { return secretcache.Description{MaxBatch: 10} }

func (p *paramStore) answer(ref secretcache.Ref) *secretcache.Secret {
	if ref.VersionStage != "" {
		p.bad = append(p.bad, "stage "+ref.String())
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprint(p.version), String: "value of " + ref.ID}
}

func (p *paramStore) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bad = append(p.bad, "single fetch of "+ref.String())
	return p.answer(ref), nil
}

func (p *paramStore) FetchBatch(_ context.Context, refs []secretcache.Ref) []secretcache.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(refs) > 10 {
		p.bad = append(p.bad, fmt.Sprintf("batch of %d", len(refs)))
	}
	p.batches = append(p.batches, refs)
	out := make([]secretcache.Result, len(refs))
	for i, r := range refs {
		out[i].Secret = p.answer(r)
	}
	return out
}

// calls returns the batch calls so far and what the cache did wrong.
func (p *paramStore) calls() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.batches), append([]string(nil), p.bad...)
}

// TestSourceWithoutStagesBatchesOfTen: a source that batches 10 refs and
// has no stages says so in its Description and needs nothing else of the
// core. Warm of 25 ids makes 3 batch calls of at most 10, no ref carries a
// stage, answers without stages are served, and refresh-ahead batches by
// 10 as well.
func TestSourceWithoutStagesBatchesOfTen(t *testing.T) {
	src := &paramStore{version: 1}
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
	ids := make([]string, 25)
	for i := range ids {
		ids[i] = fmt.Sprintf("/app/param-%02d", i)
	}
	if err := c.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	if n, bad := src.calls(); n != 3 || len(bad) > 0 {
		t.Fatalf("Warm of 25: %d batch calls, want 3; %v", n, bad)
	}
	for _, id := range ids {
		if got := mustString(t, c, id); got != "value of "+id {
			t.Fatalf("%s: %q", id, got)
		}
	}
	for e := range c.Entries() {
		if e.Ref.VersionStage != "" || e.Metadata.VersionID != "1" {
			t.Fatalf("entry %+v", e)
		}
	}
	if st := c.Stats(); st.Hits != 25 || st.BackendCalls != 3 {
		t.Fatalf("stats %+v", st)
	}

	src.mu.Lock()
	src.version = 2
	src.mu.Unlock()
	clk.Advance(50 * time.Second) // into the refresh-ahead window
	mustString(t, c, ids[0])      // due: the other 24 go along
	c.WaitIdle()
	n, bad := src.calls()
	if n != 6 || len(bad) > 0 {
		t.Fatalf("refresh ahead of 25: %d batch calls in all, want 3 more; %v", n-3, bad)
	}
	for e := range c.Entries() {
		if e.Metadata.VersionID != "2" {
			t.Fatalf("not refreshed: %+v", e)
		}
	}
}

// TestHotReadsSeeEveryChange: an id read often enough to be answered by
// the cache's fast path still sees every Invalidate, Clear, Refresh and
// eviction at once: the next read fetches or returns the new version.
func TestHotReadsSeeEveryChange(t *testing.T) {
	src := newScript()
	src.set("hot", "one")
	c, _ := newCache(t, src, secretcache.WithMaxEntries(8))
	hot := func(want string) {
		t.Helper()
		for range 100 {
			if got := mustString(t, c, "hot"); got != want {
				t.Fatalf("read %q, want %q", got, want)
			}
		}
	}
	hot("one")
	steps := []struct {
		name string
		do   func()
	}{
		{"invalidate", func() { c.Invalidate("hot") }},
		{"clear", c.Clear},
		{"refresh", func() {
			if _, err := c.Refresh(ctx, "hot"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, step := range steps {
		want := fmt.Sprint("v", i)
		src.set("hot", want)
		step.do()
		hot(want)
	}
	// Eviction: fill the cache past its bound until "hot" is gone from the
	// store, then check that a read fetches it again.
	src.set("hot", "evicted")
	for i := 0; c.Stats().Evictions == 0 || stillCached(c, "hot"); i++ {
		id := fmt.Sprintf("filler-%d", i)
		src.set(id, "x")
		mustString(t, c, id)
		if i > 10000 {
			t.Skip("the store never evicted the hot entry")
		}
	}
	before := src.calls.Load()
	if got := mustString(t, c, "hot"); got != "evicted" || src.calls.Load() != before+1 {
		t.Fatalf("an evicted entry answered a read: %q", got)
	}
}

func stillCached(c *secretcache.Cache, id string) bool {
	for e := range c.Entries() {
		if e.Ref.ID == id {
			return true
		}
	}
	return false
}
