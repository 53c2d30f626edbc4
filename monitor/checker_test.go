package monitor_test

import (
	"context"
	"slices"
	"testing"

	"github.com/secretcache/secretcache/health"
	"github.com/secretcache/secretcache/monitor"
)

// pool is a component that reports through the health.Checker interface,
// as rotate.Registry does, without importing monitor.
type pool struct{ status string }

func (p *pool) CheckHealth(context.Context) health.Report {
	return health.Report{Status: p.status, Message: "pool on v7"}
}

func TestRegisterChecker(t *testing.T) {
	c := newCache(t, newScripted(map[string]string{"a": "1"}), newClock())
	m := monitor.New(c)
	p := &pool{status: health.Degraded}
	m.RegisterChecker("orders-db", p)
	h := m.Health(context.Background())
	if got := h.Components["orders-db"]; got.Status != monitor.StatusDegraded || got.Message != "pool on v7" {
		t.Fatalf("component %+v", got)
	}
	if h.Status != monitor.StatusDegraded {
		t.Fatalf("status %s, want degraded: %v", h.Status, h.Reasons)
	}
	p.status = health.Healthy
	if h := m.Health(context.Background()); h.Status != monitor.StatusHealthy {
		t.Fatalf("status %s: %v", h.Status, h.Reasons)
	}
	m.RegisterChecker("orders-db", nil)
	if h := m.Health(context.Background()); len(h.Components) != 0 {
		t.Fatalf("nil checker did not remove: %+v", h.Components)
	}
	var nilMonitor *monitor.Monitor
	nilMonitor.RegisterChecker("x", p) // no panic
}

// The backend error kinds exported at 0 from the first scrape are the kinds
// a source answers with, and only those.
func TestBackendErrorKindsAtZero(t *testing.T) {
	m := monitor.New(newCache(t, newScripted(nil), newClock()))
	fams, _ := scrape(t, m.MetricsHandler())
	var kinds []string
	for _, s := range fams["secretcache_backend_errors_total"].GetMetric() {
		if s.GetCounter().GetValue() != 0 {
			t.Errorf("fresh cache counts errors: %v", s)
		}
		for _, l := range s.GetLabel() {
			kinds = append(kinds, l.GetValue())
		}
	}
	slices.Sort(kinds)
	want := []string{"access_denied", "decryption_failure", "deleted", "invalid_request", "mismatch",
		"not_found", "throttled", "unavailable"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
}
