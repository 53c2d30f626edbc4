package monitor_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secretcache/secretcache/monitor"
)

func TestMountOverHTTP(t *testing.T) {
	m, _, _ := runScript(t, false)
	mux := http.NewServeMux()
	if err := m.Mount(mux); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux) // loopback
	defer srv.Close()
	for _, tc := range []struct {
		path, ctype string
		code        int
	}{
		{"/health/secrets", "application/json", 503}, // degraded: the replica breaker is open
		{"/secrets-cache-stats", "application/json", 200},
		{"/metrics", "text/plain", 200},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || len(b) == 0 {
			t.Errorf("%s: %d %s %d bytes", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
		resp, err = http.Post(srv.URL+tc.path, "application/json", strings.NewReader(strings.Repeat("x", 1<<20)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("POST %s: %d", tc.path, resp.StatusCode)
		}
	}
	// Mounting again on the same mux is an error, not a panic.
	err := m.Mount(mux)
	if err == nil || !strings.Contains(err.Error(), "/health/secrets") || !strings.Contains(err.Error(), "/metrics") {
		t.Fatalf("second mount: %v", err)
	}
	if err := m.Mount(nil); err != nil {
		t.Fatalf("nil mux: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	clk := newClock()
	c := newCache(t, newScripted(map[string]string{"a": "1"}), clk)
	var got bool
	h := monitor.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc, ok := monitor.CacheFrom(r.Context())
		got = ok && cc == c
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !got {
		t.Fatal("cache not in the request context")
	}
	// nil cache: pass-through, CacheFrom reports false.
	h = monitor.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, got = monitor.CacheFrom(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got {
		t.Fatal("nil cache reported present")
	}
	// nil next handler: 404.
	rec := httptest.NewRecorder()
	monitor.Middleware(c)(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Fatalf("nil next: %d", rec.Code)
	}
	if _, ok := monitor.CacheFrom(nilCtx); ok {
		t.Fatal("nil ctx")
	}
	if _, ok := monitor.CacheFrom(context.Background()); ok {
		t.Fatal("empty ctx")
	}
	if _, ok := monitor.CacheFrom(monitor.ContextWithCache(nilCtx, nil)); ok {
		t.Fatal("nil cache in ctx")
	}
}

func TestNilMonitorHandlers(t *testing.T) {
	var m *monitor.Monitor
	if code, _, _ := get(m.HealthHandler(), "GET", "/"); code != 503 {
		t.Errorf("health: %d", code)
	}
	if code, _, _ := get(m.StatsHandler(), "GET", "/"); code != 200 {
		t.Errorf("stats: %d", code)
	}
	if code, _, _ := get(m.MetricsHandler(), "GET", "/"); code != 200 {
		t.Errorf("metrics: %d", code)
	}
	m.RegisterComponent("x", nil)
	m.SetCache(nil)
	if m.Cache() != nil || m.Collector() == nil {
		t.Error("nil monitor accessors")
	}
}
