package awssm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/sony/gobreaker/v2"

	"github.com/secretcache/secretcache"
)

// region is one entry of the failover list: a client and its breaker.
type region struct {
	name    string
	primary bool
	client  *secretsmanager.Client
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu       sync.Mutex
	failures int    // consecutive breaker failures
	lastKind string // kind of the last breaker failure
	since    time.Time
}

// Sentinels handed to the breaker's done callback.
var (
	errBreakerFailure  = errors.New("awssm: transient failure")
	errBreakerExcluded = errors.New("awssm: caller gave up")
)

func (s *Source) newRegion(name string, primary bool, client *secretsmanager.Client) *region {
	r := &region{name: name, primary: primary, client: client, since: time.Now()}
	fails := uint32(s.cfg.breakerFails)
	r.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     s.cfg.breakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= fails },
		IsSuccessful: func(err error) bool {
			return err == nil
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errBreakerExcluded) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			r.mu.Lock()
			r.since = time.Now()
			n, kind := r.failures, r.lastKind
			r.mu.Unlock()
			switch to {
			case gobreaker.StateOpen:
				s.log.Warn("awssm: circuit breaker opened; skipping region", "region", name,
					"from", from.String(), "failures", n, "last_error_kind", kind, "open_for", s.cfg.breakerOpenFor)
			case gobreaker.StateHalfOpen:
				s.log.Info("awssm: circuit breaker half-open; probing region", "region", name)
			case gobreaker.StateClosed:
				s.log.Info("awssm: circuit breaker closed; region recovered", "region", name)
			}
		},
	})
	return r
}

// record notes the outcome of a call for Breakers.
func (r *region) record(c class, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case failed && c.breaker:
		r.failures++
		r.lastKind = secretcache.KindName(c.kind)
	case !failed || !c.excluded:
		r.failures = 0
	}
}

func (r *region) state() secretcache.BreakerState {
	st := r.cb.State().String() // first: it may move open to half-open and call OnStateChange
	r.mu.Lock()
	defer r.mu.Unlock()
	return secretcache.BreakerState{Name: r.name, Primary: r.primary, State: st,
		Failures: r.failures, LastErrorKind: r.lastKind, Since: r.since}
}

// attempt is one call to one region, retries by the SDK included. It must
// not write to anything shared: it may run as a background probe whose
// result is dropped.
type attempt[T any] func(ctx context.Context, r *region) (T, error)

// try runs call in r if r's breaker lets it through. ok is false when the
// breaker refused. err is the mapped error, an *secretcache.Error.
func try[T any](s *Source, ctx, parent context.Context, r *region, id string, call attempt[T]) (v T, c class, ok bool, err error) {
	done, berr := r.cb.Allow()
	if berr != nil {
		return v, class{}, false, nil
	}
	v, raw := call(ctx, r)
	c = r.finish(parent, done, raw)
	if raw == nil {
		return v, c, true, nil
	}
	var se *secretcache.Error
	if errors.As(raw, &se) && se.Kind != nil {
		return v, c, true, se
	}
	var ce *CallError
	if !errors.As(raw, &ce) { // every call's error is a *CallError, naming the region
		raw = fmt.Errorf("region %s: %w", r.name, raw)
	}
	return v, c, true, &secretcache.Error{Op: "fetch", ID: id, Kind: c.kind, Err: raw}
}

// finish classifies the outcome of a call the breaker let through and
// reports it to the breaker.
func (r *region) finish(parent context.Context, done func(error), raw error) class {
	if raw == nil {
		r.record(class{}, false)
		done(nil)
		return class{}
	}
	c := classify(parent, raw)
	r.record(c, true)
	switch {
	case c.excluded:
		done(errBreakerExcluded)
	case c.breaker:
		done(errBreakerFailure)
	default:
		done(nil) // the region answered: not its fault
	}
	return c
}

// failover runs call in the regions in order until one answers: a success
// or a permanent error (not found, access denied, ...) ends it, a transient
// error moves on to the next region. Regions whose breaker is open are
// skipped without waiting. A half-open region (its open period over) is
// passed over too while a later region can answer; it is then probed in the
// background with the same call, so that no caller waits on a region that
// failed. Only when no closed region answered does the caller probe the
// half-open ones itself.
func failover[T any](s *Source, ctx, parent context.Context, id string, call attempt[T]) (T, error) {
	var zero T
	var lastErr error
	var halfOpen []*region
	var open []string
	for _, r := range s.regions {
		if ctx.Err() != nil {
			break
		}
		switch r.cb.State() {
		case gobreaker.StateOpen:
			open = append(open, r.name)
			continue
		case gobreaker.StateHalfOpen:
			halfOpen = append(halfOpen, r)
			continue
		}
		v, c, ok, err := try(s, ctx, parent, r, id, call)
		if !ok {
			open = append(open, r.name)
			continue
		}
		if err == nil || !c.failover {
			for _, h := range halfOpen {
				probe(s, h, call)
			}
			return v, err
		}
		lastErr = err
	}
	for _, r := range halfOpen {
		if ctx.Err() != nil {
			break
		}
		v, c, ok, err := try(s, ctx, parent, r, id, call)
		if !ok {
			open = append(open, r.name)
			continue
		}
		if err == nil || !c.failover {
			return v, err
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

// probe calls r in the background if its breaker lets a probe through (one
// at a time): success closes the breaker, failure opens it again. The result
// is dropped.
func probe[T any](s *Source, r *region, call attempt[T]) {
	done, err := r.cb.Allow()
	if err != nil {
		return
	}
	go func() { // ends within the source's timeout
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
		defer cancel()
		_, raw := call(ctx, r)
		if c := r.finish(context.Background(), done, raw); raw != nil {
			s.log.Debug("awssm: background probe failed", "region", r.name, "kind", secretcache.KindName(c.kind))
		}
	}()
}
