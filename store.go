package secretcache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/secretcache/secretcache/internal/backoff"
)

// Storing: a fetch, its answer checked, and the entry (or the failure) it
// leaves in the store, unless an Invalidate, a Clear, Close or a newer
// fetch came first.

// fetch calls the source for one ref, counts it, times it and checks the
// answer.
func (c *Cache) fetch(ctx context.Context, ref Ref) (s *Secret, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.fetchTimeout)
	defer cancel()
	c.st.backendCalls.inc()
	start := c.clockNano()
	func() {
		defer c.recoverSource(&err, ref.ID)
		s, err = c.src.Fetch(ctx, ref)
	}()
	c.observe(ctx, start)
	return c.check(ref, s, err)
}

// recoverSource turns a panic of the source into a transient error: a
// background refresh has no caller to recover it, and the program must not
// die of it. The panic value, which may hold anything, is not kept.
func (c *Cache) recoverSource(err *error, id string) {
	if r := recover(); r != nil {
		c.cfg.logger.Error("secretcache: source panicked", "secret", id)
		*err = &Error{Kind: ErrUnavailable, Err: errors.New("source panicked")}
	}
}

// check counts a source's answer for ref and refuses one that is not a
// usable value of ref: never a wrong or empty secret.
func (c *Cache) check(ref Ref, s *Secret, err error) (*Secret, error) {
	if err == nil {
		err = c.mismatch(ref, s)
	}
	if err != nil {
		c.st.countError(err)
		return nil, err
	}
	return s, nil
}

func (c *Cache) mismatch(ref Ref, s *Secret) error {
	switch {
	case s == nil:
		return &Error{Kind: ErrMismatch, Err: errors.New("no secret and no error")}
	case s.String == "" && len(s.Binary) == 0:
		return &Error{Kind: ErrMismatch, Err: errors.New("no value (string and binary both empty)")}
	case s.String != "" && len(s.Binary) > 0:
		return &Error{Kind: ErrMismatch, Err: errors.New("both a string and a binary value")}
	case ref.VersionID != "" && s.VersionID != "" && s.VersionID != ref.VersionID:
		return &Error{Kind: ErrMismatch, Err: fmt.Errorf("asked for version %q, got %q", ref.VersionID, s.VersionID)}
	case ref.VersionStage != "" && len(s.VersionStages) > 0 && !s.HasStage(ref.VersionStage):
		return &Error{Kind: ErrMismatch, Err: fmt.Errorf("asked for stage %q, got %q", ref.VersionStage, s.VersionStages)}
	case !c.desc.SameSecret(ref.ID, s):
		return &Error{Kind: ErrMismatch, Err: fmt.Errorf("got secret %q (ARN %q)", s.Name, s.ARN)}
	}
	return nil
}

// fetchAndStore fetches key and stores the outcome, unless key's generation
// is no longer gen: the value, or on failure a cached failure (or a failure
// count on the value it had).
func (c *Cache) fetchAndStore(ctx context.Context, key string, ttl time.Duration, gen uint64) (*entry, error) {
	seq := c.seq.Add(1)
	s, err := c.fetch(ctx, c.refOf(key))
	if err != nil {
		c.storeFailure(key, err, gen, seq, nil)
		return nil, err
	}
	e := c.newEntry(key, s, c.clockNano(), ttl, seq)
	if !c.install(e, gen, nil) {
		if cur, ok := c.store.GetIfPresent(key); ok && olderVersion(e, cur) {
			return cur, nil // the cache holds a version read later: that is the answer
		}
	}
	return e, nil
}

// ttlFor returns the TTL of a secret: the first matching policy, or the default.
func (c *Cache) ttlFor(key string, s *Secret) time.Duration {
	name := s.Name
	if name == "" {
		name = c.desc.NameOf(idOfKey(key))
	}
	for _, p := range c.cfg.policies {
		if glob(p.pattern, name) {
			return p.ttl
		}
	}
	return c.cfg.ttl
}

// newEntry makes the entry for a checked answer s fetched for key. Its
// refresh-ahead window is the configured fraction of the TTL, widened to
// the lead the measured backend latency asks for (up to half the TTL).
func (c *Cache) newEntry(key string, s *Secret, now int64, ttl time.Duration, seq uint64) *entry {
	if ttl <= 0 {
		ttl = c.ttlFor(key, s)
	}
	e := &entry{key: key, seq: seq, ttl: ttl, fetchedAt: now}
	var flags uint32
	e.val, flags = c.compact(key, s)
	e.flags.Store(flags)
	if pinned(key) { // a version never changes
		e.refreshAt, e.expireAt = math.MaxInt64, math.MaxInt64
	} else {
		e.expireAt = satAdd(now, int64(ttl))
		ahead := int64(float64(ttl) * c.cfg.refreshAhead)
		if ahead > 0 {
			ahead = max(ahead, min(c.lat.lead.Load(), int64(ttl/2)))
		}
		e.refreshAt = e.expireAt - ahead
		if age := relayedAge(s, now, ttl, ahead); age > 0 {
			e.fetchedAt -= age
			e.expireAt -= age
			e.refreshAt -= age
		}
	}
	e.size = e.footprint()
	return e
}

// relayedAge is how much older than now the answer s is: the age its
// source reports (Secret.FetchedAt), and 0 for a time in the future. It is
// at most what leaves the entry due for refresh half its refresh-ahead
// window from now (half the TTL from now with no refresh ahead): a
// relayed answer is never stored expired, and a source that keeps
// relaying the same old answer is asked again at that pace, not on every
// read.
func relayedAge(s *Secret, now int64, ttl time.Duration, ahead int64) int64 {
	if s.FetchedAt.IsZero() {
		return 0
	}
	limit := int64(ttl) - ahead - ahead/2
	if ahead <= 0 {
		limit = int64(ttl / 2)
	}
	return min(max(now-s.FetchedAt.UnixNano(), 0), max(limit, 0))
}

// olderVersion reports whether e holds another version than cur, read
// from its origin before cur was: a relayed answer (Secret.FetchedAt) older
// than what the cache holds, which must not roll the cache back (a host
// that read a new version directly while the shared cache still held the
// old one).
func olderVersion(e, cur *entry) bool {
	return cur.hasValue() && e.fetchedAt < cur.fetchedAt && e.val.versionID != cur.val.versionID
}

// install stores e unless the cache was closed or key's generation is no
// longer gen, unless the stored entry came from a fetch that started later
// than e's, or, with expect set, unless the stored entry is no longer
// expect. It reports a new version to the change callbacks.
func (c *Cache) install(e *entry, gen uint64, expect *entry) bool {
	var prev *entry
	ok := false
	c.invMu.RLock()
	c.store.Compute(e.key, func(cur *entry, found bool) (*entry, otter.ComputeOp) {
		if c.closed.Load() || c.genOf(e.key) != gen || (expect != nil && cur != expect) || (found && cur.seq > e.seq) ||
			(found && olderVersion(e, cur)) {
			return cur, otter.CancelOp
		}
		ok = true
		if found {
			prev = cur
		}
		return e, otter.WriteOp
	})
	c.invMu.RUnlock()
	if !ok {
		return false
	}
	if prev != nil && prev.hasValue() && prev.val.versionID != e.val.versionID {
		c.st.versionChanges.inc()
		c.notify(ChangeEvent{Ref: c.refOf(e.key), Old: prev.metadata(), New: e.metadata()})
	}
	return true
}

// storeFailure records a failed fetch of key that started at seq: a
// permanent error drops the value (a revoked secret must not live on) and
// caches the failure; a transient one keeps the value and backs off. A
// failure older than the stored value, or from before an Invalidate or
// Clear, changes nothing.
func (c *Cache) storeFailure(key string, err error, gen, seq uint64, expect *entry) {
	now := c.clockNano()
	c.invMu.RLock()
	defer c.invMu.RUnlock()
	c.store.Compute(key, func(cur *entry, found bool) (*entry, otter.ComputeOp) {
		if c.closed.Load() || c.genOf(key) != gen || (expect != nil && cur != expect) || (found && cur.seq > seq) {
			return cur, otter.CancelOp
		}
		count := 1
		if found {
			count = cur.failures() + 1
		}
		f := &failure{err: err, count: count, retryAt: now + int64(backoff.Delay(c.cfg.backoffBase, c.cfg.backoffMax, count))}
		if found && cur.hasValue() && !IsPermanent(err) {
			return cur.withFailure(f), otter.WriteOp
		}
		if found && cur.hasValue() {
			c.cfg.logger.Warn("secretcache: dropping cached secret after permanent error",
				"secret", idOfKey(key), "kind", KindName(err))
		}
		f.noValue = true
		e := &entry{key: key, seq: seq, fail: f}
		e.size = e.footprint()
		return e, otter.WriteOp
	})
}
