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
// empty and Binary empty), both a String and a Binary, another version or
// stage, or another secret (by the source's Description.SameSecret). A
// source that panics fails that fetch with ErrUnavailable. The cache keeps
// the strings of an answer and copies its Binary and VersionStages: the
// source may reuse the Secret afterwards.
// Fetch must return when ctx ends; if it does not, Close still returns and
// releases the callers, and the late answer is discarded.
type Source interface {
	Fetch(ctx context.Context, ref Ref) (*Secret, error)
}

// BatchSource is a Source that can fetch several refs in one backend call
// (at most its Description's MaxBatch). The cache uses it to warm up and to
// refresh entries that fall due together.
type BatchSource interface {
	Source
	// FetchBatch returns one Result per ref, in the order of refs. A failure of
	// the whole call sets Err in every Result. Every result is checked as a
	// Fetch answer is, and it must name its secret (Name or ARN); an answer
	// with more or fewer results than refs is refused for every ref.
	FetchBatch(ctx context.Context, refs []Ref) []Result
}

// Describer is implemented by a Source that states its rules to the cache.
// The cache asks once, in New.
type Describer interface{ Describe() Description }

// Description is what a Source needs from the cache: the rules of its
// backend, which the cache applies without knowing the backend. The zero
// value is a source with no stages, no batching preference and exact naming.
type Description struct {
	// DefaultStage is the stage a read with neither stage nor version id
	// reads (AWSCURRENT for Secrets Manager): the cache passes it in the Ref,
	// and a read naming it shares the entry of a read naming nothing. "":
	// the source has no stages, and such a Ref has both fields empty.
	DefaultStage string
	// MaxBatch is the most refs the cache passes to one FetchBatch call
	// (BatchSource only). 0: 10, the smallest limit among the batch APIs
	// this module knows (Parameter Store's GetParameters), safe for any.
	MaxBatch int
	// SameSecret reports whether answer s can be the secret id names (an
	// answer that is not is refused with ErrMismatch). nil: s.Name or s.ARN
	// is id, or both are empty.
	SameSecret func(id string, s *Secret) bool
	// NameOf returns the secret name id refers to, which WithPolicy
	// patterns match when an answer carries no name. nil: id itself.
	NameOf func(id string) string
}

// defaultMaxBatch is Description.MaxBatch when a source gives none.
const defaultMaxBatch = 10

// describe returns src's Description with the defaults filled in.
func describe(src Source) Description {
	var d Description
	if ds, ok := src.(Describer); ok {
		d = ds.Describe()
	}
	if d.MaxBatch <= 0 {
		d.MaxBatch = defaultMaxBatch
	}
	if d.SameSecret == nil {
		d.SameSecret = exactName
	}
	if d.NameOf == nil {
		d.NameOf = func(id string) string { return id }
	}
	return d
}

// exactName is the naming of a Description that gives none.
func exactName(id string, s *Secret) bool {
	return (s.Name == "" && s.ARN == "") || s.Name == id || s.ARN == id
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
