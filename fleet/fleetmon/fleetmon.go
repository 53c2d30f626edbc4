// Package fleetmon reports a fleet.Source to the module's monitoring: its
// L2 counters as Prometheus metrics, and its Redis as a health component of
// a monitor.Monitor. It is what the agent uses; a library user who builds
// a fleet.Source registers the same two things. It is not a monitor of its
// own: without a fleet, nothing here is needed.
//
// The Redis breaker's state is reported by the monitor itself, as every
// source's breakers are (fleet.Source is a secretcache.BreakerReporter):
// its breaker named "redis".
package fleetmon

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/monitor"
)

// metric is one counter of the collector: a row of the table.
type metric struct {
	name, help string
	value      func(fleet.Stats) int64
}

var metrics = []metric{
	{"l2_hits_total", "Fetches answered from the fleet's Redis L2.", func(s fleet.Stats) int64 { return s.Hits }},
	{"l2_waits_total", "L2 hits that waited for another host's write.", func(s fleet.Stats) int64 { return s.Waits }},
	{"l2_misses_total", "Fetches that found no usable L2 entry.", func(s fleet.Stats) int64 { return s.Misses }},
	{"l2_rejections_total", "L2 entries refused: tampered, swapped, truncated or sealed by another key.", func(s fleet.Stats) int64 { return s.Rejections }},
	{"l2_fallbacks_total", "Fetches that read AWS directly because Redis failed, was slow or its breaker was open.", func(s fleet.Stats) int64 { return s.Fallbacks }},
	{"l2_writes_total", "Entries written to the L2.", func(s fleet.Stats) int64 { return s.Writes }},
	{"origin_fetches_total", "Secrets read from AWS through the fleet layer.", func(s fleet.Stats) int64 { return s.Origin }},
}

// Collector returns the counters of src as Prometheus metrics named
// namespace_fleet_* (namespace "" is monitor.DefaultNamespace, as the
// monitor's own metrics are), read from src.Stats at each scrape. A nil
// src is an error.
func Collector(src *fleet.Source, namespace string) (prometheus.Collector, error) {
	if src == nil {
		return nil, errors.New("fleetmon: source is nil")
	}
	if namespace == "" {
		namespace = monitor.DefaultNamespace
	}
	c := &collector{src: src}
	for _, m := range metrics {
		c.descs = append(c.descs, prometheus.NewDesc(prometheus.BuildFQName(namespace, "fleet", m.name), m.help, nil, nil))
	}
	return c, nil
}

type collector struct {
	src   *fleet.Source
	descs []*prometheus.Desc // one per metrics row
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect reads the counters once per scrape, so that they agree.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	for i, m := range metrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(m.value(st)))
	}
}

// Health returns a health check of src for monitor.Monitor's
// RegisterComponent: degraded while the Redis breaker is not closed (reads
// then go to AWS directly: no reader fails, the fleet pays more calls),
// healthy otherwise, with the L2's counters as details. A nil src reports
// unhealthy.
func Health(src *fleet.Source) func(context.Context) monitor.ComponentHealth {
	return func(context.Context) monitor.ComponentHealth {
		if src == nil {
			return monitor.ComponentHealth{Status: monitor.StatusUnhealthy, Message: "no fleet source"}
		}
		st := src.Stats()
		h := monitor.ComponentHealth{Status: monitor.StatusHealthy, Details: map[string]any{"redis_breaker": st.Breaker,
			"l2_hits": st.Hits, "l2_fallbacks": st.Fallbacks, "l2_rejections": st.Rejections}}
		if st.Breaker != "closed" {
			h.Status, h.Message = monitor.StatusDegraded, "Redis unavailable: reading AWS directly"
		}
		return h
	}
}
