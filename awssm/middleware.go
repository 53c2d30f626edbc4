package awssm

import (
	"context"
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

// observe reports every operation, retries included, to the call observers.
type observe struct {
	s      *Source
	region string
}

func (observe) ID() string { return "secretcache.CallObserver" }

func (m observe) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error) {
	start := time.Now()
	out, md, err := next.HandleInitialize(ctx, in)
	var kerr error
	if err != nil {
		kerr = &secretcache.Error{Op: "fetch", Kind: classify(ctx, err).kind, Err: err}
	}
	op, d := middleware.GetOperationName(ctx), time.Since(start)
	for _, fn := range m.s.cfg.observers {
		fn(op, m.region, d, kerr)
	}
	return out, md, err
}

// stackOptions returns the middleware the source adds to each client.
func (s *Source) stackOptions(region string) []func(*middleware.Stack) error {
	fns := []func(*middleware.Stack) error{
		awsmiddleware.AddUserAgentKeyValue("secretcache", secretcache.Version),
		func(st *middleware.Stack) error {
			return st.Finalize.Insert(attemptTimeout{s.cfg.attemptTimeout}, "Retry", middleware.After)
		},
	}
	if len(s.cfg.observers) > 0 {
		fns = append(fns, func(st *middleware.Stack) error {
			return st.Initialize.Add(observe{s, region}, middleware.Before)
		})
	}
	return fns
}
