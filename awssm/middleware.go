package awssm

import (
	"context"
	"time"
)

// observe reports one API call of region to the call observers: op, the
// time since start, and nil or the call's error as a *secretcache.Error of
// its kind (a refused answer is already one, of kind ErrMismatch). Every
// call the source makes goes through it once, after the SDK's retries and
// after the answer was checked, so an answer refused as malformed counts as
// a failed call.
func (s *Source) observe(ctx context.Context, op, region string, start time.Time, err error) {
	s.cfg.Observe(ctx, op, region, start, err, classifyAWS)
}
