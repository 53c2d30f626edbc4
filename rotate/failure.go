package rotate

import (
	"time"

	"github.com/secretcache/secretcache/internal/backoff"
)

// ReportFailure tells that using the resource failed in a way a new secret
// version may fix (an authentication error, say). It never blocks: it
// schedules a refresh of the secret (at most one per WithFailureRefresh
// interval; none when the cache already holds another version than the one
// in use) and, when a new version is found, a rotation; when the version
// is unchanged it validates the resource in use and reports it degraded if
// that fails. err is counted by kind only; it may be nil.
func (r *Rotating[T]) ReportFailure(err error) {
	r.useFailures.Add(1)
	if r.state.Load() != stateStarted {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastFailure.Load()
	if now-last < int64(r.o.failureRefresh) || !r.lastFailure.CompareAndSwap(last, now) {
		return
	}
	r.trigger(flagFailure)
}

// backingOff reports whether version is the one whose last attempt failed
// and its retry is not due yet.
func (r *Rotating[T]) backingOff(version string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures > 0 && version != "" && version == r.pendingV && time.Now().Before(r.nextRetry)
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
	wait := backoff.Delay(r.o.backoffBase, r.o.backoffMax, n)
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
