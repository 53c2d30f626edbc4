package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// refHits is what the agent keeps per cached ref: its read counts and the
// answer last built for it.
type refHits struct {
	hits, stale, misses atomic.Uint64
	ans                 atomic.Pointer[answer]
}

// hitTable keeps read counts per ref for the status page (the core counts
// reads for the whole cache only) and the precomputed answers. Failed reads
// are not counted, so that requests for made-up ids cannot grow it; it holds
// at most max refs. The cache's read hook adds refs; the handler only looks
// them up.
type hitTable struct {
	m   sync.Map // refKey -> *refHits
	n   atomic.Int64
	max int64
}

// refKey names a ref the way the cache stores it: the bare id for the
// current version, else id@stage#version.
func refKey(r secretcache.Ref) string {
	if awsname.IsCurrent(r) {
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

// answer returns the answer for sec, just read for the ref named key: the
// one kept for the ref when it was built from an equal secret, else a new
// one, kept for the next reads. kept is false when the ref has no place in
// the table (it is full): the answer is then the caller's alone.
func (t *hitTable) answer(key string, sec *secretcache.Secret) (a *answer, kept bool) {
	v, ok := t.m.Load(key)
	if !ok {
		return newAnswer(sec), false
	}
	c := v.(*refHits)
	if old := c.ans.Load(); old != nil && sameAnswer(old.sec, sec) {
		if sec.Binary == nil && !sharesValue(old.sec, sec) {
			// The same version fetched again: keep the bodies, and
			// compare with the new copy of the value from now on (a
			// binary value is a fresh copy at every read: compared).
			c.ans.CompareAndSwap(old, &answer{sec: sec, bodies: old.bodies})
		}
		return old, true
	}
	a = newAnswer(sec)
	c.ans.Store(a)
	return a, true
}

func (t *hitTable) get(k string) (hits, stale, misses uint64) {
	if v, ok := t.m.Load(k); ok {
		c := v.(*refHits)
		return c.hits.Load(), c.stale.Load(), c.misses.Load()
	}
	return 0, 0, 0
}

// prune forgets the refs that are no longer cached, and the answers of
// versions that are no longer the cached one (cached maps a ref to the
// version id the cache holds for it).
func (t *hitTable) prune(cached map[string]string) {
	t.m.Range(func(k, v any) bool {
		version, ok := cached[k.(string)]
		if !ok {
			if _, loaded := t.m.LoadAndDelete(k); loaded {
				t.n.Add(-1)
			}
			return true
		}
		c := v.(*refHits)
		if a := c.ans.Load(); a != nil && a.sec.VersionID != version {
			c.ans.CompareAndSwap(a, nil)
		}
		return true
	})
}

// pruneEvery is how often Serve drops the read counts and answers of refs
// the cache no longer holds (Status does it too), so that the value bytes
// of an answer do not outlive the cached version by more than this.
const pruneEvery = 30 * time.Second

func (a *Agent) pruneLoop(stop <-chan struct{}) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			a.pruneRefs()
		}
	}
}

// pruneRefs forgets what the hit table holds for refs that are no longer
// cached, or for versions that are no longer the cached one.
func (a *Agent) pruneRefs() {
	cached := map[string]string{}
	for e := range a.cache.Entries() {
		cached[refKey(e.Ref)] = e.Metadata.VersionID
	}
	a.hits.prune(cached)
}
