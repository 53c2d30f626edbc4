package secretcache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/rand/v2"
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
	fns := make([]*changeFunc, 0, len(cfg.onChange))
	for _, fn := range cfg.onChange {
		fns = append(fns, &changeFunc{fn})
	}
	c.onChange.Store(&fns)

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

// makeKey validates a ref and returns its store key: the bare id for the
// source's default stage (so the common read builds no key), else NUL,
// stage, NUL, version, NUL, id. No valid id contains a NUL.
func (c *Cache) makeKey(id, stage, versionID string) (string, Ref, error) {
	ref := Ref{ID: id, VersionStage: stage, VersionID: versionID}
	if err := CheckID(id); err != nil {
		return "", ref, err
	}
	if len(stage) > 256 || strings.ContainsFunc(stage, badRune) {
		return "", ref, errors.New("version stage must be at most 256 printable characters")
	}
	if len(versionID) > 64 || strings.ContainsFunc(versionID, badRune) {
		return "", ref, errors.New("version id must be at most 64 printable characters")
	}
	if versionID == "" && (stage == "" || stage == c.desc.DefaultStage) {
		ref.VersionStage = c.desc.DefaultStage
		return id, ref, nil
	}
	return "\x00" + stage + "\x00" + versionID + "\x00" + id, ref, nil
}

func (c *Cache) invalidArg(op, id string, err error) error {
	if len(id) > 64 {
		id = id[:64] + "..."
	}
	return &Error{Op: op, ID: id, Kind: ErrInvalidRequest, Err: err}
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

// read answers one read and reports it to the read hook.
func (c *Cache) read(ctx context.Context, op, id string, opts []GetOption) (*entry, error) {
	if c.cfg.onRead == nil {
		e, _, err := c.lookup(ctx, op, id, opts)
		return e, err
	}
	start := time.Now()
	e, out, err := c.lookup(ctx, op, id, opts)
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

func (c *Cache) lookup(ctx context.Context, op, id string, opts []GetOption) (*entry, Outcome, error) {
	// The common read (no options) looks the id up before validating it: a
	// stored key was validated when it was stored, and the keys of other
	// stages and versions begin with a NUL, which no valid id does.
	if len(opts) == 0 && len(id) > 0 && id[0] != 0 {
		// No closed check here: Close empties the store and install refuses
		// to store after Close, so a closed cache has nothing to hit.
		if e, ok := c.store.GetIfPresent(id); ok {
			now := c.nowNano()
			if now < e.refreshAt {
				c.st.hits.inc()
				e.touch()
				return e, OutcomeHit, nil
			}
			return c.slow(ctx, op, id, c.refOf(id), e, now, getOptions{})
		}
	}
	o := applyOptions(opts)
	key, ref, err := c.makeKey(id, o.stage, o.versionID)
	if err != nil {
		return nil, OutcomeError, c.invalidArg(op, id, err)
	}
	if c.closed.Load() {
		return nil, OutcomeError, &Error{Op: op, ID: id, Kind: ErrClosed}
	}
	if e, ok := c.store.GetIfPresent(key); ok {
		now := c.nowNano()
		if now < e.refreshAt {
			c.st.hits.inc()
			e.touch()
			return e, OutcomeHit, nil
		}
		return c.slow(ctx, op, key, ref, e, now, o)
	}
	c.st.misses.inc()
	return c.load(ctx, op, key, ref, o, nil)
}

func applyOptions(opts []GetOption) getOptions {
	var o getOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// slow handles a cached entry that is due for refresh, expired, or a cached
// failure.
func (c *Cache) slow(ctx context.Context, op, key string, ref Ref, e *entry, now int64, o getOptions) (*entry, Outcome, error) {
	switch {
	case !e.hasValue(): // a cached failure
		c.st.misses.inc()
		if now < e.fail.retryAt {
			return c.fail(op, ref.ID, e.fail.err, o)
		}
		return c.load(ctx, op, key, ref, o, e)
	case now < e.expireAt: // fresh, but due for refresh
		c.st.hits.inc()
		e.touch()
		c.scheduleRefresh(e, now)
		return e, OutcomeHit, nil
	case e.fail != nil && now < c.staleUntil(e): // expired while the source fails
		c.st.staleHits.inc()
		e.touch()
		c.scheduleRefresh(e, now)
		return e, OutcomeStale, nil
	}
	c.st.misses.inc()
	c.st.refreshExpiry.inc()
	return c.load(ctx, op, key, ref, o, e)
}

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
// Close. old is the entry it replaces, if any; it is served stale when the
// fetch fails with a transient error, within WithMaxStale.
func (c *Cache) load(ctx context.Context, op, key string, ref Ref, o getOptions, old *entry) (*entry, Outcome, error) {
	f := c.join(ctx, key, ref, o.ttl, old)
	var err error
	select {
	case <-f.done:
		if f.err == nil {
			return f.e, OutcomeMiss, nil
		}
		err = f.err
	case <-ctx.Done():
		err = &Error{Kind: ErrUnavailable, Err: ctx.Err()}
	case <-c.done:
		err = &Error{Kind: ErrClosed}
	}
	if errors.Is(err, ErrClosed) {
		return nil, OutcomeError, wrap(op, ref.ID, err)
	}
	if old != nil && old.hasValue() && IsTransient(err) && c.nowNano() < c.staleUntil(old) {
		c.st.misses.add(^uint64(0)) // counted as a stale hit instead
		c.st.staleHits.inc()
		old.touch()
		return old, OutcomeStale, nil
	}
	return c.fail(op, ref.ID, err, o)
}

// join returns the flight under way for key that began in the key's
// current generation, or starts one.
func (c *Cache) join(ctx context.Context, key string, ref Ref, ttl time.Duration, old *entry) *flight {
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
		f.e, f.err = c.fly(fctx, key, ref, ttl, old, gen)
		c.flightMu.Lock()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		c.flightMu.Unlock()
		close(f.done)
	}()
	return f
}

func (c *Cache) fly(ctx context.Context, key string, ref Ref, ttl time.Duration, old *entry, gen uint64) (*entry, error) {
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
	return c.fetchAndStore(ctx, key, ref, ttl, gen)
}

// detach returns a context for a fetch that outlives its first caller: it
// keeps ctx's values, not its cancellation, and ends at Close.
func (c *Cache) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.bgCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// fail returns err for a read, or the caller's fallback.
func (c *Cache) fail(op, id string, err error, o getOptions) (*entry, Outcome, error) {
	if o.hasFallback {
		c.st.fallbacks.inc()
		return &entry{val: value{name: id, data: o.fallback}}, OutcomeFallback, nil
	}
	return nil, OutcomeError, wrap(op, id, err)
}

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
		return nil, wrap("fetch", ref.ID, err)
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

// fetchAndStore fetches ref and stores the outcome, unless key's generation
// is no longer gen: the value, or on failure a cached failure (or a failure
// count on the value it had).
func (c *Cache) fetchAndStore(ctx context.Context, key string, ref Ref, ttl time.Duration, gen uint64) (*entry, error) {
	seq := c.seq.Add(1)
	s, err := c.fetch(ctx, ref)
	if err != nil {
		c.storeFailure(key, ref, err, gen, seq, nil)
		return nil, err
	}
	e := c.newEntry(key, s, c.clockNano(), ttl, seq)
	c.install(e, gen, nil)
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
	}
	e.size = e.footprint()
	return e
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
		if c.closed.Load() || c.genOf(e.key) != gen || (expect != nil && cur != expect) || (found && cur.seq > e.seq) {
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
func (c *Cache) storeFailure(key string, ref Ref, err error, gen, seq uint64, expect *entry) {
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
		f := &failure{err: err, count: count, retryAt: now + int64(c.backoff(count))}
		if found && cur.hasValue() && !IsPermanent(err) {
			return cur.withFailure(f), otter.WriteOp
		}
		if found && cur.hasValue() {
			c.cfg.logger.Warn("secretcache: dropping cached secret after permanent error",
				"secret", ref.ID, "kind", KindName(err))
		}
		f.noValue = true
		e := &entry{key: key, seq: seq, fail: f}
		e.size = e.footprint()
		return e, otter.WriteOp
	})
}

// backoff is the jittered wait after n consecutive failures.
func (c *Cache) backoff(n int) time.Duration {
	d := c.cfg.backoffBase
	for i := 1; i < n && d < c.cfg.backoffMax; i++ {
		if d > c.cfg.backoffMax/2 { // doubling would pass max (or overflow)
			d = c.cfg.backoffMax
			break
		}
		d *= 2
	}
	return d/2 + rand.N(d/2+1)
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

// Closed reports whether Close was called.
func (c *Cache) Closed() bool { return c.closed.Load() }

// Source returns the source the cache reads from.
func (c *Cache) Source() Source { return c.src }
