package awssm

import (
	"context"
	"errors"
	"time"

	"github.com/secretcache/secretcache"
)

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
