package rotate

import (
	"time"

	"github.com/secretcache/secretcache/health"
)

// Health statuses: the words of package health.
const (
	StatusHealthy   = health.Healthy
	StatusDegraded  = health.Degraded
	StatusUnhealthy = health.Unhealthy
)

// Health is a snapshot of one rotating resource. It holds metadata only,
// never a secret value.
type Health struct {
	Name     string `json:"name,omitempty"`
	SecretID string `json:"secret_id"`
	// Status is "healthy" (in use and no failed attempt since the last
	// rotation), "degraded" (in use, but building or validating a new
	// version, or re-validating after a failed use, keeps failing), or
	// "unhealthy" (no resource: not started, or closed).
	Status string `json:"status"`
	// VersionID is the secret version the resource in use was built from.
	VersionID string `json:"version_id,omitempty"`
	// PendingVersionID is the version that failed to build or validate.
	PendingVersionID string    `json:"pending_version_id,omitempty"`
	BuiltAt          time.Time `json:"built_at,omitzero"`
	LastRotation     time.Time `json:"last_rotation,omitzero"`
	Rotations        uint64    `json:"rotations"`
	// Failures counts consecutive failed attempts since the last success.
	Failures int `json:"failures"`
	// LastErrorKind is a label-safe kind: "validation_failed",
	// "build_failed", "timeout", "secret_not_found", ... never a message.
	LastErrorKind string    `json:"last_error_kind,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	NextRetry     time.Time `json:"next_retry,omitzero"`
	// UseFailures counts ReportFailure calls.
	UseFailures uint64 `json:"use_failures"`
	// Draining counts replaced resources not closed yet.
	Draining int `json:"draining"`
}

// Health returns a snapshot of the resource's state.
func (r *Rotating[T]) Health() Health {
	h := Health{Name: r.o.name, SecretID: r.id, UseFailures: r.useFailures.Load()}
	g := r.cur.Load()
	r.mu.Lock()
	h.Rotations = r.rotations
	h.LastRotation = r.lastRot
	h.Failures = r.failures
	h.LastErrorKind = r.lastKind
	h.LastErrorAt = r.lastErrAt
	h.PendingVersionID = r.pendingV
	h.NextRetry = r.nextRetry
	h.Draining = len(r.retired)
	r.mu.Unlock()
	switch {
	case g == nil || r.state.Load() != stateStarted:
		h.Status = StatusUnhealthy
	case h.Failures > 0:
		h.Status = StatusDegraded
	default:
		h.Status = StatusHealthy
	}
	if g != nil {
		h.VersionID = g.meta.VersionID
		h.BuiltAt = g.builtAt
	}
	return h
}
