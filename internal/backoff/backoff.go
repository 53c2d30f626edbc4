// Package backoff computes the jittered wait between retries after
// consecutive failures. It is the one home of that rule for the cache and
// the rotating resources; it does not sleep, retry or keep state.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait after n consecutive failures: base doubled n-1
// times, capped at maxD, then drawn uniformly from its upper half (so that
// callers failing together do not retry together). The doubling stops
// before it could overflow, however large maxD is. It is at least 1 ns.
func Delay(base, maxD time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxD; i++ {
		if d > maxD/2 { // doubling would pass maxD (or overflow)
			d = maxD
			break
		}
		d *= 2
	}
	d = max(min(d, maxD), 1)
	return d/2 + rand.N(d/2+1)
}
