package awsfail

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/tracing"

	"github.com/secretcache/secretcache"
)

// NewRetryer returns a region's own retryer: the SDK's standard retryer
// (exponential backoff with full jitter, a retry quota), or its adaptive
// mode, which adds client-side rate limiting.
func NewRetryer(maxAttempts int, base, max time.Duration, adaptive bool) aws.Retryer {
	std := func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.BaseDelay = base
		o.MaxBackoff = max
	}
	if adaptive {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, std)
		})
	}
	return retry.NewStandard(std)
}

// ClientFields points at the fields of an SDK client's options that a
// source sets: every service's Options struct has them, each under its own
// type.
type ClientFields struct {
	Region           *string
	BaseEndpoint     **string
	Retryer          *aws.Retryer
	RetryMaxAttempts *int
	APIOptions       *[]func(*middleware.Stack) error
	TracerProvider   *tracing.TracerProvider
}

// SetClient sets the options of region's client, the one home of how a
// source builds its clients: the region and its endpoint, the source's own
// retryer (RetryMaxAttempts 0, else the SDK wraps it with cfg's), the
// user agent and attempt timeout (StackOptions) and, when tp is not nil,
// the tracer provider.
func (c *Settings) SetClient(region string, tp tracing.TracerProvider, f ClientFields) {
	*f.Region = region
	if ep := c.Endpoint(region); ep != nil {
		*f.BaseEndpoint = ep
	}
	*f.Retryer = c.Retryer()
	*f.RetryMaxAttempts = 0
	*f.APIOptions = append(slices.Clip(*f.APIOptions), StackOptions(c.AttemptTimeout)...)
	if tp != nil {
		*f.TracerProvider = tp
	}
}

// StackOptions returns the middleware a source adds to each client: the
// "secretcache/<version>" user agent and the per-attempt timeout d.
func StackOptions(d time.Duration) []func(*middleware.Stack) error {
	return []func(*middleware.Stack) error{
		awsmiddleware.AddUserAgentKeyValue("secretcache", secretcache.Version),
		func(st *middleware.Stack) error {
			return st.Finalize.Insert(attemptTimeout{d}, "Retry", middleware.After)
		},
	}
}

// attemptTimeout bounds each HTTP attempt. It sits in the finalize step just
// after the SDK's retry middleware, so it runs once per attempt, and it
// covers reading the response (the deserializers read the whole body before
// they return).
type attemptTimeout struct{ d time.Duration }

func (attemptTimeout) ID() string { return "secretcache.AttemptTimeout" }

func (m attemptTimeout) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error) {
	actx, cancel := context.WithTimeout(ctx, m.d)
	defer cancel()
	out, md, err := next.HandleFinalize(actx, in)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = &attemptTimeoutError{timeout: m.d, err: err}
	}
	return out, md, err
}

// attemptTimeoutError is an HTTP attempt cut off by the attempt timeout. It
// tells the SDK's retryer to retry (the SDK would otherwise take the ended
// context for a cancellation by the caller).
type attemptTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *attemptTimeoutError) Error() string {
	return "attempt timed out after " + e.timeout.String() + ": " + e.err.Error()
}
func (e *attemptTimeoutError) Unwrap() error        { return e.err }
func (e *attemptTimeoutError) Timeout() bool        { return true }
func (e *attemptTimeoutError) Temporary() bool      { return true }
func (e *attemptTimeoutError) RetryableError() bool { return true }

// CanceledError hides the smithy.CanceledError it wraps from the retryer's
// "do not retry a canceled request" check: it was our timeout, not the
// caller's cancellation.
func (e *attemptTimeoutError) CanceledError() bool { return false }
