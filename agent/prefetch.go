package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/backoff"
	"github.com/secretcache/secretcache/internal/clip"
)

// PrefetchStatus describes the start-up prefetch.
type PrefetchStatus struct {
	IDs      int               `json:"ids"`               // secrets asked for (ids plus names listed by prefix)
	Fetched  int               `json:"fetched"`           // cached successfully
	Failed   map[string]string `json:"failed,omitempty"`  // id -> error kind (at most 100 listed)
	Attempts int               `json:"attempts"`          // rounds run (transient failures are retried)
	Started  time.Time         `json:"started,omitzero"`  // when it began, after the jitter
	Finished time.Time         `json:"finished,omitzero"` // when it ended
	Error    string            `json:"error,omitempty"`   // why it could not run (listing failed, say)
}

// prefetchRounds is how many times transient prefetch failures are tried;
// retryWait is the backoff base before the second round (doubled before
// the third, jittered).
const (
	prefetchRounds = 3
	retryWait      = time.Second
)

// runPrefetch waits a random jitter, fetches the configured secrets in
// batches, retries transient failures, then marks the agent ready.
func (a *Agent) runPrefetch(ctx context.Context) {
	defer a.ready.Store(true)
	defer a.prefetchParameters(ctx) // parameters.go; before ready
	if !a.cfg.Caching() || (len(a.cfg.Prefetch) == 0 && len(a.cfg.PrefetchPrefix) == 0) {
		return
	}
	// The jitter spreads the start-up reads of a fleet started at once.
	jitter := time.Duration(rand.Float64() * a.cfg.PrefetchJitterSeconds * float64(time.Second))
	if !sleep(ctx, jitter) {
		return
	}
	if err := a.Prefetch(ctx); err != nil {
		a.log.Warn("prefetch incomplete", "err", err)
	}
}

// sleep waits d, or less if ctx ends first; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Prefetch fetches the secrets of the prefetch and prefetch_prefix settings
// (names under each prefix are listed through the source, which must then
// have a ListNames method, as awssm.Source does), in batches, and retries
// transient failures twice with a backoff. A secret counts as fetched only
// once the cache holds it; a listed name the cache would refuse is reported
// as failed (invalid_request) and not asked for. It returns what failed;
// the status page shows it too.
func (a *Agent) Prefetch(ctx context.Context) error {
	st := PrefetchStatus{Started: time.Now()}
	defer func() {
		st.Finished = time.Now()
		a.mu.Lock()
		a.prefetch = st
		a.mu.Unlock()
	}()
	ids := a.prefetchIDs(ctx, &st)
	st.IDs = len(ids)
	failed := map[string]error{}
	todo := make([]string, 0, len(ids))
	for _, id := range ids {
		// prefetch is checked by Config.Check; names listed under a
		// prefix are not, and the cache would refuse these.
		if err := secretcache.CheckID(id); err != nil {
			failed[id] = secretcache.NewError(secretcache.ErrInvalidRequest, clip.ID(id), err)
			continue
		}
		todo = append(todo, id)
	}
	for round := 0; round < prefetchRounds && len(todo) > 0; round++ {
		if round > 0 && !sleep(ctx, backoff.Delay(retryWait, 2*retryWait, round)) {
			break
		}
		st.Attempts++
		todo = a.prefetchRound(ctx, todo, failed)
	}
	return a.prefetchResult(&st, failed, ids)
}

// prefetchIDs returns the ids to prefetch: the prefetch setting and the
// names listed under each prefix, sorted, without duplicates, at most
// cache_size of them. A listing that fails is noted in st.
func (a *Agent) prefetchIDs(ctx context.Context, st *PrefetchStatus) []string {
	ids := slices.Clone(a.cfg.Prefetch)
	if len(a.cfg.PrefetchPrefix) > 0 {
		lister, ok := a.src.(interface {
			ListNames(ctx context.Context, prefix string) ([]string, error)
		})
		if !ok {
			st.Error = "the source cannot list secret names; prefetch_prefix ignored"
			a.log.Warn(st.Error)
		} else {
			for _, p := range a.cfg.PrefetchPrefix {
				names, err := lister.ListNames(ctx, p)
				if err != nil {
					st.Error = fmt.Sprintf("listing names under %q failed: %s", clip.String(p, 128), secretcache.KindName(err))
					a.log.Warn("prefetch: listing names failed", "prefix", p, "kind", secretcache.KindName(err))
					continue
				}
				ids = append(ids, names...)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > a.cfg.CacheSize {
		a.log.Warn("prefetch: more secrets than cache_size; fetching the first ones", "ids", len(ids), "cache_size", a.cfg.CacheSize)
		ids = ids[:a.cfg.CacheSize]
	}
	return ids
}

// prefetchRound warms the cache with todo, records in failed what is not
// cached after it (and forgets what now is), and returns the ids worth
// another round.
func (a *Agent) prefetchRound(ctx context.Context, todo []string, failed map[string]error) []string {
	err := a.cache.Warm(ctx, todo...)
	errs := perID(err)
	// An id counts as fetched only when the cache holds it: not because
	// Warm named no error for it (Warm may end early, for a cancelled
	// context say, with one error naming no id).
	cached := a.cachedIDs(todo)
	var again []string
	for _, id := range todo {
		e, named := errs[id]
		if !named && cached[id] {
			delete(failed, id)
			continue
		}
		if !named {
			e = err // the whole call failed, or ended before this id
			if e == nil {
				e = secretcache.NewError(secretcache.ErrUnavailable, clip.ID(id), errors.New("fetched but no longer cached"))
			}
		}
		failed[id] = e
		if secretcache.IsTransient(e) || !named && !errors.Is(e, secretcache.ErrClosed) {
			again = append(again, id)
		}
	}
	return again
}

func (a *Agent) prefetchResult(st *PrefetchStatus, failed map[string]error, ids []string) error {
	st.Fetched = len(ids) - len(failed)
	if len(failed) == 0 {
		a.log.Info("prefetch done", "secrets", len(ids))
		return nil
	}
	st.Failed = map[string]string{}
	names := make([]string, 0, len(failed))
	for id := range failed {
		names = append(names, id)
	}
	slices.Sort(names)
	for i, id := range names {
		if i < 100 {
			st.Failed[id] = secretcache.KindName(failed[id])
		}
		a.log.Warn("prefetch: secret not fetched", "secret", id, "kind", secretcache.KindName(failed[id]))
	}
	return fmt.Errorf("agent: prefetch: %d of %d secrets not fetched", len(failed), len(ids))
}

// cachedIDs returns which of ids the cache holds a value of (the current
// version, as Warm fetches).
func (a *Agent) cachedIDs(ids []string) map[string]bool {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]bool, len(ids))
	for e := range a.cache.Entries() {
		if awsname.IsCurrent(e.Ref) && want[e.Ref.ID] {
			out[e.Ref.ID] = true
		}
	}
	return out
}

// perID maps the per-secret errors inside a Warm error to their ids.
func perID(err error) map[string]error {
	out := map[string]error{}
	var walk func(error)
	walk = func(e error) {
		if se, ok := e.(*secretcache.Error); ok && se.ID != "" {
			out[se.ID] = e
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
