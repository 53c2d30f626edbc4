package secretcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// refreshParallel is the most backend calls the background refresher (and
// Warm) has under way at once: a batch of up to the source's MaxBatch refs
// each, or one ref each for a source without batches.
const refreshParallel = 8

// scheduleRefresh hands e to the background refresher once: readers never
// wait for it.
func (c *Cache) scheduleRefresh(e *entry, now int64) {
	if pinned(e.key) || now < e.retryAt() || !e.startRefresh() {
		return
	}
	c.pending.Add(1)
	var at int64
	if c.cfg.clock == nil {
		at = time.Now().UnixNano() // the read's clock is coarse
	} else {
		at = c.cfg.clock.Now().UnixNano()
	}
	select {
	case c.refreshCh <- due{e, at}:
	default: // the refresher is saturated; a later read tries again
		c.pending.Add(-1)
		e.endRefresh()
	}
}

// refresher gathers entries due for refresh for a short window, adds the
// entries that would fall due soon anyway, and refreshes them in batches,
// up to refreshParallel calls under way at once. Entries refreshed together
// fall due together again, so a steady set of secrets converges to a few
// batch calls per TTL; the calls of one round run side by side, so a slow
// backend does not make the last of them overrun the refresh-ahead window.
func (c *Cache) refresher() {
	defer c.wg.Done()
	for {
		var first due
		select {
		case <-c.done:
			return
		case first = <-c.refreshCh:
		}
		round := []due{first}
		if c.cfg.batchWindow > 0 && c.batch != nil {
			t := time.NewTimer(c.cfg.batchWindow)
		gather:
			for {
				select {
				case d := <-c.refreshCh:
					round = append(round, d)
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
			case d := <-c.refreshCh:
				round = append(round, d)
				continue
			default:
			}
			break
		}
		if c.batch != nil {
			round = c.addCompanions(round)
		}
		if !c.dispatch(round) {
			return
		}
	}
}

// addCompanions adds to due the entries that are read, past half their TTL
// and not yet due: one batch call refreshes them now instead of one call each
// later.
func (c *Cache) addCompanions(round []due) []due {
	now := c.clockNano()
	for _, e := range c.store.All() {
		if !e.hasValue() || !e.wasRead() || now < e.retryAt() || now < e.fetchedAt+int64(e.ttl/2) ||
			e.refreshing() || pinned(e.key) {
			continue
		}
		if e.startRefresh() {
			c.pending.Add(1)
			round = append(round, due{e: e})
		}
	}
	return round
}

// dispatch refreshes due in the background: in batches of the source's
// MaxBatch through a BatchSource, else one call each, each call on its own
// goroutine, at most refreshParallel under way. It reports false when the cache closed.
func (c *Cache) dispatch(round []due) bool {
	c.st.refreshAhead.add(uint64(len(round)))
	size := 1
	if c.batch != nil {
		size = c.desc.MaxBatch
		// In key order, so that caches that share a backend cache (package
		// fleet) and fall due together ask for the same batches.
		slices.SortFunc(round, func(a, b due) int { return strings.Compare(a.e.key, b.e.key) })
	}
	for len(round) > 0 {
		chunk := round[:min(size, len(round))]
		select {
		case c.sem <- struct{}{}:
		case <-c.done:
			for _, d := range round {
				d.e.endRefresh()
			}
			c.pending.Add(-int64(len(round)))
			return false
		}
		round = round[len(chunk):]
		go func() {
			defer func() { <-c.sem }()
			c.refreshChunk(chunk)
		}()
	}
	return true
}

// due is an entry handed to the refresher, with the time (clockNano) the
// read that found it due handed it over; 0 for a companion.
type due struct {
	e  *entry
	at int64
}

// refreshChunk refreshes entries with one backend call.
func (c *Cache) refreshChunk(chunk []due) {
	refs := make([]Ref, len(chunk))
	gens := make([]uint64, len(chunk))
	for i, d := range chunk {
		refs[i], gens[i] = c.refOf(d.e.key), c.genOf(d.e.key)
	}
	seq := c.seq.Add(1)
	ctx, end := c.startTrace(c.bgCtx, TraceRefresh, refs)
	if c.batch == nil {
		s, err := c.fetch(ctx, refs[0])
		end(err)
		c.applyRefresh(chunk[0], s, err, gens[0], seq)
		return
	}
	res := c.fetchBatch(ctx, refs)
	end(firstErr(res))
	for i, d := range chunk {
		c.applyRefresh(d, res[i].Secret, res[i].Err, gens[i], seq)
	}
}

// fetchBatch calls the batch source once and checks every answer. An
// answer of the wrong shape (more or fewer results than refs) says nothing
// reliable about any ref: every ref gets ErrMismatch. So does a result
// that names no secret (no Name, no ARN): in a batch, the name is what ties
// an answer to its ref.
func (c *Cache) fetchBatch(ctx context.Context, refs []Ref) []Result {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.fetchTimeout)
	defer cancel()
	c.st.backendCalls.inc()
	start := c.clockNano()
	var res []Result
	var perr error
	func() {
		defer c.recoverSource(&perr, refs[0].ID)
		res = c.batch.FetchBatch(ctx, refs)
	}()
	c.observe(ctx, start)
	out := make([]Result, len(refs))
	if perr == nil && len(res) != len(refs) {
		perr = &Error{Kind: ErrMismatch, Err: fmt.Errorf("%d results for %d refs", len(res), len(refs))}
	}
	for i, ref := range refs {
		if perr != nil {
			_, out[i].Err = c.check(ref, nil, perr)
			continue
		}
		s, err := res[i].Secret, res[i].Err
		if err == nil && s != nil && s.Name == "" && s.ARN == "" {
			err = &Error{Kind: ErrMismatch, Err: errors.New("batch result names no secret")}
		}
		out[i].Secret, out[i].Err = c.check(ref, s, err)
	}
	return out
}

// applyRefresh stores the outcome of refreshing d.e, if it is still the
// cached entry and its generation is still gen, and times the refresh from
// the read that asked for it.
func (c *Cache) applyRefresh(d due, s *Secret, err error, gen, seq uint64) {
	old := d.e
	defer c.pending.Add(-1)
	defer old.endRefresh()
	if d.at != 0 && !c.closed.Load() {
		c.lat.add(&c.lat.pipeline, c.clockNano()-d.at)
	}
	if err != nil {
		if !c.closed.Load() {
			c.cfg.logger.Warn("secretcache: background refresh failed", "secret", idOfKey(old.key),
				"kind", KindName(err), "transient", IsTransient(err))
		}
		c.storeFailure(old.key, err, gen, seq, old)
		return
	}
	c.install(c.newEntry(old.key, s, c.clockNano(), old.ttl, seq), gen, old)
}

// Warm fetches the ids that are not cached yet, in batches of the source's
// MaxBatch when it can (up to refreshParallel calls under way at once), so
// that first reads hit. An invalid id (empty, oversized, with spaces or control
// characters) is reported and skipped; the others are still fetched. It
// returns the per-id failures joined, each an *Error naming its id, having
// stored what it could; duplicates count once. When ctx ends first it
// returns ErrUnavailable, when the cache is closed ErrClosed, at once; the
// failures of calls cut short that way are not cached.
func (c *Cache) Warm(ctx context.Context, ids ...string) error {
	if c.closed.Load() {
		return &Error{Op: "warm", Kind: ErrClosed}
	}
	var refs []Ref
	var errs []error
	seen := make(map[string]bool, len(ids))
	var none getOptions
	for _, id := range ids {
		key, err := c.makeKey(id, &none)
		if err != nil {
			errs = append(errs, wrap("warm", id, err))
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if e, ok := c.store.GetIfPresent(key); ok && e.hasValue() && c.nowNano() < e.refreshAt {
			continue
		}
		refs = append(refs, c.refOf(key))
	}
	n := len(refs) + len(errs)
	size := 1
	if c.batch != nil {
		size = c.desc.MaxBatch
	}
	chunks := slices.Collect(slices.Chunk(refs, size))
	if len(chunks) == 0 {
		return warmErr(errs, n)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.bgCtx, cancel)
	defer stop()
	type outcome struct {
		i    int
		errs []error
	}
	results := make(chan outcome, len(chunks)) // workers never block on a caller gone
	go func() {
		sem := make(chan struct{}, refreshParallel)
		for i, chunk := range chunks {
			select {
			case sem <- struct{}{}:
			case <-wctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				results <- outcome{i, c.warmChunk(wctx, chunk)}
			}()
		}
	}()
	per := make([][]error, len(chunks))
	for range chunks {
		select {
		case r := <-results:
			per[r.i] = r.errs
		case <-ctx.Done():
			return &Error{Op: "warm", Kind: ErrUnavailable, Err: ctx.Err()}
		case <-c.done:
			return &Error{Op: "warm", Kind: ErrClosed}
		}
	}
	for _, e := range per {
		errs = append(errs, e...)
	}
	return warmErr(errs, n)
}

// warmChunk fetches refs with one backend call and stores the answers.
func (c *Cache) warmChunk(ctx context.Context, refs []Ref) []error {
	gens := make([]uint64, len(refs))
	for i, ref := range refs {
		gens[i] = c.genOf(ref.ID)
	}
	seq := c.seq.Add(1)
	var res []Result
	tctx, end := c.startTrace(ctx, TraceWarm, refs)
	if c.batch != nil {
		res = c.fetchBatch(tctx, refs)
	} else {
		s, err := c.fetch(tctx, refs[0])
		res = []Result{{Secret: s, Err: err}}
	}
	end(firstErr(res))
	var errs []error
	for i, ref := range refs {
		if err := res[i].Err; err != nil {
			if ctx.Err() == nil { // not cut short by the caller or Close
				c.storeFailure(ref.ID, err, gens[i], seq, nil)
			}
			errs = append(errs, wrap("warm", ref.ID, err))
			continue
		}
		c.install(c.newEntry(ref.ID, res[i].Secret, c.clockNano(), 0, seq), gens[i], nil)
	}
	return errs
}

func warmErr(errs []error, n int) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("secretcache: warm: %d of %d secrets failed: %w", len(errs), n, errors.Join(errs...))
}
