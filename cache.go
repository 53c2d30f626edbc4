package secretcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
)

// Cache is an in-process cache of secrets in front of a Source. It is safe
// for concurrent use. A cached read is a lock-free lookup that allocates
// nothing; refreshes happen in the background, batched where the source can.
type Cache struct {
	src   Source
	batch BatchSource // src as a BatchSource, or nil
	cfg   config

	store *otter.Cache[string, *entry]
	loads singleflight.Group // misses and refreshes on expiry, by key

	forceMu sync.Mutex
	forcing map[string]*forceState // Refresh calls under way, by key

	coarse atomic.Int64  // unix nanos, updated every tick when cfg.clock is nil
	gen    atomic.Uint64 // bumped by Invalidate and Clear: fetches begun before do not store
	seq    atomic.Uint64 // numbers fetches as they start: an older answer never replaces a newer one

	refreshCh chan *entry
	pending   atomic.Int64 // entries handed to the refresher and not yet applied
	done      chan struct{}
	bgCtx     context.Context // background refreshes; cancelled by Close
	bgCancel  context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once

	cbMu     sync.Mutex
	onChange atomic.Pointer[[]*changeFunc]

	st stats
}

type changeFunc struct{ fn func(ChangeEvent) }

// entry is one cached secret version (or, with secret nil, a cached failure).
// Its fields never change after it is stored, but for the atomics; a refresh
// stores a new entry.
type entry struct {
	key       string
	ref       Ref
	seq       uint64 // when the fetch that produced the value started (Cache.seq)
	secret    *Secret
	err       error // cached failure, for secret == nil
	size      int
	ttl       time.Duration
	fetchedAt int64 // unix nanos
	refreshAt int64 // reads from here on start a background refresh
	expireAt  int64 // from here on the value is stale
	failures  int   // consecutive failed refreshes
	retryAt   int64 // no refresh before this
	lastErr   error

	refreshing atomic.Bool
	read       atomic.Bool // read since fetched: worth refreshing
	fields     atomic.Pointer[jsonFields]
}

// touch marks e as read. It writes only on the first read, so readers on
// many cores do not pass the entry's cache line between them.
func (e *entry) touch() {
	if !e.read.Load() {
		e.read.Store(true)
	}
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
	c := &Cache{src: src, cfg: cfg, refreshCh: make(chan *entry, 1024), done: make(chan struct{})}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	c.batch, _ = src.(BatchSource)
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
	for n := 0; ; n++ {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.coarse.Store(now.UnixNano())
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
		if (e.secret == nil && now >= e.retryAt) || (e.secret != nil && now >= c.staleUntil(e)) {
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
// default stage (so the common read builds no key), else NUL, stage, NUL,
// version, NUL, id. No valid id contains a NUL.
func makeKey(id, stage, versionID string) (string, Ref, error) {
	ref := Ref{ID: id, VersionStage: stage, VersionID: versionID}
	if err := validID(id); err != nil {
		return "", ref, err
	}
	if len(stage) > 256 || strings.ContainsFunc(stage, badRune) {
		return "", ref, errors.New("version stage must be at most 256 printable characters")
	}
	if len(versionID) > 64 || strings.ContainsFunc(versionID, badRune) {
		return "", ref, errors.New("version id must be at most 64 printable characters")
	}
	if versionID == "" && (stage == "" || stage == DefaultStage) {
		ref.VersionStage = DefaultStage
		return id, ref, nil
	}
	return "\x00" + stage + "\x00" + versionID + "\x00" + id, ref, nil
}

func validID(id string) error {
	switch {
	case id == "":
		return errors.New("empty secret id")
	case len(id) > MaxIDLength:
		return fmt.Errorf("secret id is %d bytes, over the limit of %d", len(id), MaxIDLength)
	case strings.ContainsFunc(id, badRune):
		return errors.New("secret id contains control or space characters")
	}
	return nil
}

func badRune(r rune) bool { return r <= ' ' || r == 0x7f || r == '\uFFFD' }

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
	return e.secret.Clone(), nil
}

// GetString returns the string value of the secret. It fails with
// ErrWrongType for a binary secret. A cached read allocates nothing.
func (c *Cache) GetString(ctx context.Context, id string, opts ...GetOption) (string, error) {
	e, err := c.read(ctx, "get", id, opts)
	if err != nil {
		return "", err
	}
	if e.secret.IsBinary() {
		return "", &Error{Op: "get", ID: id, Kind: ErrWrongType, Err: errors.New("secret is binary; use GetBinary")}
	}
	return e.secret.String, nil
}

// GetBinary returns a copy of the binary value of the secret. It fails with
// ErrWrongType for a string secret.
func (c *Cache) GetBinary(ctx context.Context, id string, opts ...GetOption) ([]byte, error) {
	e, err := c.read(ctx, "get", id, opts)
	if err != nil {
		return nil, err
	}
	if !e.secret.IsBinary() {
		return nil, &Error{Op: "get", ID: id, Kind: ErrWrongType, Err: errors.New("secret is a string; use GetString")}
	}
	return append([]byte(nil), e.secret.Binary...), nil
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
		ev.VersionID = e.secret.VersionID
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
			return c.slow(ctx, op, id, e.ref, e, now, getOptions{})
		}
	}
	o := applyOptions(opts)
	key, ref, err := makeKey(id, o.stage, o.versionID)
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
	case e.secret == nil: // a cached failure
		if now < e.retryAt {
			c.st.misses.inc()
			return c.fail(op, ref.ID, e.err, o)
		}
		c.st.misses.inc()
		return c.load(ctx, op, key, ref, o, e)
	case now < e.expireAt: // fresh, but due for refresh
		c.st.hits.inc()
		e.touch()
		c.scheduleRefresh(e, now)
		return e, OutcomeHit, nil
	case e.failures > 0 && now < c.staleUntil(e): // expired while the source fails
		c.st.staleHits.inc()
		e.touch()
		c.scheduleRefresh(e, now)
		return e, OutcomeStale, nil
	}
	c.st.misses.inc()
	c.st.refreshExpiry.inc()
	return c.load(ctx, op, key, ref, o, e)
}

// load fetches key through the coalescing group and waits for it, or for
// ctx. old is the entry it replaces, if any.
func (c *Cache) load(ctx context.Context, op, key string, ref Ref, o getOptions, old *entry) (*entry, Outcome, error) {
	ch := c.loads.DoChan(key, func() (any, error) {
		// A flight that ended between our lookup and DoChan has stored its
		// answer already: use it rather than fetching again.
		if e, ok := c.store.GetIfPresent(key); ok && e != old {
			now := c.nowNano()
			if e.secret != nil && now < e.expireAt {
				return e, nil
			}
			if e.secret == nil && now < e.retryAt {
				return nil, e.err
			}
		}
		return c.fetchAndStore(context.WithoutCancel(ctx), key, ref, o.ttl)
	})
	var err error
	select {
	case r := <-ch:
		if r.Err == nil {
			return r.Val.(*entry), OutcomeMiss, nil
		}
		err = r.Err
	case <-ctx.Done():
		err = &Error{Kind: ErrUnavailable, Err: ctx.Err()}
	}
	if old != nil && old.secret != nil && IsTransient(err) && c.nowNano() < c.staleUntil(old) {
		c.st.misses.add(^uint64(0)) // counted as a stale hit instead
		c.st.staleHits.inc()
		old.touch()
		return old, OutcomeStale, nil
	}
	return c.fail(op, ref.ID, err, o)
}

// fail returns err for a read, or the caller's fallback.
func (c *Cache) fail(op, id string, err error, o getOptions) (*entry, Outcome, error) {
	if o.hasFallback {
		c.st.fallbacks.inc()
		return &entry{secret: &Secret{Name: id, String: o.fallback}}, OutcomeFallback, nil
	}
	return nil, OutcomeError, wrap(op, id, err)
}

// fetch calls the source for one ref, counts it and checks the answer.
func (c *Cache) fetch(ctx context.Context, ref Ref) (*Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.fetchTimeout)
	defer cancel()
	c.st.backendCalls.inc()
	s, err := c.src.Fetch(ctx, ref)
	return c.check(ref, s, err)
}

// check counts a source's answer for ref and refuses one for another secret:
// never a wrong secret.
func (c *Cache) check(ref Ref, s *Secret, err error) (*Secret, error) {
	if err == nil {
		err = mismatch(ref, s)
	}
	if err != nil {
		c.st.countError(err)
		return nil, wrap("fetch", ref.ID, err)
	}
	return s, nil
}

func mismatch(ref Ref, s *Secret) error {
	switch {
	case s == nil:
		return &Error{Kind: ErrMismatch, Err: errors.New("source returned no secret and no error")}
	case ref.VersionID != "" && s.VersionID != "" && s.VersionID != ref.VersionID:
		return &Error{Kind: ErrMismatch, Err: fmt.Errorf("asked for version %q, got %q", ref.VersionID, s.VersionID)}
	case ref.VersionStage != "" && len(s.VersionStages) > 0 && !s.HasStage(ref.VersionStage):
		return &Error{Kind: ErrMismatch, Err: fmt.Errorf("asked for stage %q, got %q", ref.VersionStage, s.VersionStages)}
	case !sameSecret(ref.ID, s):
		return &Error{Kind: ErrMismatch, Err: fmt.Errorf("got secret %q", s.Name)}
	}
	return nil
}

// sameSecret reports whether s can be the secret id names: by name, by full
// ARN, or by an ARN without its random suffix.
func sameSecret(id string, s *Secret) bool {
	if s.Name == "" && s.ARN == "" {
		return true
	}
	if id == s.Name || id == s.ARN {
		return true
	}
	if strings.HasPrefix(id, "arn:") && s.ARN != "" {
		return strings.HasPrefix(s.ARN, id) && len(s.ARN) == len(id)+7 && s.ARN[len(id)] == '-'
	}
	return s.Name == "" && s.ARN != "" && nameOf(s.ARN) == id
}

// fetchAndStore fetches ref and stores the outcome: the value, or on failure
// a cached failure (or a failure count on the value it had).
func (c *Cache) fetchAndStore(ctx context.Context, key string, ref Ref, ttl time.Duration) (*entry, error) {
	gen, seq := c.gen.Load(), c.seq.Add(1)
	s, err := c.fetch(ctx, ref)
	if err != nil {
		c.storeFailure(key, ref, err, gen, seq, nil)
		return nil, err
	}
	e := c.newEntry(key, ref, s, c.clockNano(), ttl, seq)
	c.install(e, gen, nil)
	return e, nil
}

// ttlFor returns the TTL of a secret: the first matching policy, or the default.
func (c *Cache) ttlFor(ref Ref, s *Secret) time.Duration {
	name := s.Name
	if name == "" {
		name = nameOf(ref.ID)
	}
	for _, p := range c.cfg.policies {
		if glob(p.pattern, name) {
			return p.ttl
		}
	}
	return c.cfg.ttl
}

func (c *Cache) newEntry(key string, ref Ref, s *Secret, now int64, ttl time.Duration, seq uint64) *entry {
	if ttl <= 0 {
		ttl = c.ttlFor(ref, s)
	}
	e := &entry{key: key, ref: ref, seq: seq, secret: s, size: s.size() + len(key), ttl: ttl, fetchedAt: now}
	if ref.VersionID != "" { // a version never changes
		e.refreshAt, e.expireAt = math.MaxInt64, math.MaxInt64
	} else {
		e.expireAt = satAdd(now, int64(ttl))
		e.refreshAt = e.expireAt - int64(float64(ttl)*c.cfg.refreshAhead)
	}
	return e
}

// install stores e unless the cache was closed or invalidated since gen,
// unless the stored entry came from a fetch that started later than e's, or,
// with expect set, unless the stored entry is no longer expect. It reports a
// new version to the change callbacks.
func (c *Cache) install(e *entry, gen uint64, expect *entry) bool {
	var prev *entry
	ok := false
	c.store.Compute(e.key, func(cur *entry, found bool) (*entry, otter.ComputeOp) {
		if c.closed.Load() || c.gen.Load() != gen || (expect != nil && cur != expect) || (found && cur.seq > e.seq) {
			return cur, otter.CancelOp
		}
		ok = true
		if found {
			prev = cur
		}
		return e, otter.WriteOp
	})
	if !ok {
		return false
	}
	if prev != nil && prev.secret != nil && e.secret != nil && prev.secret.VersionID != e.secret.VersionID {
		c.st.versionChanges.inc()
		c.notify(ChangeEvent{Ref: e.ref, Old: prev.secret.Metadata(), New: e.secret.Metadata()})
	}
	return true
}

// storeFailure records a failed fetch of key that started at seq: a
// permanent error drops the value (a revoked secret must not live on) and
// caches the failure; a transient one keeps the value and backs off. A
// failure older than the stored value changes nothing.
func (c *Cache) storeFailure(key string, ref Ref, err error, gen, seq uint64, expect *entry) {
	now := c.clockNano()
	c.store.Compute(key, func(cur *entry, found bool) (*entry, otter.ComputeOp) {
		if c.closed.Load() || c.gen.Load() != gen || (expect != nil && cur != expect) || (found && cur.seq > seq) {
			return cur, otter.CancelOp
		}
		failures := 1
		if found {
			failures = cur.failures + 1
		}
		retry := now + int64(c.backoff(failures))
		if found && cur.secret != nil && !IsPermanent(err) {
			n := &entry{key: key, ref: cur.ref, seq: cur.seq, secret: cur.secret, size: cur.size, ttl: cur.ttl,
				fetchedAt: cur.fetchedAt, refreshAt: cur.refreshAt, expireAt: cur.expireAt,
				failures: failures, retryAt: retry, lastErr: err}
			n.read.Store(cur.read.Load())
			return n, otter.WriteOp
		}
		if found && cur.secret != nil {
			c.cfg.logger.Warn("secretcache: dropping cached secret after permanent error",
				"secret", ref.ID, "kind", KindName(err))
		}
		return &entry{key: key, ref: ref, seq: seq, err: err, size: len(key) + 64, failures: failures,
			retryAt: retry, lastErr: err}, otter.WriteOp
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
// Fetches already under way for it will not store their result.
func (c *Cache) Invalidate(id string) {
	c.gen.Add(1)
	suffix := "\x00" + id
	for k := range c.store.Keys() {
		if k == id || strings.HasSuffix(k, suffix) {
			c.store.Invalidate(k)
		}
	}
}

// Clear drops every cached secret.
func (c *Cache) Clear() {
	c.gen.Add(1)
	c.store.InvalidateAll()
}

// Close stops the background goroutines. Reads after Close fail with
// ErrClosed. It is safe to call more than once.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.done)
		c.bgCancel()
		c.wg.Wait()
		c.store.InvalidateAll()
		c.store.StopAllGoroutines()
	})
	return nil
}

// Closed reports whether Close was called.
func (c *Cache) Closed() bool { return c.closed.Load() }

// Source returns the source the cache reads from.
func (c *Cache) Source() Source { return c.src }
