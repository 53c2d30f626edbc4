package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

// stopped is a clock that never moves, so the examples print fixed ages.
type stopped struct{}

func (stopped) Now() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// memory is a tiny in-memory source for the examples.
var memory = secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	if ref.ID == "missing" {
		return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: `{"password":"pw"}`}, nil
})

func exampleCache() *secretcache.Cache {
	c, err := secretcache.New(memory, secretcache.WithClock(stopped{}))
	if err != nil {
		panic(err)
	}
	return c
}

func ExampleNew() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c, monitor.WithRegion("us-east-1"))
	_, _ = c.GetString(context.Background(), "prod/db")
	_, _ = c.GetString(context.Background(), "prod/db")
	fmt.Println(m.Health(context.Background()).Status)
	// Output: healthy
}

// A monitor can exist before its cache: pass ObserveCall to the source
// (awssm.WithCallObserver(m.ObserveCall)), build the cache, then attach it.
func ExampleMonitor_SetCache() {
	m := monitor.New(nil)
	fmt.Println(m.Health(context.Background()).Status)
	c := exampleCache()
	defer c.Close()
	m.SetCache(c)
	fmt.Println(m.Health(context.Background()).Status)
	// Output:
	// unhealthy
	// healthy
}

func ExampleMonitor_ObserveCall() {
	m := monitor.New(nil)
	for i := 1; i <= 100; i++ {
		m.ObserveCall("GetSecretValue", "us-east-1", time.Duration(i)*time.Millisecond, nil)
	}
	p := m.Health(context.Background()).Perf
	fmt.Println(p.Calls, p.SuccessRatePercent, p.LatencyMs.P50, p.LatencyMs.P99)
	// Output: 100 100 50 99
}

func ExampleMonitor_Collector() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	_, _ = c.GetString(context.Background(), "prod/db")
	_, _ = c.GetString(context.Background(), "prod/db")
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() == "secretcache_reads_total" {
			for _, s := range f.GetMetric() {
				fmt.Println(s.GetLabel()[0].GetValue(), s.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// fallback 0
	// hit 1
	// miss 1
	// stale 0
}

func ExampleMonitor_Health() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c, monitor.WithThresholds(monitor.Thresholds{MinSuccessRate: 0.99}))
	for range 9 {
		m.ObserveCall("GetSecretValue", "us-east-1", time.Millisecond, nil)
	}
	m.ObserveCall("GetSecretValue", "us-east-1", time.Millisecond,
		secretcache.NewError(secretcache.ErrThrottled, "prod/db", nil))
	h := m.Health(context.Background())
	fmt.Println(h.Status, h.Perf.SuccessRatePercent)
	fmt.Println(h.Reasons)
	// Output:
	// degraded 90
	// [backend success rate 90.0% over 10 calls is below 99.0%]
}

func ExampleMonitor_RegisterComponent() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c)
	m.RegisterComponent("orders-db", func(ctx context.Context) monitor.ComponentHealth {
		return monitor.ComponentHealth{Status: monitor.StatusDegraded, Message: "rotating credentials",
			Details: map[string]any{"pools": 2}}
	})
	h := m.Health(context.Background())
	fmt.Println(h.Status, h.Components["orders-db"].Message)
	// Output: degraded rotating credentials
}

func ExampleMonitor_CacheStats() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c, monitor.WithRegion("us-east-1"))
	_, _ = c.GetString(context.Background(), "prod/db")
	s := m.CacheStats()
	fmt.Println(s.CachedSecretsCount, s.Region, s.CacheEfficiency.CacheStatus)
	// Output: 1 us-east-1 very_fresh
}

func ExampleCacheStatusFor() {
	fmt.Println(monitor.CacheStatusFor(0, 0), monitor.CacheStatusFor(3, 90*time.Second),
		monitor.CacheStatusFor(3, 10*time.Minute))
	// Output: empty healthy stale
}

func ExampleMonitor_Report() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c, monitor.WithRegion("us-east-1"), monitor.WithClock(stopped{}))
	for range 10 {
		_, _ = c.GetString(context.Background(), "prod/db")
	}
	fmt.Print(m.Report())
	// Output:
	// secretcache monitoring report (2025-01-01T00:00:00Z, secretcache 0.1.0)
	// Status: HEALTHY
	// Region: us-east-1
	//
	// Cache
	//   1 secret in 1 entry, 336 B; 0.10% of capacity (max 1024 entries, 64.0 MiB)
	//   entry age: oldest 0.00s, newest 0.00s, average 0.00s (very_fresh)
	//
	// Reads and calls
	//   reads served: 10 (9 hits, 0 stale, 1 miss; 0 fallbacks)
	//   hit rate: 90.00% since start, 90.00% over the last 10 reads
	//   backend calls made: 1 for 10 reads served
	//   calls saved: 9 (90.00% of reads needed no API call)
	//   estimated API cost: $0.000005 (1 call at $0.05 per 10,000); saved $0.000045
	//   backend errors: none
	//   refreshes: 0 ahead, 0 on expiry, 0 forced; 0 version changes; 0 evictions
	//
	// Backend performance (healthy, last 5m0s)
	//   1 call, 0 failed, success rate 100.00% (latency unknown: pass ObserveCall to the source)
	//
	// Circuit breakers
	//   none reported by the source
	//
	// Components
	//   none registered
}

func ExampleMonitor_Mount() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c)
	mux := http.NewServeMux()
	if err := m.Mount(mux); err != nil {
		fmt.Println(err)
	}
	for _, path := range []string{"/health/secrets", "/secrets-cache-stats", "/metrics"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /health/secrets 200
	// /secrets-cache-stats 200
	// /metrics 200
}

func ExampleMonitor_HealthHandler() {
	m := monitor.New(nil) // no cache: unhealthy
	rec := httptest.NewRecorder()
	m.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/secrets", nil))
	fmt.Println(rec.Code)
	rec = httptest.NewRecorder()
	m.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/health/secrets", nil))
	fmt.Println(rec.Code, rec.Header().Get("Allow"))
	// Output:
	// 503
	// 405 GET, HEAD
}

func ExampleMonitor_StatsHandler() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c, monitor.WithRegion("us-east-1"))
	_, _ = c.GetString(context.Background(), "prod/db")
	rec := httptest.NewRecorder()
	m.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/secrets-cache-stats", nil))
	fmt.Print(rec.Body.String())
	// Output:
	// {
	//   "cached_secrets_count": 1,
	//   "total_cache_entries": 1,
	//   "oldest_cache_age_seconds": 0,
	//   "newest_cache_age_seconds": 0,
	//   "region": "us-east-1",
	//   "cache_efficiency": {
	//     "avg_cache_age_seconds": 0,
	//     "cache_utilization_percent": 0.1,
	//     "cache_status": "very_fresh"
	//   }
	// }
}

func ExampleMonitor_MetricsHandler() {
	c := exampleCache()
	defer c.Close()
	m := monitor.New(c)
	_, _ = c.GetString(context.Background(), "prod/db")
	rec := httptest.NewRecorder()
	m.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "secretcache_entries ") || strings.HasPrefix(line, "secretcache_backend_calls_total ") {
			fmt.Println(line)
		}
	}
	// Output:
	// secretcache_backend_calls_total 1
	// secretcache_entries 1
}

func ExampleMiddleware() {
	c := exampleCache()
	defer c.Close()
	h := monitor.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cache, ok := monitor.CacheFrom(r.Context())
		if !ok {
			http.Error(w, "no cache", http.StatusInternalServerError)
			return
		}
		pw, err := cache.GetField(r.Context(), "prod/db", "password")
		fmt.Println(len(pw), err)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	// Output: 2 <nil>
}

func ExampleCacheFrom() {
	_, ok := monitor.CacheFrom(context.Background())
	fmt.Println(ok)
	c := exampleCache()
	defer c.Close()
	_, ok = monitor.CacheFrom(monitor.ContextWithCache(context.Background(), c))
	fmt.Println(ok)
	// Output:
	// false
	// true
}

// auditLogger writes JSON records without the time and latency, so the
// example output is stable.
func auditLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "latency" {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func ExampleAuditHook() {
	c, _ := secretcache.New(memory, secretcache.WithClock(stopped{}),
		secretcache.WithReadHook(monitor.AuditHook(auditLogger(), monitor.WithAuditSampling(100))))
	defer c.Close()
	ctx := context.Background()
	_, _ = c.GetString(ctx, "prod/db") // miss: logged
	_, _ = c.GetString(ctx, "prod/db") // first hit: logged (1 in 100)
	_, _ = c.GetString(ctx, "prod/db") // sampled out
	_, err := c.GetString(ctx, "missing")
	fmt.Println(errors.Is(err, secretcache.ErrNotFound))
	// Output:
	// {"level":"INFO","msg":"secret read","secret":"prod/db","stage":"AWSCURRENT","version_id":"v1","outcome":"miss"}
	// {"level":"INFO","msg":"secret read","secret":"prod/db","stage":"AWSCURRENT","version_id":"v1","outcome":"hit"}
	// {"level":"WARN","msg":"secret read","secret":"missing","stage":"AWSCURRENT","outcome":"error","error_kind":"not_found","error":"secretcache: get \"missing\": secret not found"}
	// true
}

func ExampleWithAuditAttrs() {
	c, _ := secretcache.New(memory, secretcache.WithClock(stopped{}),
		secretcache.WithReadHook(monitor.AuditHook(auditLogger())))
	defer c.Close()
	ctx := monitor.WithAuditAttrs(context.Background(), slog.String("request_id", "req-42"))
	_, _ = c.GetString(ctx, "prod/db")
	// Output:
	// {"level":"INFO","msg":"secret read","secret":"prod/db","stage":"AWSCURRENT","version_id":"v1","outcome":"miss","request_id":"req-42"}
}

func ExampleDefaultThresholds() {
	t := monitor.DefaultThresholds()
	fmt.Println(t.MinSuccessRate, t.UnhealthySuccessRate, t.MinHitRate, t.WarmReads, t.MinCalls)
	// Output: 0.95 0.5 0.8 100 5
}
