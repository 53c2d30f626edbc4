package awsfail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/secretcache/secretcache"
)

// Config is what a Set needs from its source.
type Config struct {
	Service        string        // log prefix: "awssm", "ssmparam"
	BreakerFails   int           // consecutive transient failures that open a breaker
	BreakerOpenFor time.Duration // how long an open breaker skips its region
	Timeout        time.Duration // bounds a background probe
	Logger         *slog.Logger
	// Classify maps a failed call's error to a Class (see Classify).
	Classify func(parent context.Context, err error) Class
	// Independent: the regions hold separate data (Parameter Store does not
	// replicate), so a permanent answer of a region other than the primary
	// (not found, denied) says nothing of the parameter asked for: it
	// counts as that region failing, transiently, and never replaces or
	// drops what the cache holds. Secrets Manager replicas are the same
	// secret: for them a permanent answer of any region stands.
	Independent bool
}

// Region is one entry of the failover list: a client and its breaker.
type Region[C any] struct {
	Name    string
	Primary bool
	Client  C

	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	mu       sync.Mutex
	failures int    // consecutive breaker failures
	lastKind string // kind of the last breaker failure
	since    time.Time
}

// Set is the ordered failover list of a source, the primary first.
type Set[C any] struct {
	cfg     Config
	Regions []*Region[C]
}

// Sentinels handed to the breaker's done callback.
var (
	errBreakerFailure  = errors.New("awsfail: transient failure")
	errBreakerExcluded = errors.New("awsfail: caller gave up")
)

// NewSet returns the failover list of names (the primary first), each
// region with clients[i].
func NewSet[C any](cfg Config, names []string, clients []C) *Set[C] {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Set[C]{cfg: cfg}
	for i, n := range names {
		s.Regions = append(s.Regions, s.newRegion(n, i == 0, clients[i]))
	}
	return s
}

func (s *Set[C]) newRegion(name string, primary bool, client C) *Region[C] {
	r := &Region[C]{Name: name, Primary: primary, Client: client, since: time.Now()}
	fails := uint32(s.cfg.BreakerFails)
	svc := s.cfg.Service
	r.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  1,
		Timeout:      s.cfg.BreakerOpenFor,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= fails },
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errBreakerExcluded) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			r.mu.Lock()
			r.since = time.Now()
			n, kind := r.failures, r.lastKind
			r.mu.Unlock()
			switch to {
			case gobreaker.StateOpen:
				s.cfg.Logger.Warn(svc+": circuit breaker opened; skipping region", "region", name,
					"from", from.String(), "failures", n, "last_error_kind", kind, "open_for", s.cfg.BreakerOpenFor)
			case gobreaker.StateHalfOpen:
				s.cfg.Logger.Info(svc+": circuit breaker half-open; probing region", "region", name)
			case gobreaker.StateClosed:
				s.cfg.Logger.Info(svc+": circuit breaker closed; region recovered", "region", name)
			}
		},
	})
	return r
}

// Names returns the regions' names, the primary first.
func (s *Set[C]) Names() []string {
	out := make([]string, len(s.Regions))
	for i, r := range s.Regions {
		out[i] = r.Name
	}
	return out
}

// Breakers reports the breaker of each region, the primary first.
func (s *Set[C]) Breakers() []secretcache.BreakerState {
	out := make([]secretcache.BreakerState, len(s.Regions))
	for i, r := range s.Regions {
		out[i] = r.state()
	}
	return out
}

// record notes the outcome of a call for Breakers.
func (r *Region[C]) record(c Class, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case failed && c.Breaker:
		r.failures++
		r.lastKind = secretcache.KindName(c.Kind)
	case !failed || !c.Excluded:
		r.failures = 0
	}
}

func (r *Region[C]) state() secretcache.BreakerState {
	st := r.cb.State().String() // first: it may move open to half-open and call OnStateChange
	r.mu.Lock()
	defer r.mu.Unlock()
	return secretcache.BreakerState{Name: r.Name, Primary: r.Primary, State: st,
		Failures: r.failures, LastErrorKind: r.lastKind, Since: r.since}
}

// Attempt is one call to one region, retries by the SDK included. It must
// not write to anything shared: it may run as a background probe whose
// result is dropped.
type Attempt[C, T any] func(ctx context.Context, r *Region[C]) (T, error)

// try runs call in r if r's breaker lets it through. ok is false when the
// breaker refused. err is the mapped error, an *secretcache.Error.
func try[C, T any](s *Set[C], ctx, parent context.Context, r *Region[C], id string, call Attempt[C, T]) (v T, c Class, ok bool, err error) {
	done, berr := r.cb.Allow()
	if berr != nil {
		return v, Class{}, false, nil
	}
	v, raw := call(ctx, r)
	c = s.finish(r, parent, done, raw)
	if raw == nil {
		return v, c, true, nil
	}
	var se *secretcache.Error
	if errors.As(raw, &se) && se.Kind != nil {
		return v, c, true, se
	}
	var ce *CallError
	if !errors.As(raw, &ce) { // every call's error is a *CallError, naming the region
		raw = fmt.Errorf("region %s: %w", r.Name, raw)
	}
	return v, c, true, &secretcache.Error{Op: "fetch", ID: id, Kind: c.Kind, Err: raw}
}

// finish classifies the outcome of a call the breaker let through and
// reports it to the breaker.
func (s *Set[C]) finish(r *Region[C], parent context.Context, done func(error), raw error) Class {
	if raw == nil {
		r.record(Class{}, false)
		done(nil)
		return Class{}
	}
	c := s.cfg.Classify(parent, raw)
	r.record(c, true)
	switch {
	case c.Excluded:
		done(errBreakerExcluded)
	case c.Breaker:
		done(errBreakerFailure)
	default:
		done(nil) // the region answered: not its fault
	}
	return c
}

// Run runs call in the regions in order until one answers: a success or a
// permanent error (not found, access denied, ...) ends it, a transient
// error moves on to the next region. Regions whose breaker is open are
// skipped without waiting. A half-open region (its open period over) is
// passed over too while a later region can answer; it is then probed in the
// background with the same call, so that no caller waits on a region that
// failed. Only when no closed region answered does the caller probe the
// half-open ones itself. ctx bounds the calls; parent is the caller's own
// context (its end makes a failure the caller's doing, not the region's).
// The error is a *secretcache.Error with Op "fetch" and ID id.
func Run[C, T any](s *Set[C], ctx, parent context.Context, id string, call Attempt[C, T]) (T, error) {
	var zero T
	var lastErr error
	var halfOpen []*Region[C]
	var open []string
	for _, r := range s.Regions {
		if ctx.Err() != nil {
			break
		}
		switch r.cb.State() {
		case gobreaker.StateOpen:
			open = append(open, r.Name)
			continue
		case gobreaker.StateHalfOpen:
			halfOpen = append(halfOpen, r)
			continue
		}
		v, c, ok, err := try(s, ctx, parent, r, id, call)
		if !ok {
			open = append(open, r.Name)
			continue
		}
		if err == nil || !c.Failover {
			for _, h := range halfOpen {
				probe(s, h, call)
			}
			return v, s.replicaAnswer(r, id, err)
		}
		lastErr = err
	}
	for _, r := range halfOpen {
		if ctx.Err() != nil {
			break
		}
		v, c, ok, err := try(s, ctx, parent, r, id, call)
		if !ok {
			open = append(open, r.Name)
			continue
		}
		if err == nil || !c.Failover {
			return v, s.replicaAnswer(r, id, err)
		}
		lastErr = err
	}
	if lastErr == nil {
		var cause error
		switch {
		case ctx.Err() != nil:
			cause = ctx.Err()
		default:
			cause = fmt.Errorf("circuit breaker open for region %s", strings.Join(open, ", "))
		}
		lastErr = &secretcache.Error{Op: "fetch", ID: id, Kind: secretcache.ErrUnavailable, Err: cause}
	}
	return zero, lastErr
}

// replicaAnswer is the error a permanent answer err of region r makes:
// itself, unless the regions are independent and r is not the primary:
// then it is a transient failure, naming the region and the kind only.
func (s *Set[C]) replicaAnswer(r *Region[C], id string, err error) error {
	if err == nil || r.Primary || !s.cfg.Independent {
		return err
	}
	return &secretcache.Error{Op: "fetch", ID: id, Kind: secretcache.ErrUnavailable,
		Err: fmt.Errorf("the primary region failed, and %s answered %s: its parameters are not the primary's", r.Name, secretcache.KindName(err))}
}

// probe calls r in the background if its breaker lets a probe through (one
// at a time): success closes the breaker, failure opens it again. The result
// is dropped.
func probe[C, T any](s *Set[C], r *Region[C], call Attempt[C, T]) {
	done, err := r.cb.Allow()
	if err != nil {
		return
	}
	go func() { // ends within the source's timeout
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		_, raw := call(ctx, r)
		if c := s.finish(r, context.Background(), done, raw); raw != nil {
			s.cfg.Logger.Debug(s.cfg.Service+": background probe failed", "region", r.Name, "kind", secretcache.KindName(c.Kind))
		}
	}()
}
