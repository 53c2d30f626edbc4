package secretcache

import (
	"context"
	"errors"
	"time"
)

// The read path: a read looks its key up in the store and answers a fresh
// entry at once; anything else (due, expired, a cached failure, a miss)
// goes to slow, which may wait for a fetch (flight.go).

// Outcome is how a read was answered.
type Outcome uint8

// Read outcomes.
const (
	OutcomeHit      Outcome = iota // from cache, fresh
	OutcomeMiss                    // fetched from the source
	OutcomeStale                   // from cache, past its TTL, because the source failed
	OutcomeFallback                // the caller's fallback value
	OutcomeError                   // an error was returned
)

func (o Outcome) String() string {
	switch o {
	case OutcomeHit:
		return "hit"
	case OutcomeMiss:
		return "miss"
	case OutcomeStale:
		return "stale"
	case OutcomeFallback:
		return "fallback"
	}
	return "error"
}

// ReadEvent describes one read, for WithReadHook. It carries no value.
type ReadEvent struct {
	Ref       Ref           // what was asked for
	VersionID string        // the version returned, if any
	Outcome   Outcome       // how it was answered
	Latency   time.Duration // how long the read took
	Err       error         // the error returned, for OutcomeError
}

// Get returns the secret version, from cache when it can. The result is the
// caller's own copy. See GetString for the allocation-free read.
func (c *Cache) Get(ctx context.Context, id string, opts ...GetOption) (*Secret, error) {
	e, err := c.read(ctx, "get", id, opts)
	if err != nil {
		return nil, err
	}
	return e.secret(), nil
}

// GetString returns the string value of the secret. It fails with
// ErrWrongType for a binary secret. A cached read allocates nothing.
func (c *Cache) GetString(ctx context.Context, id string, opts ...GetOption) (string, error) {
	e, err := c.read(ctx, "get", id, opts)
	if err != nil {
		return "", err
	}
	if e.binary() {
		return "", &Error{Op: "get", ID: id, Kind: ErrWrongType, Err: errors.New("secret is binary; use GetBinary")}
	}
	return e.val.data, nil
}

// GetBinary returns a copy of the binary value of the secret. It fails with
// ErrWrongType for a string secret.
func (c *Cache) GetBinary(ctx context.Context, id string, opts ...GetOption) ([]byte, error) {
	e, err := c.read(ctx, "get", id, opts)
	if err != nil {
		return nil, err
	}
	if !e.binary() {
		return nil, &Error{Op: "get", ID: id, Kind: ErrWrongType, Err: errors.New("secret is a string; use GetString")}
	}
	return []byte(e.val.data), nil
}

// read answers one read for the public method op, labels its error with op
// and id (the one place a read's error is wrapped) and reports the read to
// the read hooks.
func (c *Cache) read(ctx context.Context, op, id string, opts []GetOption) (*entry, error) {
	if c.cfg.onRead == nil {
		e, _, err := c.lookup(ctx, id, opts)
		if err != nil {
			return nil, wrap(op, id, err)
		}
		return e, nil
	}
	start := time.Now()
	e, out, err := c.lookup(ctx, id, opts)
	if err != nil {
		err = wrap(op, id, err)
	}
	ev := ReadEvent{Outcome: out, Latency: time.Since(start), Err: err}
	o := applyOptions(opts)
	ev.Ref = Ref{ID: id, VersionStage: o.stage, VersionID: o.versionID}
	if e != nil {
		ev.VersionID = e.val.versionID
	}
	for _, fn := range c.cfg.onRead {
		fn(ctx, ev)
	}
	return e, err
}

// lookup answers a read of id. The common read (an id, no options) asks
// the front first, then the store, before validating the id: a stored key
// was validated when it was stored, and the keys of other stages and
// versions begin with a NUL, which no valid id does. No closed check
// before the store either: Close empties the store and install refuses to
// store after Close, so a closed cache has nothing to hit.
func (c *Cache) lookup(ctx context.Context, id string, opts []GetOption) (*entry, Outcome, error) {
	common := len(opts) == 0 && id != "" && id[0] != 0
	var e *entry
	if common {
		e = c.front.get(id)
	}
	key, inFront := id, e != nil
	if !inFront {
		var o getOptions
		if !common {
			o = applyOptions(opts)
			k, err := c.makeKey(id, &o)
			if err != nil {
				return nil, OutcomeError, err
			}
			key = k
		}
		var ok bool
		if e, ok = c.store.GetIfPresent(key); !ok {
			return c.miss(ctx, id, key, &o, common)
		}
		if common {
			c.front.put(id, e)
		}
		if now := c.nowNano(); now >= e.refreshAt {
			return c.slow(ctx, key, e, now, &o)
		}
	} else if now := c.nowNano(); now >= e.refreshAt {
		return c.slow(ctx, key, e, now, &getOptions{})
	}
	if n := c.st.hits.add(1); inFront && sampled(n) {
		c.store.GetIfPresent(key) // so that the store's eviction sees the read
	}
	e.touch()
	return e, OutcomeHit, nil
}

// miss answers a read that found nothing cached for key; unchecked: id is
// not validated yet.
func (c *Cache) miss(ctx context.Context, id, key string, o *getOptions, unchecked bool) (*entry, Outcome, error) {
	if unchecked {
		if _, err := c.makeKey(id, o); err != nil {
			return nil, OutcomeError, err
		}
	}
	if c.closed.Load() {
		return nil, OutcomeError, &Error{Kind: ErrClosed}
	}
	return c.load(ctx, key, o, nil)
}

// makeKey validates a read of id with o and returns its store key: the
// bare id for the source's default stage (so the common read builds no
// key), else NUL, stage, NUL, version, NUL, id. No valid id contains a
// NUL. c.refOf gives the ref back.
func (c *Cache) makeKey(id string, o *getOptions) (string, error) {
	if err := CheckID(id); err != nil {
		return "", invalid(err)
	}
	if o.err != nil {
		return "", o.err
	}
	if o.versionID == "" && (o.stage == "" || o.stage == c.desc.DefaultStage) {
		return id, nil
	}
	return "\x00" + o.stage + "\x00" + o.versionID + "\x00" + id, nil
}

// slow answers a read whose entry is due for refresh, expired, or a cached
// failure.
func (c *Cache) slow(ctx context.Context, key string, e *entry, now int64, o *getOptions) (*entry, Outcome, error) {
	switch {
	case !e.hasValue(): // a cached failure
		if now < e.fail.retryAt {
			return c.fail(key, e.fail.err, o)
		}
		return c.load(ctx, key, o, e)
	case now < e.expireAt: // fresh, but due for refresh
		c.st.hits.inc()
		e.touch()
		c.scheduleRefresh(e, now)
		return e, OutcomeHit, nil
	case e.fail != nil && now < c.staleUntil(e): // expired while the source fails
		c.staleHit(e)
		c.scheduleRefresh(e, now)
		return e, OutcomeStale, nil
	}
	c.st.refreshExpiry.inc()
	return c.load(ctx, key, o, e)
}

func (c *Cache) staleHit(e *entry) {
	c.st.staleHits.inc()
	e.touch()
}

// fail answers a read of key that needed the source and failed with err:
// with err, or with the caller's fallback.
func (c *Cache) fail(key string, err error, o *getOptions) (*entry, Outcome, error) {
	c.st.misses.inc()
	if o.hasFallback {
		c.st.fallbacks.inc()
		return &entry{val: value{name: idOfKey(key), data: o.fallback}}, OutcomeFallback, nil
	}
	return nil, OutcomeError, err
}
