package secretcache

import (
	"runtime"
	"time"
)

// WaitIdle waits until the background refresher has applied every refresh
// handed to it (tests only).
func (c *Cache) WaitIdle() {
	deadline := time.Now().Add(10 * time.Second)
	for c.pending.Load() != 0 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(100 * time.Microsecond)
	}
	if c.pending.Load() != 0 {
		panic("secretcache: refresher still busy after 10s")
	}
}

// RefreshLead is how long before expiry a refresh must start, as the cache
// measures it now (tests and benchmarks only).
func (c *Cache) RefreshLead() time.Duration { return time.Duration(c.lat.lead.Load()) }
