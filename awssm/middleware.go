package awssm

import (
	"context"
	"errors"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/secretcache/secretcache"
)

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

// observe reports one API call of region to the call observers: op, the
// time since start, and nil or the call's error as a *secretcache.Error of
// its kind (a refused answer is already one, of kind ErrMismatch). Every
// call the source makes goes through it once, after the SDK's retries and
// after the answer was checked, so an answer refused as malformed counts as
// a failed call.
func (s *Source) observe(ctx context.Context, op, region string, start time.Time, err error) {
	if len(s.cfg.observers) == 0 {
		return
	}
	d := time.Since(start)
	var kerr error
	if err != nil {
		var se *secretcache.Error
		if !errors.As(err, &se) || se.Kind == nil {
			se = &secretcache.Error{Op: "fetch", Kind: classify(ctx, err).kind, Err: err}
		}
		kerr = se
	}
	for _, fn := range s.cfg.observers {
		fn(op, region, d, kerr)
	}
}

// stackOptions returns the middleware the source adds to each client.
func (s *Source) stackOptions() []func(*middleware.Stack) error {
	fns := []func(*middleware.Stack) error{
		awsmiddleware.AddUserAgentKeyValue("secretcache", secretcache.Version),
		func(st *middleware.Stack) error {
			return st.Finalize.Insert(attemptTimeout{s.cfg.attemptTimeout}, "Retry", middleware.After)
		},
	}
	return fns
}
