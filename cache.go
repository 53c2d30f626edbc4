package secretcache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Cache is an in-process cache of secrets in front of a Source. It is safe
// for concurrent use. A cached read is a lock-free lookup that allocates
// nothing; refreshes happen in the background, batched where the source can.
type Cache struct {
	src   Source
	batch BatchSource // src as a BatchSource, or nil
	desc  Description // src's rules, defaults filled in: the cache knows no backend
	cfg   config

	store *otter.Cache[string, *entry]
	front front // the store's live entries of hot ids, for the common read

	flightMu sync.Mutex
	flights  map[string]*flight // misses and refreshes on expiry under way, by key

	forceMu sync.Mutex
	forcing map[string]*forceState // Refresh calls under way, by key

	coarse atomic.Int64  // unix nanos, updated every tick when cfg.clock is nil
	seq    atomic.Uint64 // numbers fetches as they start: an older answer never replaces a newer one

	// Generations: a fetch stores its answer, and a reader takes the answer
	// of a fetch under way, only if no Invalidate or Clear of its id came
	// between (genOf). invMu makes Invalidate, Clear and Close atomic with
	// respect to the stores, so that none lands half before and half after.
	invMu sync.RWMutex
	epoch atomic.Uint64            // bumped by Clear
	gens  [genShards]atomic.Uint64 // bumped by Invalidate, by a hash of the id

	lat latency // of backend calls, for the refresh-ahead window

	refreshCh chan due
	sem       chan struct{} // background backend calls under way
	pending   atomic.Int64  // entries handed to the refresher and not yet applied
	done      chan struct{}
	bgCtx     context.Context // background refreshes and fetches; cancelled by Close
	bgCancel  context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once

	cbMu     sync.Mutex
	onChange atomic.Pointer[[]*changeFunc]

	stages stageLists // the stage lists entries share

	st stats
}

type changeFunc struct{ fn func(ChangeEvent) }

const genShards = 256

var genSeed = maphash.MakeSeed()

// genOf is the generation of key: it changes when the key's id is
// invalidated or the cache cleared (and, rarely, when an id sharing its
// shard is invalidated: that costs a fetch, never a wrong answer).
func (c *Cache) genOf(key string) uint64 {
	return c.epoch.Load() + c.gens[maphash.String(genSeed, idOfKey(key))%genShards].Load()
}

// ChangeEvent tells that a refresh found a new version of a secret. It holds
// metadata only, never values.
type ChangeEvent struct {
	Ref Ref      // the ref as cached
	Old Metadata // the version cached before
	New Metadata // the version cached now
}

// New returns a cache in front of src. It returns an error for a nil source
// or an invalid option; it never panics on bad input.
func New(src Source, opts ...Option) (*Cache, error) {
	if src == nil {
		return nil, errors.New("secretcache: nil source")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("secretcache: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	c := &Cache{src: src, cfg: cfg, refreshCh: make(chan due, 1024), done: make(chan struct{}),
		sem: make(chan struct{}, refreshParallel), flights: map[string]*flight{}}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	c.batch, _ = src.(BatchSource)
	c.desc = describe(src)
	c.lat.init(&c.cfg, c.batch != nil)
	c.onChange.Store(&[]*changeFunc{})
	c.front = newFront(cfg.maxEntries)

	// One weight bound enforces both limits: every entry weighs at least
	// maxBytes/maxEntries, so no more than maxEntries fit, and the real
	// sizes add up to at most maxBytes. Otter evicts cold entries first.
	minWeight := max(uint64(cfg.maxBytes)/uint64(cfg.maxEntries), 1)
	store, err := otter.New(&otter.Options[string, *entry]{
		MaximumWeight: uint64(cfg.maxBytes),
		Weigher: func(_ string, e *entry) uint32 {
			return uint32(min(max(uint64(e.size), minWeight), math.MaxUint32))
		},
		OnAtomicDeletion: func(ev otter.DeletionEvent[string, *entry]) {
			c.front.drop(ev.Value)
			if ev.WasEvicted() {
				c.st.evictions.inc()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("secretcache: %w", err)
	}
	c.store = store
	c.coarse.Store(time.Now().UnixNano())
	c.wg.Add(2)
	go c.tick()
	go c.refresher()
	return c, nil
}

// nowNano is the time on the read path: the injected clock, or the coarse
// clock (within 100 ms), which costs one atomic load.
func (c *Cache) nowNano() int64 {
	if c.cfg.clock != nil {
		return c.cfg.clock.Now().UnixNano()
	}
	return c.coarse.Load()
}

// clockNano is the exact time, for stamping entries.
func (c *Cache) clockNano() int64 {
	if c.cfg.clock != nil {
		return c.cfg.clock.Now().UnixNano()
	}
	n := time.Now().UnixNano()
	c.coarse.Store(n)
	return n
}

const tickEvery = 100 * time.Millisecond

// tick keeps the coarse clock current and sweeps entries that can no longer
// be served.
func (c *Cache) tick() {
	defer c.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	last := time.Now()
	for n := 0; ; n++ {
		select {
		case <-c.done:
			return
		case <-t.C:
			// The coarse clock lags most just before an update: by the time
			// since the last one, longer than a tick on a loaded machine.
			now := time.Now()
			c.coarse.Store(now.UnixNano())
			if c.cfg.clock == nil {
				c.observeTick(now.Sub(last))
			}
			last = now
			if n%50 == 0 {
				c.sweep()
			}
		}
	}
}

// sweep drops entries past their last servable moment and expired cached
// failures, so memory goes to values that can still be used.
func (c *Cache) sweep() {
	now := c.clockNano()
	for k, e := range c.store.All() {
		if (!e.hasValue() && now >= e.retryAt()) || (e.hasValue() && now >= c.staleUntil(e)) {
			c.store.ComputeIfPresent(k, func(cur *entry) (*entry, otter.ComputeOp) {
				if cur != e {
					return cur, otter.CancelOp
				}
				return nil, otter.InvalidateOp
			})
		}
	}
}

func (c *Cache) staleUntil(e *entry) int64 { return satAdd(e.expireAt, int64(c.cfg.maxStale)) }

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// OnChange registers fn to run whenever a refresh finds a new version of a
// cached secret, with the old and new metadata (never the values). It runs
// on the goroutine that refreshed and must not block for long. The returned
// function unregisters it.
func (c *Cache) OnChange(fn func(ChangeEvent)) (remove func()) {
	if fn == nil {
		return func() {}
	}
	cf := &changeFunc{fn}
	c.cbMu.Lock()
	fns := append(append([]*changeFunc(nil), *c.onChange.Load()...), cf)
	c.onChange.Store(&fns)
	c.cbMu.Unlock()
	return func() {
		c.cbMu.Lock()
		defer c.cbMu.Unlock()
		old := *c.onChange.Load()
		fns := make([]*changeFunc, 0, len(old))
		for _, f := range old {
			if f != cf {
				fns = append(fns, f)
			}
		}
		c.onChange.Store(&fns)
	}
}

func (c *Cache) notify(ev ChangeEvent) {
	c.cfg.logger.Info("secretcache: new secret version", "secret", ev.Ref.ID,
		"old_version", ev.Old.VersionID, "new_version", ev.New.VersionID)
	for _, f := range *c.onChange.Load() {
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.cfg.logger.Error("secretcache: change callback panicked", "secret", ev.Ref.ID)
				}
			}()
			f.fn(ev)
		}()
	}
}

// Invalidate drops every cached version of id (all stages and version ids).
// A read, Refresh or Warm that starts after it returns gets a value fetched
// after it: fetches of id already under way neither store their answer nor
// hand it to readers that came later. An empty, oversized or unknown id
// drops nothing.
func (c *Cache) Invalidate(id string) {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.gens[maphash.String(genSeed, id)%genShards].Add(1)
	suffix := "\x00" + id
	for k := range c.store.Keys() {
		if k == id || strings.HasSuffix(k, suffix) {
			c.store.Invalidate(k)
		}
	}
}

// Clear drops every cached secret, with the guarantee of Invalidate for
// every id.
func (c *Cache) Clear() {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.epoch.Add(1)
	c.store.InvalidateAll()
}

// Close stops the background goroutines and cancels the backend calls under
// way. Every caller waiting on the backend (a read that missed or found its
// entry expired, Refresh, Warm) returns at once with ErrClosed, and so does
// every call after Close. Close does not wait for a source that ignores its
// context: its answer, when it comes, is discarded. It is safe to call more
// than once.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.invMu.Lock()
		c.closed.Store(true) // from here on nothing is stored
		c.invMu.Unlock()
		close(c.done)
		c.bgCancel()
		c.wg.Wait()
		c.invMu.Lock()
		c.store.InvalidateAll()
		c.invMu.Unlock()
		c.store.StopAllGoroutines()
	})
	return nil
}

// Source returns the source the cache reads from.
func (c *Cache) Source() Source { return c.src }
