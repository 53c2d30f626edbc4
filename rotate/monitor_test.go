package rotate_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secretcache/secretcache/monitor"
	"github.com/secretcache/secretcache/rotate"
)

func TestRegistryReportsIntoMonitor(t *testing.T) {
	src := newFakeSource()
	src.set("db", "pw1")
	c := newCache(t, src)
	reg, _ := rotate.NewRegistry(c)
	rec := &recorder{}
	if _, err := rotate.Register(reg, "orders-db", "db", rec.spec(), fast...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer reg.Shutdown(ctx)
	m := monitor.New(c)
	reg.RegisterWith(m, "")
	reg.RegisterWith(nil, "x") // no panic

	comp := func() monitor.ComponentHealth {
		return m.Health(ctx).Components[rotate.DefaultComponent]
	}
	if got := comp(); got.Status != rotate.StatusHealthy {
		t.Fatalf("%+v", got)
	}
	src.set("db", "bad")
	if _, err := c.Refresh(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "degraded component", func() bool { return comp().Status == rotate.StatusDegraded })
	h := m.Health(ctx)
	if h.Status == "healthy" {
		t.Fatalf("service healthy with a degraded resource: %+v", h)
	}
	rec2 := httptest.NewRecorder()
	m.HealthHandler().ServeHTTP(rec2, httptest.NewRequest("GET", "/health/secrets", nil))
	body := rec2.Body.String()
	if !strings.Contains(body, "validation_failed") || strings.Contains(body, "pw1") || strings.Contains(body, `"bad"`) {
		t.Fatal(body)
	}
	var parsed map[string]any
	if err := json.Unmarshal(rec2.Body.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
}
