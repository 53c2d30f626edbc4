package rotate

import (
	"math"
	"testing"
	"time"

	"github.com/secretcache/secretcache/internal/backoff"
)

// A huge maximum must neither overflow the doubling nor make rand.N panic.
// The retry wait of a failed rotation is backoff.Delay; this pins the
// properties rotate relies on.
func TestBackoffHugeMax(t *testing.T) {
	for _, c := range []struct{ base, max time.Duration }{
		{time.Second, math.MaxInt64},
		{1, math.MaxInt64},
		{math.MaxInt64 / 3, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64},
		{time.Second, time.Minute},
	} {
		prev := time.Duration(0)
		for n := 1; n <= 200; n++ {
			d := backoff.Delay(c.base, c.max, n)
			if d < 0 || d > c.max || (c.base > 1 && d == 0) {
				t.Fatalf("backoff(%v, %v, %d) = %v", c.base, c.max, n, d)
			}
			// The upper half of a doubling window never goes below the
			// previous window's upper half's floor.
			if n > 1 && d < prev/2 {
				t.Fatalf("backoff(%v, %v, %d) = %v shrank from %v", c.base, c.max, n, d, prev)
			}
			prev = d
		}
	}
	if d := backoff.Delay(time.Second, time.Minute, 1000); d < 30*time.Second || d > time.Minute {
		t.Fatalf("capped backoff %v", d)
	}
}
