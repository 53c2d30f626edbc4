package rotate

import (
	"context"
	"errors"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// onChange runs on the cache's refresher goroutine: it only sets a flag.
func (r *Rotating[T]) onChange(ev secretcache.ChangeEvent) {
	if ev.Ref.ID != r.id || !awsname.IsCurrent(ev.Ref) {
		return
	}
	r.trigger(flagCheck)
}

func (r *Rotating[T]) trigger(f uint32) {
	r.flags.Or(f)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// worker runs the rotations that callbacks, polls and retries ask for.
func (r *Rotating[T]) worker() {
	defer r.wg.Done()
	ctx := r.life
	var pollC <-chan time.Time
	if r.o.poll > 0 {
		t := time.NewTicker(r.o.poll)
		defer t.Stop()
		pollC = t.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-pollC:
			r.flags.Or(flagCheck)
		case <-retry.C:
			r.flags.Or(flagRefresh)
		}
		f := r.flags.Swap(0)
		if f == 0 {
			continue
		}
		if r.lock(ctx) != nil {
			return
		}
		if r.state.Load() == stateStarted {
			_ = r.attempt(ctx, f)
		}
		r.unlock()
		r.mu.Lock()
		next := r.nextRetry
		r.mu.Unlock()
		retry.Stop()
		if !next.IsZero() {
			retry.Reset(max(time.Until(next), time.Millisecond))
		}
	}
}

// attempt does one rotation check with the rotation slot held.
func (r *Rotating[T]) attempt(ctx context.Context, f uint32) error {
	s, err := r.read(ctx, f)
	if err != nil {
		if errors.Is(err, secretcache.ErrClosed) || ctx.Err() != nil {
			return r.err("read", "", nil, err)
		}
		err = r.err("read", "", nil, err)
		r.failed("", err)
		return err
	}
	cur := r.cur.Load()
	if cur != nil && s.VersionID == cur.meta.VersionID && f&flagForce == 0 {
		if f&flagFailure != 0 && r.spec.Validate != nil {
			// The secret did not change: is the resource in use still good?
			vctx, cancel := context.WithTimeout(ctx, r.o.timeout)
			verr := r.spec.Validate(vctx, cur.val)
			cancel()
			if verr != nil {
				err := r.err("validate", s.VersionID, ErrValidation, verr)
				r.failed("", err)
				return err
			}
		}
		r.recovered()
		return nil
	}
	if f&(flagRefresh|flagForce|flagFailure) == 0 && r.backingOff(s.VersionID) {
		// A poll or a change callback found the version that failed last
		// time: it is tried again when the backoff says so (the retry
		// timer), not at every poll. For a database each attempt is a
		// login refused, and enough of them can lock the account.
		return nil
	}
	if r.o.tracer != nil {
		tctx, end := r.o.tracer.Start(ctx, secretcache.TraceRotation, []secretcache.Ref{{ID: r.id, VersionID: s.VersionID}})
		err := r.rotate(tctx, s)
		end(err)
		return err
	}
	return r.rotate(ctx, s)
}

// rotate builds a resource from s and puts it in use.
func (r *Rotating[T]) rotate(ctx context.Context, s *secretcache.Secret) error {
	g, err := r.build(ctx, s)
	if err != nil {
		if r.life.Err() != nil {
			return r.err("rotate", s.VersionID, ErrClosed, err)
		}
		r.failed(s.VersionID, err)
		return err
	}
	if r.life.Err() != nil {
		r.closeGen(g)
		return r.err("rotate", s.VersionID, ErrClosed, nil)
	}
	r.swap(g)
	return nil
}

// read gets the secret for an attempt f: refreshed when f asks; after a
// failed use, refreshed only while the cache still holds the version in use
// (a conditional Refresh: it joins a refresh of the secret under way, and
// makes no call when the cache has another version already); else cached.
func (r *Rotating[T]) read(ctx context.Context, f uint32) (*secretcache.Secret, error) {
	switch cur := r.cur.Load(); {
	case f&flagRefresh != 0 || (f&flagFailure != 0 && cur == nil):
		return r.cache.Refresh(ctx, r.id)
	case f&flagFailure != 0:
		return r.cache.Refresh(ctx, r.id, secretcache.IfVersion(cur.meta.VersionID))
	}
	return r.cache.Get(ctx, r.id)
}

// build makes and validates a resource from s, closing it on failure.
func (r *Rotating[T]) build(ctx context.Context, s *secretcache.Secret) (*generation[T], error) {
	bctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	v, err := r.spec.Build(bctx, s)
	if err != nil {
		return nil, r.err("build", s.VersionID, ErrBuild, err)
	}
	g := &generation[T]{val: v, meta: s.Metadata(), builtAt: time.Now(), closed: make(chan struct{})}
	if r.spec.Validate != nil {
		if err := r.spec.Validate(bctx, v); err != nil {
			r.closeGen(g)
			return nil, r.err("validate", s.VersionID, ErrValidation, err)
		}
	}
	return g, nil
}

// swap puts g in use and retires the resource it replaces.
func (r *Rotating[T]) swap(g *generation[T]) {
	old := r.cur.Swap(g)
	r.mu.Lock()
	r.rotations++
	r.lastRot = g.builtAt
	r.failures, r.pendingV, r.nextRetry = 0, "", time.Time{}
	if old != nil {
		r.retired = append(r.retired, old)
	}
	r.mu.Unlock()
	oldV := ""
	if old != nil {
		oldV = old.meta.VersionID
		if r.o.drain <= 0 {
			r.closeGen(old)
		} else {
			time.AfterFunc(r.o.drain, func() { r.closeGen(old) })
		}
	}
	r.o.logger.Info("rotate: resource rotated", "resource", r.o.name, "secret", r.id,
		"old_version", oldV, "new_version", g.meta.VersionID)
}

// closeGen closes g once and forgets it.
func (r *Rotating[T]) closeGen(g *generation[T]) {
	g.once.Do(func() {
		defer close(g.closed)
		r.mu.Lock()
		for i, x := range r.retired {
			if x == g {
				r.retired = append(r.retired[:i], r.retired[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.o.logger.Error("rotate: Close panicked", "resource", r.o.name, "secret", r.id, "version", g.meta.VersionID)
				}
			}()
			if err := r.spec.Close(g.val); err != nil {
				r.o.logger.Warn("rotate: closing a replaced resource failed", "resource", r.o.name,
					"secret", r.id, "version", g.meta.VersionID, "kind", errorKind(err))
			}
		}()
	})
}
