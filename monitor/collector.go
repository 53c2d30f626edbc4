package monitor

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// errorKinds are the backend error kinds always exported (at 0 until seen),
// so that rate() over them works from the first scrape.
var errorKinds = []string{"not_found", "access_denied", "decryption_failure", "deleted",
	"invalid_request", "throttled", "unavailable", "mismatch"}

// collector reads the cache's statistics at scrape time.
type collector struct {
	m *Monitor

	reads, refreshes, versionChanges, backendCalls, backendErrors *prometheus.Desc
	evictions, callsSaved, entries, bytes, maxEntries, maxBytes   *prometheus.Desc
	ageOldest, ageNewest, ageAverage, hitRatio                    *prometheus.Desc
	breakerState, breakerFailures, info                           *prometheus.Desc
	secretAge, secretStale, secretFailures                        *prometheus.Desc
}

func newCollector(m *Monitor) *collector {
	ns, cl := m.cfg.namespace, m.cfg.constLabels
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, cl)
	}
	return &collector{
		m:              m,
		reads:          d("reads_total", "Secret reads answered, by outcome: hit (fresh from cache), miss (needed the backend, or got a cached failure), stale (served past its TTL because the backend failed), fallback (the caller's fallback value).", "outcome"),
		refreshes:      d("refreshes_total", "Refreshes by kind: ahead (background, before expiry), expiry (a read found the entry expired), forced (Refresh calls).", "kind"),
		versionChanges: d("version_changes_total", "Refreshes that found a new secret version."),
		backendCalls:   d("backend_calls_total", "Calls the cache made to its source (a batch call counts once)."),
		backendErrors:  d("backend_errors_total", "Failed answers from the source, by error kind.", "kind"),
		evictions:      d("evictions_total", "Entries evicted by the size bounds."),
		callsSaved:     d("calls_saved_total", "Reads answered without a backend call."),
		entries:        d("entries", "Cached secret versions."),
		bytes:          d("bytes", "Approximate bytes held by cached secret versions."),
		maxEntries:     d("max_entries", "Configured bound on cached secret versions."),
		maxBytes:       d("max_bytes", "Configured bound on cached bytes."),
		ageOldest:      d("entry_age_oldest_seconds", "Age of the oldest cached value."),
		ageNewest:      d("entry_age_newest_seconds", "Age of the newest cached value."),
		ageAverage:     d("entry_age_average_seconds", "Average age of the cached values."),
		hitRatio:       d("hit_ratio", "Hits and stale hits over reads since the cache started (0 with no reads)."),
		breakerState:   d("breaker_state", "Circuit breaker state per region: 0 closed, 1 half-open, 2 open, -1 unknown.", "region", "primary"),
		breakerFailures: d("breaker_consecutive_failures", "Consecutive failures counted by each region's circuit breaker.",
			"region", "primary"),
		info:           d("build_info", "Always 1; labelled with the secretcache version.", "version"),
		secretAge:      d("secret_age_seconds", "Age of each cached secret version (opt-in per-secret metric).", "secret", "stage", "version_id"),
		secretStale:    d("secret_stale", "1 if the cached secret version is past its TTL (opt-in per-secret metric).", "secret", "stage", "version_id"),
		secretFailures: d("secret_refresh_failures", "Consecutive failed refreshes of each cached secret version (opt-in per-secret metric).", "secret", "stage", "version_id"),
	}
}

// Describe sends every descriptor the collector can emit.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reads, c.refreshes, c.versionChanges, c.backendCalls,
		c.backendErrors, c.evictions, c.callsSaved, c.entries, c.bytes, c.maxEntries, c.maxBytes,
		c.ageOldest, c.ageNewest, c.ageAverage, c.hitRatio, c.breakerState, c.breakerFailures, c.info} {
		ch <- d
	}
	if c.m.cfg.perSecret {
		ch <- c.secretAge
		ch <- c.secretStale
		ch <- c.secretFailures
	}
	c.m.latency.Describe(ch)
}

// Collect reads the cache's statistics and sends the metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.info, 1, secretcache.Version)
	m.latency.Collect(ch)

	cache := m.cache.Load()
	if cache != nil {
		st := cache.Stats()
		m.snaps.delta(m.now(), m.cfg.window, snapOf(st)) // scrapes feed the health window too
		counter(c.reads, st.Hits, "hit")
		counter(c.reads, st.Misses, "miss")
		counter(c.reads, st.StaleHits, "stale")
		counter(c.reads, st.Fallbacks, "fallback")
		counter(c.refreshes, st.RefreshesAhead, "ahead")
		counter(c.refreshes, st.RefreshesOnExpiry, "expiry")
		counter(c.refreshes, st.RefreshesForced, "forced")
		counter(c.versionChanges, st.VersionChanges)
		counter(c.backendCalls, st.BackendCalls)
		for _, k := range errorKinds {
			counter(c.backendErrors, st.BackendErrors[k], k)
		}
		for k, v := range st.BackendErrors {
			if !knownKind(k) {
				counter(c.backendErrors, v, cleanLabel(k))
			}
		}
		counter(c.evictions, st.Evictions)
		counter(c.callsSaved, st.CallsSaved)
		gauge(c.entries, float64(st.Entries))
		gauge(c.bytes, float64(st.Bytes))
		gauge(c.maxEntries, float64(st.MaxEntries))
		gauge(c.maxBytes, float64(st.MaxBytes))
		gauge(c.ageOldest, st.OldestAge.Seconds())
		gauge(c.ageNewest, st.NewestAge.Seconds())
		gauge(c.ageAverage, st.AverageAge.Seconds())
		gauge(c.hitRatio, st.HitRate)
		if m.cfg.perSecret {
			c.collectSecrets(ch, cache)
		}
	}

	bs := m.breakers()
	primary := m.primaryBreaker(bs)
	for i, b := range bs {
		p := strconv.FormatBool(i == primary)
		gauge(c.breakerState, breakerValue(b.State), b.Name, p)
		gauge(c.breakerFailures, float64(b.Failures), b.Name, p)
	}
}

func (c *collector) collectSecrets(ch chan<- prometheus.Metric, cache *secretcache.Cache) {
	seen := map[[3]string]bool{}
	for e := range cache.Entries() {
		stage := e.Ref.VersionStage
		if stage == "" && e.Ref.VersionID == "" {
			stage = awsname.StageCurrent
		}
		l := [3]string{cleanText(e.Ref.ID, secretcache.MaxIDLength), cleanLabel(stage), cleanLabel(e.Ref.VersionID)}
		if seen[l] {
			continue
		}
		seen[l] = true
		stale := 0.0
		if e.Stale {
			stale = 1
		}
		ch <- prometheus.MustNewConstMetric(c.secretAge, prometheus.GaugeValue, e.Age.Seconds(), l[:]...)
		ch <- prometheus.MustNewConstMetric(c.secretStale, prometheus.GaugeValue, stale, l[:]...)
		ch <- prometheus.MustNewConstMetric(c.secretFailures, prometheus.GaugeValue, float64(e.Failures), l[:]...)
	}
}

func knownKind(k string) bool {
	for _, x := range errorKinds {
		if x == k {
			return true
		}
	}
	return false
}

func breakerValue(state string) float64 {
	switch state {
	case "closed":
		return 0
	case "half-open":
		return 1
	case "open":
		return 2
	}
	return -1
}

// Collector returns the Prometheus collector of the monitor. Register it
// with your own registry (prometheus.MustRegister(m.Collector())), or serve
// MetricsHandler, which has it on a private registry. It reads the cache's
// statistics at scrape time; every call returns the same collector.
func (m *Monitor) Collector() prometheus.Collector {
	if m == nil {
		return nopCollector{}
	}
	return m.coll
}

type nopCollector struct{}

func (nopCollector) Describe(chan<- *prometheus.Desc) {}
func (nopCollector) Collect(chan<- prometheus.Metric) {}
