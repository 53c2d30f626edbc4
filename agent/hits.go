package agent

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/secretcache/secretcache"
)

// refHits counts the reads of one cached ref.
type refHits struct {
	hits, stale, misses atomic.Uint64
}

// hitTable keeps read counts per ref for the status page: the core counts
// reads for the whole cache only. Failed reads are not counted, so that
// requests for made-up ids cannot grow it; it holds at most max refs.
type hitTable struct {
	m   sync.Map // refKey -> *refHits
	n   atomic.Int64
	max int64
}

// refKey names a ref the way the cache stores it: the bare id for the
// current version, else id@stage#version.
func refKey(r secretcache.Ref) string {
	if r.VersionID == "" && (r.VersionStage == "" || r.VersionStage == secretcache.DefaultStage) {
		return r.ID
	}
	return r.ID + "@" + r.VersionStage + "#" + r.VersionID
}

// hook is a secretcache read hook.
func (t *hitTable) hook(_ context.Context, ev secretcache.ReadEvent) {
	var c *refHits
	switch ev.Outcome {
	case secretcache.OutcomeHit, secretcache.OutcomeStale, secretcache.OutcomeMiss:
	default:
		return
	}
	k := refKey(ev.Ref)
	if v, ok := t.m.Load(k); ok {
		c = v.(*refHits)
	} else {
		if t.n.Load() >= t.max {
			return
		}
		v, loaded := t.m.LoadOrStore(k, new(refHits))
		if !loaded {
			t.n.Add(1)
		}
		c = v.(*refHits)
	}
	switch ev.Outcome {
	case secretcache.OutcomeHit:
		c.hits.Add(1)
	case secretcache.OutcomeStale:
		c.stale.Add(1)
	default:
		c.misses.Add(1)
	}
}

func (t *hitTable) get(k string) (hits, stale, misses uint64) {
	if v, ok := t.m.Load(k); ok {
		c := v.(*refHits)
		return c.hits.Load(), c.stale.Load(), c.misses.Load()
	}
	return 0, 0, 0
}

// prune forgets the refs that are no longer cached.
func (t *hitTable) prune(cached map[string]bool) {
	t.m.Range(func(k, _ any) bool {
		if !cached[k.(string)] {
			if _, loaded := t.m.LoadAndDelete(k); loaded {
				t.n.Add(-1)
			}
		}
		return true
	})
}
