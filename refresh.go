package secretcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// scheduleRefresh hands e to the background refresher once: readers never
// wait for it.
func (c *Cache) scheduleRefresh(e *entry, now int64) {
	if e.ref.VersionID != "" || now < e.retryAt || !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.pending.Add(1)
	select {
	case c.refreshCh <- e:
	default: // the refresher is saturated; a later read tries again
		c.pending.Add(-1)
		e.refreshing.Store(false)
	}
}

// refresher gathers entries due for refresh for a short window, adds the
// entries that would fall due soon anyway, and refreshes them in batches.
// Entries refreshed together fall due together again, so a steady set of
// secrets converges to a few batch calls per TTL.
func (c *Cache) refresher() {
	defer c.wg.Done()
	for {
		var first *entry
		select {
		case <-c.done:
			return
		case first = <-c.refreshCh:
		}
		due := []*entry{first}
		if c.cfg.batchWindow > 0 && c.batch != nil {
			t := time.NewTimer(c.cfg.batchWindow)
		gather:
			for {
				select {
				case e := <-c.refreshCh:
					due = append(due, e)
				case <-t.C:
					break gather
				case <-c.done:
					t.Stop()
					return
				}
			}
		}
		for {
			select {
			case e := <-c.refreshCh:
				due = append(due, e)
				continue
			default:
			}
			break
		}
		if c.batch != nil {
			due = c.addCompanions(due)
		}
		c.refreshEntries(c.bgCtx, due)
	}
}

// addCompanions adds to due the entries that are read, past half their TTL
// and not yet due: one batch call refreshes them now instead of one call each
// later.
func (c *Cache) addCompanions(due []*entry) []*entry {
	now := c.clockNano()
	for _, e := range c.store.All() {
		if e.secret == nil || e.ref.VersionID != "" || !e.read.Load() || now < e.retryAt ||
			now < e.fetchedAt+int64(e.ttl/2) || e.refreshing.Load() {
			continue
		}
		if e.refreshing.CompareAndSwap(false, true) {
			c.pending.Add(1)
			due = append(due, e)
		}
	}
	return due
}

// refreshEntries refreshes the entries in the background: in batches of
// MaxBatch through a BatchSource, else one call each, eight at a time.
func (c *Cache) refreshEntries(ctx context.Context, due []*entry) {
	gen := c.gen.Load()
	c.st.refreshAhead.add(uint64(len(due)))
	if c.batch != nil {
		for chunk := range slices.Chunk(due, MaxBatch) {
			refs := make([]Ref, len(chunk))
			for i, e := range chunk {
				refs[i] = e.ref
			}
			seq := c.seq.Add(1)
			res := c.fetchBatch(ctx, refs)
			for i, e := range chunk {
				c.applyRefresh(e, res[i].Secret, res[i].Err, gen, seq)
			}
		}
		return
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, e := range due {
		g.Go(func() error {
			seq := c.seq.Add(1)
			s, err := c.fetch(ctx, e.ref)
			c.applyRefresh(e, s, err, gen, seq)
			return nil
		})
	}
	_ = g.Wait()
}

// fetchBatch calls the batch source once and checks every answer.
func (c *Cache) fetchBatch(ctx context.Context, refs []Ref) []Result {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.fetchTimeout)
	defer cancel()
	c.st.backendCalls.inc()
	res := c.batch.FetchBatch(ctx, refs)
	out := make([]Result, len(refs))
	for i, ref := range refs {
		if i >= len(res) {
			out[i].Err = c.countedErr(ref, &Error{Kind: ErrMismatch, Err: errors.New("batch source returned too few results")})
			continue
		}
		out[i].Secret, out[i].Err = c.check(ref, res[i].Secret, res[i].Err)
	}
	return out
}

func (c *Cache) countedErr(ref Ref, err error) error {
	_, err = c.check(ref, nil, err)
	return err
}

// applyRefresh stores the outcome of refreshing old, if old is still the
// cached entry.
func (c *Cache) applyRefresh(old *entry, s *Secret, err error, gen, seq uint64) {
	defer c.pending.Add(-1)
	defer old.refreshing.Store(false)
	if err != nil {
		c.cfg.logger.Warn("secretcache: background refresh failed", "secret", old.ref.ID,
			"kind", KindName(err), "transient", IsTransient(err))
		c.storeFailure(old.key, old.ref, err, gen, seq, old)
		return
	}
	c.install(c.newEntry(old.key, old.ref, s, c.clockNano(), old.ttl, seq), gen, old)
}

// Refresh fetches the secret now, bypassing the cache, stores it and returns
// it (the caller's copy). The fetch always starts after the call: callers
// that arrive while a fetch of the same secret is under way share the next
// one, so one burst of callers (many connections refused at once) costs at
// most two fetches. On a permanent error the cached value is dropped; on a
// transient one it is kept.
func (c *Cache) Refresh(ctx context.Context, id string, opts ...GetOption) (*Secret, error) {
	o := applyOptions(opts)
	key, ref, err := makeKey(id, o.stage, o.versionID)
	if err != nil {
		return nil, c.invalidArg("refresh", id, err)
	}
	if c.closed.Load() {
		return nil, &Error{Op: "refresh", ID: id, Kind: ErrClosed}
	}
	c.st.refreshForced.inc()
	f := c.joinForced(context.WithoutCancel(ctx), key, ref, o.ttl)
	select {
	case <-f.done:
		if f.err != nil {
			return nil, wrap("refresh", id, f.err)
		}
		return f.e.secret.Clone(), nil
	case <-ctx.Done():
		return nil, &Error{Op: "refresh", ID: id, Kind: ErrUnavailable, Err: ctx.Err()}
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

func (c *Cache) joinForced(ctx context.Context, key string, ref Ref, ttl time.Duration) *forced {
	c.forceMu.Lock()
	defer c.forceMu.Unlock()
	if c.forcing == nil {
		c.forcing = map[string]*forceState{}
	}
	st := c.forcing[key]
	if st == nil {
		st = &forceState{}
		c.forcing[key] = st
	}
	if st.running != nil { // under way since before this call: wait for the next one
		if st.next == nil {
			st.next = &forced{done: make(chan struct{})}
		}
		return st.next
	}
	st.running = &forced{done: make(chan struct{})}
	go c.runForced(ctx, key, ref, ttl, st)
	return st.running
}

func (c *Cache) runForced(ctx context.Context, key string, ref Ref, ttl time.Duration, st *forceState) {
	for {
		f := st.running
		f.e, f.err = c.fetchAndStore(ctx, key, ref, ttl)
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

// Warm fetches the ids that are not cached yet, in batches of MaxBatch when
// the source can, so that first reads hit. An invalid id (empty, oversized,
// with spaces or control characters) is reported and skipped; the others
// are still fetched. It returns the per-id failures joined, each an *Error
// naming its id, having stored what it could; duplicates count once.
func (c *Cache) Warm(ctx context.Context, ids ...string) error {
	if c.closed.Load() {
		return &Error{Op: "warm", Kind: ErrClosed}
	}
	var refs []Ref
	var errs []error
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		key, ref, err := makeKey(id, "", "")
		if err != nil {
			errs = append(errs, c.invalidArg("warm", id, err))
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if e, ok := c.store.GetIfPresent(key); ok && e.secret != nil && c.nowNano() < e.refreshAt {
			continue
		}
		refs = append(refs, ref)
	}
	n := len(refs) + len(errs)
	gen := c.gen.Load()
	store := func(ref Ref, s *Secret, err error, seq uint64) {
		if err != nil {
			c.storeFailure(ref.ID, ref, err, gen, seq, nil)
			errs = append(errs, wrap("warm", ref.ID, err))
			return
		}
		c.install(c.newEntry(ref.ID, ref, s, c.clockNano(), 0, seq), gen, nil)
	}
	if c.batch != nil {
		for chunk := range slices.Chunk(refs, MaxBatch) {
			if err := ctx.Err(); err != nil {
				return &Error{Op: "warm", Kind: ErrUnavailable, Err: err}
			}
			seq := c.seq.Add(1)
			res := c.fetchBatch(ctx, chunk)
			for i, ref := range chunk {
				store(ref, res[i].Secret, res[i].Err, seq)
			}
		}
		return warmErr(errs, n)
	}
	type res struct {
		s   *Secret
		err error
		seq uint64
	}
	out := make([]res, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, ref := range refs {
		g.Go(func() error {
			out[i].seq = c.seq.Add(1)
			out[i].s, out[i].err = c.fetch(gctx, ref)
			return nil
		})
	}
	_ = g.Wait()
	for i, ref := range refs {
		store(ref, out[i].s, out[i].err, out[i].seq)
	}
	return warmErr(errs, n)
}

func warmErr(errs []error, n int) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("secretcache: warm: %d of %d secrets failed: %w", len(errs), n, errors.Join(errs...))
}
