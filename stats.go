package secretcache

import (
	"iter"
	"math"
	"time"
)

type stats struct {
	hits, misses, staleHits, fallbacks         counter
	refreshAhead, refreshExpiry, refreshForced counter
	backendCalls, evictions, versionChanges    counter
	backendErrors                              [len(kinds)]counter
}

func (s *stats) countError(err error) {
	if i := kindIndex(err); i >= 0 {
		s.backendErrors[i].inc()
	}
}

// Stats is a snapshot of what the cache has done since New.
type Stats struct {
	Hits      uint64 `json:"hits"`       // reads answered from cache, fresh
	Misses    uint64 `json:"misses"`     // reads that needed the source (or got a cached failure)
	StaleHits uint64 `json:"stale_hits"` // reads answered past TTL because the source failed
	Fallbacks uint64 `json:"fallbacks"`  // reads answered with the caller's fallback

	RefreshesAhead    uint64 `json:"refreshes_ahead"`     // background refreshes before expiry
	RefreshesOnExpiry uint64 `json:"refreshes_on_expiry"` // reads that found the entry expired and fetched
	RefreshesForced   uint64 `json:"refreshes_forced"`    // Refresh calls that fetched or joined a fetch
	VersionChanges    uint64 `json:"version_changes"`     // refreshes that found a new version

	BackendCalls  uint64            `json:"backend_calls"`  // calls to the source (a batch is one call)
	BackendErrors map[string]uint64 `json:"backend_errors"` // failed answers by KindName
	Evictions     uint64            `json:"evictions"`      // entries evicted by the size bounds

	Entries    int    `json:"entries"`     // cached secret versions (cached failures excluded)
	Bytes      uint64 `json:"bytes"`       // heap they keep alive (see WithMaxBytes)
	MaxEntries int    `json:"max_entries"` // the configured bounds
	MaxBytes   int64  `json:"max_bytes"`

	OldestAge  time.Duration `json:"oldest_age_ns"` // age of the oldest cached value
	NewestAge  time.Duration `json:"newest_age_ns"`
	AverageAge time.Duration `json:"average_age_ns"`

	HitRate    float64 `json:"hit_rate"`    // (hits + stale hits) / reads, 0 with no reads
	CallsSaved uint64  `json:"calls_saved"` // reads minus backend calls: what the cache spared the backend
}

// Reads returns the number of reads answered (hits, stale hits, misses).
func (s Stats) Reads() uint64 { return s.Hits + s.StaleHits + s.Misses }

// Stats returns a snapshot of the counters and of the cached entries. It
// applies pending evictions and walks the entries, so call it for
// reporting, not per request. Evictions happen asynchronously, shortly
// after the write that exceeded a bound.
func (c *Cache) Stats() Stats {
	c.store.CleanUp() // apply pending evictions, so the bounds hold in what we report
	s := Stats{
		Hits: c.st.hits.load(), Misses: c.st.misses.load(), StaleHits: c.st.staleHits.load(),
		Fallbacks: c.st.fallbacks.load(), RefreshesAhead: c.st.refreshAhead.load(),
		RefreshesOnExpiry: c.st.refreshExpiry.load(), RefreshesForced: c.st.refreshForced.load(),
		VersionChanges: c.st.versionChanges.load(), BackendCalls: c.st.backendCalls.load(),
		Evictions: c.st.evictions.load(), BackendErrors: map[string]uint64{},
		MaxEntries: c.cfg.maxEntries, MaxBytes: c.cfg.maxBytes,
	}
	for i := range c.st.backendErrors {
		if n := c.st.backendErrors[i].load(); n > 0 {
			s.BackendErrors[kindNames[i]] = n
		}
	}
	now := c.clockNano()
	var total time.Duration
	s.NewestAge = time.Duration(math.MaxInt64)
	for _, e := range c.store.All() {
		if !e.hasValue() {
			continue
		}
		age := time.Duration(max(now-e.fetchedAt, 0))
		s.Entries++
		s.Bytes += uint64(e.size)
		total += age
		s.OldestAge = max(s.OldestAge, age)
		s.NewestAge = min(s.NewestAge, age)
	}
	if s.Entries == 0 {
		s.NewestAge = 0
	} else {
		s.AverageAge = total / time.Duration(s.Entries)
	}
	if r := s.Reads(); r > 0 {
		s.HitRate = float64(s.Hits+s.StaleHits) / float64(r)
		s.CallsSaved = r - min(r, s.BackendCalls)
	}
	return s
}

// EntryInfo describes one cached secret version, without its value.
type EntryInfo struct {
	Ref        Ref           `json:"ref"`      // the ref as cached
	Metadata   Metadata      `json:"metadata"` // of the cached version
	Age        time.Duration `json:"age_ns"`
	TTL        time.Duration `json:"ttl_ns"`
	FetchedAt  time.Time     `json:"fetched_at"`
	ExpiresAt  time.Time     `json:"expires_at,omitzero"`  // zero for a version id, which never expires
	Stale      bool          `json:"stale"`                // past its TTL (served only while the source fails)
	Failures   int           `json:"failures"`             // consecutive failed refreshes
	LastError  string        `json:"last_error,omitempty"` // KindName of the last failure
	Size       int           `json:"size"`                 // heap bytes it keeps alive
	Refreshing bool          `json:"refreshing"`
}

// Entries lists the cached secret versions (cached failures excluded), in no
// particular order. It never exposes values.
func (c *Cache) Entries() iter.Seq[EntryInfo] {
	return func(yield func(EntryInfo) bool) {
		now := c.clockNano()
		for _, e := range c.store.All() {
			if !e.hasValue() {
				continue
			}
			info := EntryInfo{Ref: c.refOf(e.key), Metadata: e.metadata(),
				Age: time.Duration(max(now-e.fetchedAt, 0)), TTL: e.ttl,
				FetchedAt: time.Unix(0, e.fetchedAt), Stale: now >= e.expireAt,
				Failures: e.failures(), Size: int(e.size), Refreshing: e.refreshing()}
			if e.fail != nil {
				info.LastError = KindName(e.fail.err)
			}
			if e.expireAt != math.MaxInt64 {
				info.ExpiresAt = time.Unix(0, e.expireAt)
			} else {
				info.TTL = 0
			}
			if !yield(info) {
				return
			}
		}
	}
}
