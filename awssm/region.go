package awssm

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretcache/secretcache/internal/awsfail"
)

// The region failover (breakers, probes, the order of the regions) is
// internal/awsfail's, shared with ssmparam; this file binds it to the
// Secrets Manager client.

// region is one entry of the failover list: a client and its breaker.
type region = awsfail.Region[*secretsmanager.Client]

// attempt is one call to one region, retries by the SDK included. It must
// not write to anything shared: it may run as a background probe whose
// result is dropped.
type attempt[T any] = awsfail.Attempt[*secretsmanager.Client, T]

// failover runs call in the regions in order until one answers (see
// awsfail.Run): a success or a permanent error ends it, a transient error
// moves on to the next region, open breakers are skipped.
func failover[T any](s *Source, ctx, parent context.Context, id string, call attempt[T]) (T, error) {
	return awsfail.Run(s.set, ctx, parent, id, call)
}
