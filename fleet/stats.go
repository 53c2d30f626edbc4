package fleet

import "sync/atomic"

// Stats counts what the fleet layer did, since New. A fetch that missed and
// then read another host's write counts one miss and one hit (a wait).
type Stats struct {
	Hits       int64  `json:"l2_hits"`        // answered from Redis
	Waits      int64  `json:"l2_waits"`       // of Hits, answered after waiting for another host's write
	Misses     int64  `json:"l2_misses"`      // first look: not in Redis, too old, or refused
	Rejections int64  `json:"l2_rejections"`  // reads of an entry refused: tampered, swapped, truncated, another key
	Fallbacks  int64  `json:"l2_fallbacks"`   // Redis failed, was slow or its breaker open: read the origin directly
	Origin     int64  `json:"origin_fetches"` // refs read from the origin (each ref of a batch counts)
	Writes     int64  `json:"l2_writes"`      // entries written
	Breaker    string `json:"breaker"`        // "closed", "open" or "half-open"
}

type counters struct {
	hits, waits, misses, rejections, fallbacks, origin, writes atomic.Int64
}
