package secretcache

import (
	"context"
	"time"
)

// Source fetches one secret version from a backend (AWS Secrets Manager, a
// file, a test script). It must be safe for concurrent use. Errors should
// match one of the Err* kinds (return an *Error); anything else is treated as
// ErrUnavailable.
//
// The cache checks every answer and refuses, with a transient ErrMismatch
// (the answer is dropped, a cached value kept), one that is not a usable
// value of the ref asked for: no secret and no error, no value (String
// empty and Binary empty), both a String and a Binary, another name,
// version or stage, or an ARN naming another secret than Name. A source that panics fails that fetch with
// ErrUnavailable. The cache keeps the strings of an answer and copies its
// Binary and VersionStages: the source may reuse the Secret afterwards.
// Fetch must return when ctx ends; if it does not, Close still returns and
// releases the callers, and the late answer is discarded.
type Source interface {
	Fetch(ctx context.Context, ref Ref) (*Secret, error)
}

// MaxBatch is the most refs the cache passes to one FetchBatch call
// (BatchGetSecretValue's limit).
const MaxBatch = 20

// BatchSource is a Source that can fetch up to MaxBatch refs in one backend
// call. The cache uses it to warm up and to refresh entries that fall due
// together.
type BatchSource interface {
	Source
	// FetchBatch returns one Result per ref, in the order of refs. A failure of
	// the whole call sets Err in every Result. Every result is checked as a
	// Fetch answer is, and it must name its secret (Name or ARN); an answer
	// with more or fewer results than refs is refused for every ref.
	FetchBatch(ctx context.Context, refs []Ref) []Result
}

// Result is the outcome of fetching one ref in a batch.
type Result struct {
	Secret *Secret
	Err    error
}

// SourceFunc adapts a function to the Source interface.
type SourceFunc func(ctx context.Context, ref Ref) (*Secret, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context, ref Ref) (*Secret, error) { return f(ctx, ref) }

// BreakerState is a snapshot of one circuit breaker of a source, for
// example one AWS region. Sources with breakers implement BreakerReporter.
type BreakerState struct {
	Name          string    `json:"name"`                      // region or endpoint
	Primary       bool      `json:"primary"`                   // first choice of the source
	State         string    `json:"state"`                     // "closed", "open" or "half-open"
	Failures      int       `json:"failures"`                  // consecutive failures
	LastErrorKind string    `json:"last_error_kind,omitempty"` // KindName of the last failure
	Since         time.Time `json:"since,omitzero"`            // when State last changed
}

// BreakerReporter is implemented by sources that fail over between breakers.
type BreakerReporter interface {
	Breakers() []BreakerState
}
