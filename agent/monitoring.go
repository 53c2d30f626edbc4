package agent

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/secretcache/secretcache/monitor"
)

// setupMonitoring attaches the monitor to the cache, adds the agent's own
// health, and returns the /metrics handler: the monitor's metrics, the
// agent's, Go's and the process's.
func (a *Agent) setupMonitoring() (http.Handler, error) {
	a.mon.SetCache(a.cache)
	a.mon.RegisterComponent("agent", a.health)
	reg := prometheus.NewRegistry()
	for _, c := range a.collectors() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("agent: metrics: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	}), nil
}

// health is the agent's component of /health/secrets: degraded while the
// start-up prefetch runs, when it could not run, or while a secret it
// failed to fetch is still not cached.
func (a *Agent) health(context.Context) monitor.ComponentHealth {
	st := monitor.ComponentHealth{Status: monitor.StatusHealthy, Details: map[string]any{
		"ready": a.Ready(), "open_connections": a.conns.open(), "requests_in_flight": a.api.inFlight.Load(),
		"rejected_over_max_conn": a.api.rejected.Load(), "bad_token": a.api.badTokens.Load(),
		"misdirected": a.api.misdirected.Load(),
	}}
	a.mu.Lock()
	p := a.prefetch
	a.mu.Unlock()
	switch {
	case !a.Ready():
		st.Status, st.Message = monitor.StatusDegraded, "start-up prefetch running"
	case p.Error != "":
		st.Status, st.Message = monitor.StatusDegraded, "prefetch: "+p.Error
	case len(p.Failed) > 0:
		// A later read may have fetched what the prefetch could not.
		cached := map[string]bool{}
		for e := range a.cache.Entries() {
			cached[e.Ref.ID] = true
		}
		missing := 0
		for id := range p.Failed {
			if !cached[id] {
				missing++
			}
		}
		if missing > 0 {
			st.Status = monitor.StatusDegraded
			st.Message = fmt.Sprintf("prefetch: %d secrets not fetched and still not cached", missing)
		}
	}
	return st
}

// collectors are the metrics of /metrics; an agent metric is one line.
func (a *Agent) collectors() []prometheus.Collector {
	requests := func(result string, n func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: monitor.DefaultNamespace, Subsystem: "agent", Name: "requests_total",
			Help: "Secret requests answered by the agent, by result.", ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(n()) })
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: monitor.DefaultNamespace, Subsystem: "agent",
			Name: name, Help: help}, v)
	}
	cs := []prometheus.Collector{
		a.mon.Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		requests("ok", a.api.servedOK.Load),
		requests("error", a.api.servedFailed.Load),
		requests("rejected", a.api.rejected.Load),
		requests("bad_token", a.api.badTokens.Load),
		requests("misdirected", a.api.misdirected.Load),
		gauge("open_connections", "Client connections open on the API listener.", func() float64 { return float64(a.conns.open()) }),
		gauge("requests_in_flight", "Requests the API is answering now; over max_conn they get 429.", func() float64 { return float64(a.api.inFlight.Load()) }),
		gauge("ready", "1 once the start-up prefetch is done.", func() float64 {
			if a.Ready() {
				return 1
			}
			return 0
		}),
	}
	cs = append(cs, a.fleetCollectors()...)     // fleet.go
	cs = append(cs, a.parameterCollectors()...) // parameters.go
	for i, reason := range closedReasonNames {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: monitor.DefaultNamespace, Subsystem: "agent", Name: "connections_closed_total",
			Help:        "API connections the agent closed, by reason: idle_over_max_conn, over_hard_limit, header_timeout, idle_timeout, request_timeout.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(a.conns.closed[i].Load()) }))
	}
	return cs
}
