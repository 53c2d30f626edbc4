package secretcache

import (
	"context"
	"errors"
)

// Tracer starts a span around each call the cache makes to its source (and
// each rotation of package rotate), so
// that a trace shows a read that had to wait for Secrets Manager, and the
// background refreshes. Package tracing implements it with OpenTelemetry;
// this package imports no tracing library.
//
// The cache calls Start only off the cached read path (a hit never calls
// it), before the source's Fetch or FetchBatch, and passes the returned
// context to the source, so the source's own spans (the AWS SDK's) are
// children of the span. It calls end once, with nil or the error of the
// call (for a batch: the first ref's error, if any failed). refs hold
// names and stages only, never a value; Start must not keep them.
type Tracer interface {
	Start(ctx context.Context, kind TraceKind, refs []Ref) (_ context.Context, end func(err error))
}

// TraceKind says why the cache calls its source.
type TraceKind uint8

// Trace kinds.
const (
	// TraceMiss: a read found no usable value (nothing cached, expired, a
	// failure to retry) and waits for this fetch. Its context is the first
	// waiting reader's (its values, not its cancellation).
	TraceMiss TraceKind = iota
	// TraceRefresh: a background refresh-ahead of one or more secrets, or
	// the fetch of a Refresh call (one secret; the first caller's context).
	TraceRefresh
	// TraceWarm: a batch of Warm (the agent's prefetch).
	TraceWarm
	// TraceRotation: package rotate builds, validates and puts in use a
	// resource for a new version (refs: the secret and that version).
	TraceRotation
)

func (k TraceKind) String() string {
	switch k {
	case TraceMiss:
		return "miss"
	case TraceRefresh:
		return "refresh"
	case TraceWarm:
		return "warm"
	}
	return "rotation"
}

// WithTracer sets the Tracer of the cache's source calls (see Tracer). A
// nil t is an error; without this option no span is made and nothing is
// spent on tracing.
func WithTracer(t Tracer) Option {
	return func(c *config) error {
		if t == nil {
			return errors.New("secretcache: nil tracer")
		}
		c.tracer = t
		return nil
	}
}

func noEnd(error) {}

// startTrace starts a span of kind for refs when a Tracer is set.
func (c *Cache) startTrace(ctx context.Context, kind TraceKind, refs []Ref) (context.Context, func(error)) {
	if c.cfg.tracer == nil {
		return ctx, noEnd
	}
	return c.cfg.tracer.Start(ctx, kind, refs)
}

// firstErr is the error a batch's span ends with.
func firstErr(res []Result) error {
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}
