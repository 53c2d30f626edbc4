package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
)

// listingSource is namedSource that also lists fixed names.
type listingSource struct {
	namedSource
	names []string
}

func (s listingSource) ListNames(_ context.Context, prefix string) ([]string, error) {
	var out []string
	for _, n := range s.names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// A listed name the cache would refuse is reported as failed; the others
// are fetched and counted.
func TestPrefetchReportsInvalidListedNames(t *testing.T) {
	bad := []string{"app/has space", "app/rep\uFFFD", "app/ctl\x01"}
	e := newEnv(t, envOpt{
		cfg: func(c *Config) { c.PrefetchPrefix = []string{"app/"} },
		source: func(*smtest.Server) secretcache.Source {
			return listingSource{names: append([]string{"app/a", "app/b"}, bad...)}
		},
	})
	e.waitReady()
	st := e.a.Status().Prefetch
	if st.IDs != 5 || st.Fetched != 2 || len(st.Failed) != 3 || st.Attempts != 1 {
		t.Fatalf("prefetch status %+v", st)
	}
	for _, id := range bad {
		if st.Failed[id] != "invalid_request" {
			t.Errorf("%q: %q", id, st.Failed[id])
		}
	}
	cached := e.a.cachedIDs([]string{"app/a", "app/b"})
	if !cached["app/a"] || !cached["app/b"] {
		t.Errorf("cached %v", cached)
	}
}

// clearingSource clears the agent's cache during the first fetch, so that
// Warm succeeds (nil error) but stores nothing.
type clearingSource struct {
	namedSource
	agent   atomic.Pointer[Agent]
	cleared atomic.Bool
}

func (s *clearingSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	if a := s.agent.Load(); a != nil && s.cleared.CompareAndSwap(false, true) {
		a.Cache().Clear()
	}
	return s.namedSource.Fetch(ctx, ref)
}

// An id counts as fetched only when the cache holds it, not because Warm
// named no error for it.
func TestPrefetchCountsOnlyCachedIDs(t *testing.T) {
	src := &clearingSource{}
	e := newEnv(t, envOpt{
		cfg:    func(c *Config) { c.Prefetch = []string{"x", "y"} },
		source: func(*smtest.Server) secretcache.Source { return src },
	})
	e.waitReady()
	e.a.Cache().Clear()
	src.agent.Store(e.a)
	if err := e.a.Prefetch(context.Background()); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	st := e.a.Status().Prefetch
	if st.Attempts != 2 || st.Fetched != 2 || len(st.Failed) != 0 {
		t.Fatalf("prefetch status %+v, want 2 rounds (the first one stored nothing), 2 fetched", st)
	}
	if c := e.a.cachedIDs([]string{"x", "y"}); !c["x"] || !c["y"] {
		t.Fatalf("cached %v", c)
	}
}
