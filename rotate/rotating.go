package rotate

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
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
	flagFailure                    // a use failed: refresh while the version in use is cached, revalidate
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
	cache *secretcache.Cache // the only way to the secret: reads, refreshes, change callbacks
	id    string
	spec  Spec[T]
	o     options

	cur   atomic.Pointer[generation[T]] // the resource in use: Get loads it without a lock
	state atomic.Int32                  // stateNew, stateStarted, stateClosed
	// flags and kick carry what callbacks, polls and ReportFailure ask of
	// the worker without blocking them: a burst of requests is one attempt.
	flags atomic.Uint32
	kick  chan struct{}
	wg    sync.WaitGroup // the worker, for Shutdown to wait for

	// life is cancelled by Shutdown: it ends the worker and cancels every
	// Build, Validate and read under way, the callers' ones included.
	life     context.Context
	kill     context.CancelFunc
	finished chan struct{} // closed once Shutdown's work is over

	// lastFailure is when ReportFailure last asked the worker to handle a
	// failed use (unix nanos). Each such request may cost a refresh and a
	// Validate (a login, for a database), so it stays at one per
	// WithFailureRefresh interval however many uses fail; the refresh itself
	// is the cache's, shared with everyone refreshing the secret.
	lastFailure atomic.Int64
	useFailures atomic.Uint64

	// rotSem is a one-slot semaphore: one Start, ForceRotation or worker
	// attempt at a time. A channel, not a mutex, so that waiting for it
	// can give up when a context ends.
	rotSem chan struct{}

	mu        sync.Mutex       // guards what follows, the state Health reports
	removeCb  func()           // removes the change callback, at Shutdown
	retired   []*generation[T] // replaced, still draining: Shutdown closes them at once
	rotations uint64
	lastRot   time.Time
	failures  int    // consecutive failed attempts: the backoff's n, and degraded when > 0
	lastKind  string // errorKind of the last failure: label-safe, never a message
	lastErrAt time.Time
	pendingV  string    // the version that failed, which polls do not retry before nextRetry
	nextRetry time.Time // when the worker's retry timer fires
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
	}
	if secretcache.CheckID(id) != nil {
		return nil, invalidID(id)
	}
	o, err := newOptions(id, opts)
	if err != nil {
		return nil, err
	}
	if spec.Close == nil {
		spec.Close = closeIfCloser[T]
	}
	life, kill := context.WithCancel(context.Background())
	return &Rotating[T]{cache: c, id: id, spec: spec, o: o, kick: make(chan struct{}, 1),
		life: life, kill: kill, finished: make(chan struct{}), rotSem: make(chan struct{}, 1)}, nil
}

// closeIfCloser is the Close of a Spec that has none.
func closeIfCloser[T any](v T) error {
	if cl, ok := any(v).(io.Closer); ok && cl != nil {
		return cl.Close()
	}
	return nil
}

func invalidArg(id, msg string) error {
	return &secretcache.Error{Op: "rotate", ID: id, Kind: secretcache.ErrInvalidRequest, Err: errors.New(msg)}
}

// invalidID is the error for an id secretcache.CheckID refuses; it quotes
// the id clipped.
func invalidID(id string) error {
	return invalidArg(clip.ID(id), "secret id must be 1..2048 printable characters without spaces")
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
