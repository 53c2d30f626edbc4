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

// Admin paths served with monitoring.
const (
	PathMetrics = monitor.MetricsPath // Prometheus metrics: the monitor's, the agent's, Go and process
	PathHealth  = monitor.HealthPath  // health JSON; 503 when unhealthy
	PathStats   = monitor.StatsPath   // cache statistics JSON
	PathReport  = "/report"           // text report (secretcache report)
)

// setupMonitoring attaches the monitor to the cache and puts its endpoints
// on the admin listener, with the agent's own metrics and health.
func (a *Agent) setupMonitoring() error {
	m := a.mon
	m.SetCache(a.cache)
	m.RegisterComponent("agent", func(context.Context) monitor.ComponentHealth {
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
			// Degraded while a secret that failed to prefetch is still not
			// cached (a later read may have fetched it).
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
	})
	reg := prometheus.NewRegistry()
	counter := func(result, help string, fn func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: monitor.DefaultNamespace, Subsystem: "agent", Name: "requests_total",
			Help: "Secret requests answered by the agent, by result.", ConstLabels: prometheus.Labels{"result": result},
		}, fn)
	}
	cs := []prometheus.Collector{
		m.Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		counter("ok", "", func() float64 { return float64(a.api.servedOK.Load()) }),
		counter("error", "", func() float64 { return float64(a.api.servedFailed.Load()) }),
		counter("rejected", "", func() float64 { return float64(a.api.rejected.Load()) }),
		counter("bad_token", "", func() float64 { return float64(a.api.badTokens.Load()) }),
		counter("misdirected", "", func() float64 { return float64(a.api.misdirected.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: monitor.DefaultNamespace, Subsystem: "agent",
			Name: "open_connections", Help: "Client connections open on the API listener."},
			func() float64 { return float64(a.conns.open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: monitor.DefaultNamespace, Subsystem: "agent",
			Name: "requests_in_flight", Help: "Requests the API is answering now; over max_conn they get 429."},
			func() float64 { return float64(a.api.inFlight.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: monitor.DefaultNamespace, Subsystem: "agent",
			Name: "ready", Help: "1 once the start-up prefetch is done."},
			func() float64 {
				if a.Ready() {
					return 1
				}
				return 0
			}),
	}
	for i, reason := range closedReasonNames {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: monitor.DefaultNamespace, Subsystem: "agent", Name: "connections_closed_total",
			Help:        "API connections the agent closed, by reason: idle_over_max_conn, over_hard_limit, header_timeout, idle_timeout, request_timeout.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(a.conns.closed[i].Load()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("agent: metrics: %w", err)
		}
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	})
	a.extras = append(a.extras, func(mux *http.ServeMux) error {
		mux.Handle("GET "+PathMetrics, metrics)
		mux.Handle("GET "+PathHealth, m.HealthHandler())
		mux.Handle("GET "+PathStats, m.StatsHandler())
		return nil
	})
	a.links = []string{PathMetrics, PathHealth, PathStats, PathReport}
	a.monitorReport = m.Report
	return nil
}
