// Package monitor shows how a secretcache.Cache is doing: Prometheus metrics,
// health, statistics, a report and an audit log, as handlers to mount.
// It listens on nothing, is not the home of the health words (package
// health), and never sees a secret value.
//
// What it offers:
//
//   - Prometheus metrics: Collector reads the cache's statistics at scrape
//     time (reads by outcome, refreshes by kind, backend calls and errors,
//     evictions, entries, bytes, entry ages, calls saved, breaker state per
//     region) and ObserveCall feeds a histogram of backend call latency by
//     operation, region and outcome. Every name starts with "secretcache_".
//     Per-secret series are off unless WithPerSecretLabels(true).
//   - Health: Health judges the cache (hit rate), the backend (success rate
//     and latency percentiles over a sliding window), the circuit breakers
//     and any health.Checker registered with RegisterChecker (or a check
//     function with RegisterComponent), and says healthy, degraded or
//     unhealthy by the rules documented on Thresholds.
//   - CacheStats: the JSON of /secrets-cache-stats, in the shape of the
//     Python "Enhanced AWS Secrets Manager" toolkit's endpoint.
//   - Report: the same facts as text, with calls made against reads served,
//     calls saved and the estimated API cost and saving.
//   - HTTP: HealthHandler (/health/secrets), StatsHandler
//     (/secrets-cache-stats) and MetricsHandler (/metrics), mounted together
//     by Mount; Middleware and CacheFrom pass the cache to handlers.
//   - Audit: AuditHook writes one log/slog record per secret read, never the
//     value.
//
// Wiring with the AWS source, whose calls the monitor observes:
//
//	m := monitor.New(nil, monitor.WithRegion("us-east-1"))
//	src, err := awssm.New(cfg, awssm.WithCallObserver(m.ObserveCall))
//	c, err := secretcache.New(src, secretcache.WithReadHook(monitor.AuditHook(logger)))
//	m.SetCache(c)
//	m.Mount(mux)
//
// (monitor.New(c) works too when the source is built without the observer;
// the success rate then comes from the cache's own counters and latencies are
// unknown.)
//
// Nothing in this package sees a secret value: the cache's statistics,
// entries and read events carry metadata only. Input that could be hostile
// (operation and region names, component names and messages, secret ids in
// read events) is cleaned of control characters and invalid UTF-8 and
// bounded in size, so it cannot forge log lines or grow the metric series
// without limit.
package monitor
