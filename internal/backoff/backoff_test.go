package backoff

import (
	"math"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	for _, tc := range []struct {
		base, max time.Duration
		n         int
		lo, hi    time.Duration
	}{
		{time.Second, time.Minute, 1, 500 * time.Millisecond, time.Second},
		{time.Second, time.Minute, 3, 2 * time.Second, 4 * time.Second},
		{time.Second, time.Minute, 100, 30 * time.Second, time.Minute},
		{time.Second, math.MaxInt64, 1000, math.MaxInt64 / 2, math.MaxInt64},
		{0, 0, 5, 0, 1},
	} {
		for range 100 {
			if d := Delay(tc.base, tc.max, tc.n); d < tc.lo || d > tc.hi {
				t.Fatalf("Delay(%v, %v, %d) = %v, want in [%v, %v]", tc.base, tc.max, tc.n, d, tc.lo, tc.hi)
			}
		}
	}
}
