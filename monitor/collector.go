package monitor

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// stats shortens the rows of cacheMetrics.
type stats = secretcache.Stats

const counter, gauge = prometheus.CounterValue, prometheus.GaugeValue

// cacheMetric is one metric read from the cache's Stats at scrape time.
// Adding a cache metric is adding one row to cacheMetrics.
type cacheMetric struct {
	name, help string
	kind       prometheus.ValueType
	label      string            // its one variable label; "" for none
	get        func(stats, sink) // sends its values with sink.put
}

// sink sends the values of one cacheMetric.
type sink struct {
	ch   chan<- prometheus.Metric
	desc *prometheus.Desc
	kind prometheus.ValueType
}

// put sends v, with the label value when the metric has a label.
func (k sink) put(v float64, label ...string) {
	k.ch <- prometheus.MustNewConstMetric(k.desc, k.kind, v, label...)
}

func u(n uint64) float64 { return float64(n) }

var cacheMetrics = []cacheMetric{
	{"reads_total", "Secret reads answered, by outcome: hit (fresh from cache), miss (needed the backend, or got a cached failure), stale (served past its TTL because the backend failed), fallback (the caller's fallback value).", counter, "outcome",
		func(s stats, k sink) {
			k.put(u(s.Hits), "hit")
			k.put(u(s.Misses), "miss")
			k.put(u(s.StaleHits), "stale")
			k.put(u(s.Fallbacks), "fallback")
		}},
	{"refreshes_total", "Refreshes by kind: ahead (background, before expiry), expiry (a read found the entry expired), forced (Refresh calls).", counter, "kind",
		func(s stats, k sink) {
			k.put(u(s.RefreshesAhead), "ahead")
			k.put(u(s.RefreshesOnExpiry), "expiry")
			k.put(u(s.RefreshesForced), "forced")
		}},
	{"version_changes_total", "Refreshes that found a new secret version.", counter, "", func(s stats, k sink) { k.put(u(s.VersionChanges)) }},
	{"backend_calls_total", "Calls the cache made to its source (a batch call counts once).", counter, "", func(s stats, k sink) { k.put(u(s.BackendCalls)) }},
	{"backend_errors_total", "Failed answers from the source, by error kind.", counter, "kind", putBackendErrors},
	{"evictions_total", "Entries evicted by the size bounds.", counter, "", func(s stats, k sink) { k.put(u(s.Evictions)) }},
	{"calls_saved_total", "Reads answered without a backend call.", counter, "", func(s stats, k sink) { k.put(u(s.CallsSaved)) }},
	{"entries", "Cached secret versions.", gauge, "", func(s stats, k sink) { k.put(float64(s.Entries)) }},
	{"bytes", "Approximate bytes held by cached secret versions.", gauge, "", func(s stats, k sink) { k.put(u(s.Bytes)) }},
	{"max_entries", "Configured bound on cached secret versions.", gauge, "", func(s stats, k sink) { k.put(float64(s.MaxEntries)) }},
	{"max_bytes", "Configured bound on cached bytes.", gauge, "", func(s stats, k sink) { k.put(float64(s.MaxBytes)) }},
	{"entry_age_oldest_seconds", "Age of the oldest cached value.", gauge, "", func(s stats, k sink) { k.put(s.OldestAge.Seconds()) }},
	{"entry_age_newest_seconds", "Age of the newest cached value.", gauge, "", func(s stats, k sink) { k.put(s.NewestAge.Seconds()) }},
	{"entry_age_average_seconds", "Average age of the cached values.", gauge, "", func(s stats, k sink) { k.put(s.AverageAge.Seconds()) }},
	{"hit_ratio", "Hits and stale hits over reads since the cache started (0 with no reads).", gauge, "", func(s stats, k sink) { k.put(s.HitRate) }},
}

// backendKinds are the error kinds a source answers with (permanent or
// transient; not the caller's own mistakes such as wrong_type), exported
// at 0 until seen so that rate() over them works from the first scrape.
var backendKinds = func() []string {
	var names []string
	for _, k := range secretcache.Kinds() {
		if secretcache.IsPermanent(k) || secretcache.IsTransient(k) {
			names = append(names, secretcache.KindName(k))
		}
	}
	return names
}()

// putBackendErrors sends every backend kind, then any other kind the cache
// counted.
func putBackendErrors(s stats, k sink) {
	for _, name := range backendKinds {
		k.put(u(s.BackendErrors[name]), name)
	}
	for name, n := range s.BackendErrors {
		if !slices.Contains(backendKinds, name) {
			k.put(u(n), cleanLabel(name))
		}
	}
}

// collector reads the cache's statistics at scrape time.
type collector struct {
	m *Monitor

	stats                                  []*prometheus.Desc // one per row of cacheMetrics
	breakerState, breakerFailures, info    *prometheus.Desc
	secretAge, secretStale, secretFailures *prometheus.Desc // opt-in, per secret version
}

func newCollector(m *Monitor) *collector {
	ns, cl := m.cfg.namespace, m.cfg.constLabels
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, cl)
	}
	c := &collector{
		m:            m,
		breakerState: d("breaker_state", "Circuit breaker state per region: 0 closed, 1 half-open, 2 open, -1 unknown.", "region", "primary"),
		breakerFailures: d("breaker_consecutive_failures", "Consecutive failures counted by each region's circuit breaker.",
			"region", "primary"),
		info:           d("build_info", "Always 1; labelled with the secretcache version.", "version"),
		secretAge:      d("secret_age_seconds", "Age of each cached secret version (opt-in per-secret metric).", "secret", "stage", "version_id"),
		secretStale:    d("secret_stale", "1 if the cached secret version is past its TTL (opt-in per-secret metric).", "secret", "stage", "version_id"),
		secretFailures: d("secret_refresh_failures", "Consecutive failed refreshes of each cached secret version (opt-in per-secret metric).", "secret", "stage", "version_id"),
	}
	for _, row := range cacheMetrics {
		var labels []string
		if row.label != "" {
			labels = []string{row.label}
		}
		c.stats = append(c.stats, d(row.name, row.help, labels...))
	}
	return c
}

// Describe sends every descriptor the collector can emit.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.stats {
		ch <- d
	}
	ch <- c.breakerState
	ch <- c.breakerFailures
	ch <- c.info
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
	ch <- prometheus.MustNewConstMetric(c.info, gauge, 1, secretcache.Version)
	m.latency.Collect(ch)

	if cache := m.cache.Load(); cache != nil {
		st := cache.Stats()
		m.snaps.delta(m.now(), m.cfg.window, snapOf(st)) // scrapes feed the health window too
		for i, row := range cacheMetrics {
			row.get(st, sink{ch: ch, desc: c.stats[i], kind: row.kind})
		}
		if m.cfg.perSecret {
			c.collectSecrets(ch, cache)
		}
	}

	bs := m.breakers()
	primary := m.primaryBreaker(bs)
	for i, b := range bs {
		p := strconv.FormatBool(i == primary)
		ch <- prometheus.MustNewConstMetric(c.breakerState, gauge, breakerValue(b.State), b.Name, p)
		ch <- prometheus.MustNewConstMetric(c.breakerFailures, gauge, float64(b.Failures), b.Name, p)
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
		ch <- prometheus.MustNewConstMetric(c.secretAge, gauge, e.Age.Seconds(), l[:]...)
		ch <- prometheus.MustNewConstMetric(c.secretStale, gauge, stale, l[:]...)
		ch <- prometheus.MustNewConstMetric(c.secretFailures, gauge, float64(e.Failures), l[:]...)
	}
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
