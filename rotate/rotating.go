package rotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// Defaults.
const (
	DefaultDrain          = 30 * time.Second
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = time.Minute
	DefaultPollInterval   = 10 * time.Second
	DefaultTimeout        = 30 * time.Second
	DefaultFailureRefresh = time.Second
)

// Spec says how to make, check and release a resource built from a secret.
type Spec[T any] struct {
	// Build makes a resource from one version of the secret (its value is in
	// s.String or s.Binary). Required. Its errors must not hold the value.
	Build func(ctx context.Context, s *secretcache.Secret) (T, error)
	// Validate checks a newly built resource before it is swapped in, for
	// example with a ping or a test login. Optional.
	Validate func(ctx context.Context, v T) error
	// Close releases a resource once its drain period is over. Optional: when
	// nil and T implements io.Closer, its Close method is used.
	Close func(v T) error
}

// Option configures a Rotating resource.
type Option func(*options) error

type options struct {
	drain          time.Duration
	backoffBase    time.Duration
	backoffMax     time.Duration
	poll           time.Duration
	timeout        time.Duration
	failureRefresh time.Duration
	logger         *slog.Logger
	name           string
}

func defaultOptions() options {
	return options{drain: DefaultDrain, backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax,
		poll: DefaultPollInterval, timeout: DefaultTimeout, failureRefresh: DefaultFailureRefresh}
}

// WithDrain sets how long a replaced resource stays open for the work still
// using it before it is closed (default 30 s; 0 closes it at once). It fails
// for a negative duration.
func WithDrain(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("rotate: drain must not be negative, got %v", d)
		}
		o.drain = d
		return nil
	}
}

// WithBackoff sets the jittered exponential backoff between failed attempts
// to build and validate a new version (default 1 s doubling up to 1 min).
// It fails unless 0 < base <= max.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("rotate: backoff needs 0 < base <= max, got %v and %v", base, max)
		}
		o.backoffBase, o.backoffMax = base, max
		return nil
	}
}

// WithPollInterval sets how often the resource reads its secret from the
// cache (a cached read: no API call) so that the cache's refresh-ahead and
// change callbacks notice a new version even when nothing else reads the
// secret (default 10 s; 0 turns polling off). It fails for a negative
// duration.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("rotate: poll interval must not be negative, got %v", d)
		}
		o.poll = d
		return nil
	}
}

// WithTimeout bounds one Build plus Validate (default 30 s). It fails
// unless d > 0.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("rotate: timeout must be positive, got %v", d)
		}
		o.timeout = d
		return nil
	}
}

// WithFailureRefresh sets the least time between two secret refreshes
// caused by ReportFailure (default 1 s), so a burst of failed uses costs
// one API call. It fails for a negative duration.
func WithFailureRefresh(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("rotate: failure refresh interval must not be negative, got %v", d)
		}
		o.failureRefresh = d
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()). Logs name the
// resource, secret and versions, never values.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("rotate: nil logger")
		}
		o.logger = l
		return nil
	}
}

// withName sets the registry name.
func withName(name string) Option {
	return func(o *options) error { o.name = name; return nil }
}

// generation is one built resource and the secret version it came from.
type generation[T any] struct {
	val     T
	meta    secretcache.Metadata
	builtAt time.Time
	closed  chan struct{} // closed once the resource is closed
	once    sync.Once
}

// Trigger flags, set by callbacks and read by the worker.
const (
	flagCheck   uint32 = 1 << iota // look for a new version in the cache
	flagRefresh                    // refresh the secret from the source first
	flagForce                      // rebuild even when the version is unchanged
	flagFailure                    // a use of the resource failed
)

const (
	stateNew int32 = iota
	stateStarted
	stateClosed
)

// Rotating owns a resource built from a secret (a database pool, an API
// client) and replaces it when the secret changes: it builds the new
// resource, validates it, swaps it in atomically and closes the old one
// after a drain period. If the new one fails to build or validate, the old
// one stays in use, the attempt is retried with backoff and Health reports
// the resource degraded.
//
// A Rotating is safe for concurrent use. Get is a lock-free load.
type Rotating[T any] struct {
	cache *secretcache.Cache
	id    string
	spec  Spec[T]
	o     options

	cur   atomic.Pointer[generation[T]]
	state atomic.Int32
	flags atomic.Uint32
	kick  chan struct{}
	wg    sync.WaitGroup

	// life is cancelled by Shutdown: it ends the worker and cancels every
	// Build, Validate and read under way, the callers' ones included.
	life     context.Context
	kill     context.CancelFunc
	finished chan struct{} // closed once Shutdown's work is over

	lastFailRefresh atomic.Int64 // unix nanos of the last refresh caused by ReportFailure
	useFailures     atomic.Uint64

	// rotSem is a one-slot semaphore: one Start, ForceRotation or worker
	// attempt at a time. A channel, not a mutex, so that waiting for it
	// can give up when a context ends.
	rotSem chan struct{}

	mu        sync.Mutex // guards what follows
	removeCb  func()
	retired   []*generation[T]
	rotations uint64
	lastRot   time.Time
	failures  int
	lastKind  string
	lastErrAt time.Time
	pendingV  string
	nextRetry time.Time
	closeOnce sync.Once
}

// New returns a rotating resource for the secret id, read through c. It
// checks its arguments and options but builds nothing until Start. It
// fails with secretcache.ErrInvalidRequest for a nil cache, an empty,
// oversized or malformed id, or a nil Build, and with the option's error for
// an invalid option.
func New[T any](c *secretcache.Cache, id string, spec Spec[T], opts ...Option) (*Rotating[T], error) {
	switch {
	case c == nil:
		return nil, invalidArg(id, "nil cache")
	case spec.Build == nil:
		return nil, invalidArg(id, "nil Build function")
	case !validID(id):
		if len(id) > 64 {
			id = id[:64] + "..."
		}
		return nil, invalidArg(id, "secret id must be 1..2048 printable characters without spaces")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			return nil, invalidArg(id, "nil option")
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if spec.Close == nil {
		spec.Close = func(v T) error {
			if cl, ok := any(v).(io.Closer); ok && cl != nil {
				return cl.Close()
			}
			return nil
		}
	}
	life, kill := context.WithCancel(context.Background())
	return &Rotating[T]{cache: c, id: id, spec: spec, o: o, kick: make(chan struct{}, 1),
		life: life, kill: kill, finished: make(chan struct{}), rotSem: make(chan struct{}, 1)}, nil
}

func invalidArg(id, msg string) error {
	return &secretcache.Error{Op: "rotate", ID: id, Kind: secretcache.ErrInvalidRequest, Err: errors.New(msg)}
}

func validID(id string) bool {
	if id == "" || len(id) > secretcache.MaxIDLength {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// SecretID returns the id of the secret the resource is built from.
func (r *Rotating[T]) SecretID() string { return r.id }

// Name returns the registry name, or "" outside a registry.
func (r *Rotating[T]) Name() string { return r.o.name }

// Start reads the secret, builds and validates the first resource, and then
// watches the secret: the cache's change callbacks, a poll of the cached
// value, failures reported with ReportFailure. It fails with an *Error when
// the secret cannot be read or the resource cannot be built or validated
// (nothing is kept running then, and Start may be called again), with
// ErrClosed after Close, and it does nothing when already started.
func (r *Rotating[T]) Start(ctx context.Context) error {
	ctx, release := r.bind(ctx)
	defer release()
	if err := r.lock(ctx); err != nil {
		return r.closedOr("start", err)
	}
	defer r.unlock()
	switch r.state.Load() {
	case stateStarted:
		return nil
	case stateClosed:
		return r.err("start", "", ErrClosed, nil)
	}
	remove := r.cache.OnChange(r.onChange)
	s, err := r.cache.Get(ctx, r.id)
	if err != nil {
		remove()
		return r.closedOr("read", err)
	}
	g, err := r.build(ctx, s)
	if err != nil {
		remove()
		return r.closedOr("start", err)
	}
	r.mu.Lock()
	r.lastRot = g.builtAt
	r.mu.Unlock()
	r.cur.Store(g)
	if !r.state.CompareAndSwap(stateNew, stateStarted) {
		// Shutdown began while this was building; it closes what is
		// in use once this returns, g included.
		remove()
		return r.err("start", "", ErrClosed, nil)
	}
	r.mu.Lock()
	r.removeCb = remove
	r.mu.Unlock()
	r.wg.Add(1)
	go r.worker()
	r.o.logger.Info("rotate: resource ready", "resource", r.o.name, "secret", r.id, "version", g.meta.VersionID)
	return nil
}

// Get returns the resource in use: a lock-free load. Before Start succeeds
// and after Close it returns the zero T.
func (r *Rotating[T]) Get() T {
	if g := r.cur.Load(); g != nil {
		return g.val
	}
	var zero T
	return zero
}

// Version returns the metadata (never the value) of the secret version the
// resource in use was built from, and false before Start.
func (r *Rotating[T]) Version() (secretcache.Metadata, bool) {
	if g := r.cur.Load(); g != nil {
		return g.meta, true
	}
	return secretcache.Metadata{}, false
}

// onChange runs on the cache's refresher goroutine: it only sets a flag.
func (r *Rotating[T]) onChange(ev secretcache.ChangeEvent) {
	if ev.Ref.ID != r.id || ev.Ref.VersionID != "" || (ev.Ref.VersionStage != "" && ev.Ref.VersionStage != awsname.StageCurrent) {
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

// ReportFailure tells that using the resource failed in a way a new secret
// version may fix (an authentication error, say). It never blocks: it
// schedules a refresh of the secret (at most one per WithFailureRefresh
// interval) and, when a new version is found, a rotation; when the version
// is unchanged it validates the resource in use and reports it degraded if
// that fails. err is counted by kind only; it may be nil.
func (r *Rotating[T]) ReportFailure(err error) {
	r.useFailures.Add(1)
	if r.state.Load() != stateStarted {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastFailRefresh.Load()
	if now-last < int64(r.o.failureRefresh) || !r.lastFailRefresh.CompareAndSwap(last, now) {
		return
	}
	r.trigger(flagRefresh | flagFailure)
}

// Invalidate drops the cached secret and rebuilds the resource from a
// freshly fetched version in the background, even when the version did not
// change. The resource in use keeps serving until the new one validates.
func (r *Rotating[T]) Invalidate() {
	r.cache.Invalidate(r.id)
	if r.state.Load() == stateStarted {
		r.trigger(flagRefresh | flagForce)
	}
}

// ForceRotation refreshes the secret from the source, builds and validates a
// new resource (even when the version did not change) and swaps it in. It
// waits for the outcome: on failure the resource in use stays and the error
// is an *Error matching ErrBuild or ErrValidation, or the cache's error. It
// fails with ErrNotStarted before Start and ErrClosed after Close.
func (r *Rotating[T]) ForceRotation(ctx context.Context) error {
	ctx, release := r.bind(ctx)
	defer release()
	if err := r.lock(ctx); err != nil {
		return r.closedOr("rotate", err)
	}
	defer r.unlock()
	switch r.state.Load() {
	case stateNew:
		return r.err("rotate", "", ErrNotStarted, nil)
	case stateClosed:
		return r.err("rotate", "", ErrClosed, nil)
	}
	return r.attempt(ctx, flagRefresh|flagForce)
}

// bind returns ctx, also cancelled when Shutdown begins, and its release.
func (r *Rotating[T]) bind(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// lock takes the rotation slot, or gives up when ctx ends.
func (r *Rotating[T]) lock(ctx context.Context) error {
	select {
	case r.rotSem <- struct{}{}:
		return nil
	default:
	}
	select {
	case r.rotSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Rotating[T]) unlock() { <-r.rotSem }

// closedOr returns an ErrClosed *Error when Shutdown has begun (err is
// then only what the cancellation caused), else err as an *Error of op.
func (r *Rotating[T]) closedOr(op string, err error) error {
	re, isErr := err.(*Error)
	if r.life.Err() != nil {
		if isErr {
			err = re.Err
		}
		return r.err(op, "", ErrClosed, err)
	}
	if isErr {
		return err
	}
	return r.err(op, "", nil, err)
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
	var (
		s   *secretcache.Secret
		err error
	)
	if f&flagRefresh != 0 {
		s, err = r.cache.Refresh(ctx, r.id)
	} else {
		s, err = r.cache.Get(ctx, r.id)
	}
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

// backingOff reports whether version is the one whose last attempt failed
// and its retry is not due yet.
func (r *Rotating[T]) backingOff(version string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures > 0 && version != "" && version == r.pendingV && time.Now().Before(r.nextRetry)
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

// failed records a failed attempt and schedules the retry.
func (r *Rotating[T]) failed(version string, err error) {
	r.mu.Lock()
	r.failures++
	n := r.failures
	r.lastKind = errorKind(err)
	r.lastErrAt = time.Now()
	if version != "" {
		r.pendingV = version
	}
	wait := backoff(r.o.backoffBase, r.o.backoffMax, n)
	r.nextRetry = r.lastErrAt.Add(wait)
	r.mu.Unlock()
	r.o.logger.Warn("rotate: rotation attempt failed; keeping the resource in use", "resource", r.o.name,
		"secret", r.id, "version", version, "kind", errorKind(err), "failures", n, "retry_in", wait)
}

// recovered clears a degraded state once the secret is back to the version
// in use and the resource checks out.
func (r *Rotating[T]) recovered() {
	r.mu.Lock()
	r.failures, r.pendingV, r.nextRetry = 0, "", time.Time{}
	r.mu.Unlock()
}

// backoff returns the jittered wait after n consecutive failures: base
// doubled n-1 times, capped at max, then drawn from its upper half. The
// doubling stops before it could overflow, however large max is.
func backoff(base, maxD time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxD; i++ {
		if d > maxD/2 {
			d = maxD
			break
		}
		d *= 2
	}
	d = max(min(d, maxD), 1)
	return d/2 + rand.N(d/2+1)
}

func (r *Rotating[T]) err(op, version string, kind, cause error) *Error {
	return &Error{Name: r.o.name, SecretID: r.id, VersionID: version, Op: op, Kind: kind, Err: cause}
}

// Shutdown stops rotating and closes the resource in use and every
// replaced one still in its drain period, all at once, without waiting for
// the drain periods: by the time a program shuts down, the work that used
// them is over. It cancels the context of a Build, Validate or secret read
// under way (a Start's or ForceRotation's too, which then fail with
// ErrClosed). It waits for that rotation to end and for the Close
// functions until ctx is done and then returns ctx's error (the rest goes
// on in the background). Get returns the zero T afterwards. It is safe to
// call more than once and before Start; a later call waits for the first
// one's work in the same way.
func (r *Rotating[T]) Shutdown(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.state.Store(stateClosed)
		r.kill() // cancels the rotation in progress and ends the worker
		go r.finish()
	})
	select {
	case <-r.finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish waits for the rotation in progress and the worker to end, then
// closes every resource; it closes r.finished when done.
func (r *Rotating[T]) finish() {
	defer close(r.finished)
	r.rotSem <- struct{}{} // a Start in progress has added to wg by now
	<-r.rotSem
	r.wg.Wait()
	r.mu.Lock()
	if r.removeCb != nil {
		r.removeCb()
		r.removeCb = nil
	}
	gens := append([]*generation[T](nil), r.retired...)
	r.mu.Unlock()
	if g := r.cur.Swap(nil); g != nil {
		gens = append(gens, g)
	}
	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Go(func() { r.closeGen(g) })
	}
	wg.Wait()
}

// Close is Shutdown without a deadline. It always returns nil.
func (r *Rotating[T]) Close() error {
	_ = r.Shutdown(context.Background())
	return nil
}
