package fleetmon_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secretcache/secretcache/fleet/fleetmon"
	"github.com/secretcache/secretcache/monitor"
)

func TestNilSource(t *testing.T) {
	if _, err := fleetmon.Collector(nil, ""); err == nil || err.Error() != "fleetmon: source is nil" {
		t.Errorf("Collector(nil): %v", err)
	}
	if h := fleetmon.Health(nil)(context.Background()); h.Status != monitor.StatusUnhealthy {
		t.Errorf("Health(nil): %+v", h)
	}
}

// Redis down: the breaker opens, the component is degraded (not
// unhealthy: readers are served from AWS) and the fallbacks are counted
// under the namespace asked for.
func TestRedisDownIsDegraded(t *testing.T) {
	src, rdb := newSource()
	defer rdb.Close()
	ctx := context.Background()
	for i := range 20 {
		if _, err := src.Fetch(ctx, refOf(fmt.Sprint("s", i))); err != nil {
			t.Fatal(err)
		}
	}
	h := fleetmon.Health(src)(ctx)
	if h.Status != monitor.StatusDegraded || h.Details["redis_breaker"] != "open" {
		t.Errorf("health with Redis down: %+v", h)
	}
	col, err := fleetmon.Collector(src, "myapp")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
	}
	if len(got) != 7 || got["myapp_fleet_l2_fallbacks_total"] != 20 || got["myapp_fleet_origin_fetches_total"] != 20 {
		t.Errorf("metrics: %v", got)
	}
}
