package monitor

import (
	"time"

	"github.com/secretcache/secretcache"
)

// Cache status names of CacheEfficiency.CacheStatus, by average entry age.
const (
	CacheEmpty     = "empty"      // nothing cached
	CacheVeryFresh = "very_fresh" // average age under 60 s
	CacheHealthy   = "healthy"    // under 180 s
	CacheAging     = "aging"      // under 300 s
	CacheStale     = "stale"      // 300 s or more
)

// CacheStats is the cache summary in the shape of the /secrets-cache-stats
// endpoint of the Python "Enhanced AWS Secrets Manager" toolkit (same keys,
// same cache_status values), so scrapers written for it keep working.
type CacheStats struct {
	// CachedSecretsCount is the number of distinct secrets cached (by name).
	CachedSecretsCount int `json:"cached_secrets_count"`
	// TotalCacheEntries is the number of cached secret versions: one secret
	// read at AWSCURRENT and AWSPREVIOUS is one secret and two entries.
	TotalCacheEntries     int             `json:"total_cache_entries"`
	OldestCacheAgeSeconds float64         `json:"oldest_cache_age_seconds"`
	NewestCacheAgeSeconds float64         `json:"newest_cache_age_seconds"`
	Region                string          `json:"region"`
	CacheEfficiency       CacheEfficiency `json:"cache_efficiency"`
}

// CacheEfficiency is the efficiency block of CacheStats.
type CacheEfficiency struct {
	AvgCacheAgeSeconds float64 `json:"avg_cache_age_seconds"`
	// CacheUtilizationPercent is how full the cache is: the larger of
	// entries / max entries and bytes / max bytes, in percent.
	CacheUtilizationPercent float64 `json:"cache_utilization_percent"`
	// CacheStatus is "empty", "very_fresh" (average age under 60 s),
	// "healthy" (under 180 s), "aging" (under 300 s) or "stale".
	CacheStatus string `json:"cache_status"`
}

// CacheStatusFor returns the cache status for a number of entries and their
// average age: "empty" without entries, else by age as on CacheEfficiency.
func CacheStatusFor(entries int, avg time.Duration) string {
	switch {
	case entries <= 0:
		return CacheEmpty
	case avg < 60*time.Second:
		return CacheVeryFresh
	case avg < 180*time.Second:
		return CacheHealthy
	case avg < 300*time.Second:
		return CacheAging
	}
	return CacheStale
}

// CacheStats returns the /secrets-cache-stats statistics. Ages are in seconds rounded
// to hundredths, as are percentages. Without a cache it returns an empty
// summary (status "empty"). It never includes secret values, and names only
// the region.
func (m *Monitor) CacheStats() CacheStats {
	if m == nil {
		return CacheStats{Region: unknown, CacheEfficiency: CacheEfficiency{CacheStatus: CacheEmpty}}
	}
	c := m.cache.Load()
	out := CacheStats{Region: m.region(m.breakers())}
	if c == nil {
		out.CacheEfficiency.CacheStatus = CacheEmpty
		return out
	}
	st := c.Stats()
	return m.cacheStatsFrom(c, st, out.Region)
}

func (m *Monitor) cacheStatsFrom(c *secretcache.Cache, st secretcache.Stats, region string) CacheStats {
	names := map[string]struct{}{}
	for e := range c.Entries() {
		names[secretName(e)] = struct{}{}
	}
	out := CacheStats{
		CachedSecretsCount:    len(names),
		TotalCacheEntries:     st.Entries,
		OldestCacheAgeSeconds: round(st.OldestAge.Seconds(), 2),
		NewestCacheAgeSeconds: round(st.NewestAge.Seconds(), 2),
		Region:                region,
		CacheEfficiency: CacheEfficiency{
			AvgCacheAgeSeconds:      round(st.AverageAge.Seconds(), 2),
			CacheUtilizationPercent: round(utilization(st), 2),
			CacheStatus:             CacheStatusFor(st.Entries, st.AverageAge),
		},
	}
	return out
}

// secretName is the name an entry's secret goes by: its metadata name, else
// the name inside the id.
func secretName(e secretcache.EntryInfo) string {
	if e.Metadata.Name != "" {
		return e.Metadata.Name
	}
	if e.Metadata.ARN != "" {
		return e.Metadata.ARN
	}
	return e.Ref.ID
}

func utilization(st secretcache.Stats) float64 {
	var u float64
	if st.MaxEntries > 0 {
		u = float64(st.Entries) / float64(st.MaxEntries)
	}
	if st.MaxBytes > 0 {
		u = max(u, float64(st.Bytes)/float64(st.MaxBytes))
	}
	return 100 * u
}
