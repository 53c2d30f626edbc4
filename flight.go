package secretcache

import (
	"context"
	"errors"
	"time"
)

// Flights: the readers that need the source for one key wait on one fetch
// together, each for as long as its own context allows.

// flight is one fetch of a key that readers wait on together. It carries
// the generation of the key when it started: a reader that began after an
// Invalidate or Clear of the key does not take its answer.
type flight struct {
	done chan struct{}
	gen  uint64
	e    *entry
	err  error
}

// load fetches key through a flight and waits for it, for ctx, or for
// Close, and counts the read. old is the entry it replaces, if any; it is
// served stale when the fetch fails with a transient error, within
// WithMaxStale.
func (c *Cache) load(ctx context.Context, key string, o *getOptions, old *entry) (*entry, Outcome, error) {
	f := c.join(ctx, key, o.ttl, old)
	var err error
	select {
	case <-f.done:
		if f.err == nil {
			c.st.misses.inc()
			return f.e, OutcomeMiss, nil
		}
		err = f.err
	case <-ctx.Done():
		err = &Error{Kind: ErrUnavailable, Err: ctx.Err()}
	case <-c.done:
		err = &Error{Kind: ErrClosed}
	}
	if errors.Is(err, ErrClosed) {
		c.st.misses.inc()
		return nil, OutcomeError, err
	}
	if old != nil && old.hasValue() && IsTransient(err) && c.nowNano() < c.staleUntil(old) {
		c.staleHit(old)
		return old, OutcomeStale, nil
	}
	return c.fail(key, err, o)
}

// join returns the flight under way for key that began in the key's
// current generation, or starts one.
func (c *Cache) join(ctx context.Context, key string, ttl time.Duration, old *entry) *flight {
	gen := c.genOf(key)
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if f := c.flights[key]; f != nil && f.gen >= gen {
		return f
	}
	// None, or one begun before an Invalidate or Clear of the key: its
	// waiters keep it, later readers get a new one.
	f := &flight{done: make(chan struct{}), gen: gen}
	c.flights[key] = f
	fctx, cancel := c.detach(ctx)
	go func() {
		defer cancel()
		ctx, end := fctx, noEnd
		if c.cfg.tracer != nil {
			ctx, end = c.cfg.tracer.Start(fctx, TraceMiss, []Ref{c.refOf(key)})
		}
		f.e, f.err = c.fly(ctx, key, ttl, old, gen)
		end(f.err)
		c.flightMu.Lock()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		c.flightMu.Unlock()
		close(f.done)
	}()
	return f
}

func (c *Cache) fly(ctx context.Context, key string, ttl time.Duration, old *entry, gen uint64) (*entry, error) {
	if c.closed.Load() {
		return nil, &Error{Kind: ErrClosed}
	}
	// A flight that ended between the reader's lookup and join has stored
	// its answer already: use it rather than fetching again.
	if e, ok := c.store.GetIfPresent(key); ok && e != old {
		now := c.nowNano()
		if e.hasValue() && now < e.expireAt {
			return e, nil
		}
		if !e.hasValue() && now < e.fail.retryAt {
			return nil, e.fail.err
		}
	}
	return c.fetchAndStore(ctx, key, ttl, gen)
}

// detach returns a context for a fetch that outlives its first caller: it
// keeps ctx's values, not its cancellation, and ends at Close.
func (c *Cache) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.bgCtx, cancel)
	return ctx, func() { stop(); cancel() }
}
