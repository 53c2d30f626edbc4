package secretcache

import (
	"context"
	"time"
)

// Forced refreshes: Refresh, and its conditional forms (IfVersion,
// IfOlderThan), the one "refresh after a failure, shared by everyone who
// asks" of this module.

// Refresh fetches the secret now, bypassing the cache, stores it and returns
// it (the caller's copy). The fetch always starts after the call: callers
// that arrive while a fetch of the same secret is under way share the next
// one, so one burst of callers (many connections refused at once) costs at
// most two fetches. IfVersion and IfOlderThan make it conditional: it may
// then answer from the cache, and it joins the fetch under way. On a
// permanent error the cached value is dropped; on a transient one it is
// kept. Close ends the wait with ErrClosed.
func (c *Cache) Refresh(ctx context.Context, id string, opts ...GetOption) (*Secret, error) {
	e, err := c.refresh(ctx, id, opts)
	if err != nil {
		return nil, wrap("refresh", id, err)
	}
	return e.secret(), nil
}

// forcedKey marks the context of a Refresh's fetch (Forced).
type forcedKey struct{}

// Forced reports whether a Source's Fetch runs for Refresh (ok): a caller
// found the cached value refused (a login refused after a rotation, say),
// or was told it changed, and asks for the backend's answer now. after is
// when the value the cache holds was read from its origin (zero: it holds
// none). A source that relays earlier reads (a shared cache such as
// package fleet) may answer with a read made after it, never with that one
// or an older one.
func Forced(ctx context.Context) (after time.Time, ok bool) {
	v, ok := ctx.Value(forcedKey{}).(time.Time)
	return v, ok
}

func (c *Cache) refresh(ctx context.Context, id string, opts []GetOption) (*entry, error) {
	o := applyOptions(opts)
	key, err := c.makeKey(id, &o)
	if err != nil {
		return nil, err
	}
	if c.closed.Load() {
		return nil, &Error{Kind: ErrClosed}
	}
	f, cached := c.joinForced(ctx, key, &o)
	if cached != nil {
		return cached, nil
	}
	c.st.refreshForced.inc()
	select {
	case <-f.done:
		return f.e, f.err
	case <-ctx.Done():
		return nil, &Error{Kind: ErrUnavailable, Err: ctx.Err()}
	case <-c.done:
		return nil, &Error{Kind: ErrClosed}
	}
}

// forced is one Refresh fetch; forceState holds the one running for a key
// and the one that will start when it ends.
type forced struct {
	done chan struct{}
	e    *entry
	err  error
}

type forceState struct{ running, next *forced }

// joinForced returns the Refresh fetch of key to wait for: a new one, the
// next one when one is under way, or, for a conditional Refresh, the one
// under way. A conditional Refresh that the cached entry satisfies gets
// the entry instead. The entry is looked at under forceMu, after the
// fetches that ended stored their answers, so no caller fetches again what
// a fetch it could have joined just stored.
func (c *Cache) joinForced(ctx context.Context, key string, o *getOptions) (*forced, *entry) {
	c.forceMu.Lock()
	defer c.forceMu.Unlock()
	st := c.forcing[key]
	if st != nil && o.conditional() {
		return st.running, nil
	}
	if o.conditional() {
		if e, ok := c.store.GetIfPresent(key); ok && o.satisfied(e, c.clockNano()) {
			return nil, e
		}
	}
	if c.forcing == nil {
		c.forcing = map[string]*forceState{}
	}
	if st == nil {
		st = &forceState{}
		c.forcing[key] = st
	}
	if st.running != nil { // under way since before this call: wait for the next one
		if st.next == nil {
			st.next = &forced{done: make(chan struct{})}
		}
		return st.next, nil
	}
	st.running = &forced{done: make(chan struct{})}
	fctx, cancel := c.detach(ctx)
	go c.runForced(fctx, cancel, key, o.ttl, st)
	return st.running, nil
}

func (c *Cache) runForced(ctx context.Context, cancel context.CancelFunc, key string, ttl time.Duration, st *forceState) {
	defer cancel()
	for {
		f := st.running
		if c.closed.Load() {
			f.err = &Error{Kind: ErrClosed}
		} else {
			var after time.Time
			if e, ok := c.store.GetIfPresent(key); ok && e.hasValue() {
				after = time.Unix(0, e.fetchedAt)
			}
			fctx, end := context.WithValue(ctx, forcedKey{}, after), noEnd
			if c.cfg.tracer != nil {
				fctx, end = c.cfg.tracer.Start(ctx, TraceRefresh, []Ref{c.refOf(key)})
			}
			f.e, f.err = c.fetchAndStore(fctx, key, ttl, c.genOf(key))
			end(f.err)
		}
		c.forceMu.Lock()
		st.running, st.next = st.next, nil
		if st.running == nil {
			delete(c.forcing, key)
		}
		c.forceMu.Unlock()
		close(f.done)
		if st.running == nil {
			return
		}
	}
}
