package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/secretcache/secretcache"
)

// Paths Mount serves the handlers at.
const (
	HealthPath  = "/health/secrets"
	StatsPath   = "/secrets-cache-stats"
	MetricsPath = "/metrics"
)

// HealthHandler serves Health as JSON: status 200 when healthy, 503 when
// unhealthy, and 503 when degraded unless WithDegradedStatusCode says
// otherwise. It answers GET and HEAD (HEAD: same status, no body); any other
// method gets 405 with an Allow header. It never reads the request body, and
// ignores query parameters; the request's context bounds the component
// checks. Responses are not cacheable.
func (m *Monitor) HealthHandler() http.Handler {
	return getOnly(func(w http.ResponseWriter, r *http.Request) {
		h := m.Health(r.Context())
		code := http.StatusOK
		switch h.Status {
		case StatusHealthy:
		case StatusDegraded:
			code = m.degradedCode()
		default:
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, r, code, h)
	})
}

func (m *Monitor) degradedCode() int {
	if m == nil {
		return http.StatusServiceUnavailable
	}
	return m.cfg.degradedCode
}

// StatsHandler serves CacheStats as JSON (the /secrets-cache-stats shape,
// see CacheStats), always with status 200. Methods, body and query are handled as by
// HealthHandler.
func (m *Monitor) StatsHandler() http.Handler {
	return getOnly(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, m.CacheStats())
	})
}

// MetricsHandler serves the monitor's metrics in the Prometheus exposition
// formats (text, or what the scraper negotiates) from a private registry
// holding only Collector(). It answers GET and HEAD (405 otherwise), serves
// at most 4 scrapes at once (503 beyond) and gives up after 10 s. Register
// Collector() with your own registry instead to add the Go runtime and
// process metrics.
func (m *Monitor) MetricsHandler() http.Handler {
	if m == nil {
		return getOnly(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		})
	}
	h := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	return getOnly(h.ServeHTTP)
}

// Mount registers the three handlers on mux at /health/secrets,
// /secrets-cache-stats and /metrics. A nil mux does nothing. Where a path is
// already registered (ServeMux would panic) it skips that path and returns
// an error naming it; the other paths are still registered.
func (m *Monitor) Mount(mux *http.ServeMux) error {
	if mux == nil {
		return nil
	}
	var errs []error
	for _, r := range []struct {
		path string
		h    http.Handler
	}{{HealthPath, m.HealthHandler()}, {StatsPath, m.StatsHandler()}, {MetricsPath, m.MetricsHandler()}} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					errs = append(errs, fmt.Errorf("secretcache/monitor: cannot mount %s: %v", r.path, p))
				}
			}()
			mux.Handle(r.path, r.h)
		}()
	}
	return errors.Join(errs...)
}

func getOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, r, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
			return
		}
		h(w, r)
	})
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"cannot encode response"}` + "\n")
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

type ctxKey struct{}

// Middleware returns middleware that puts c in every request's context, for
// handlers to read with CacheFrom. A nil c makes it a pass-through
// (CacheFrom then reports false); a nil next handler answers 404.
func Middleware(c *secretcache.Cache) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if next == nil {
			next = http.NotFoundHandler()
		}
		if c == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(ContextWithCache(r.Context(), c)))
		})
	}
}

// ContextWithCache returns a copy of ctx carrying c (what Middleware does
// for each request). A nil ctx is treated as context.Background().
func ContextWithCache(ctx context.Context, c *secretcache.Cache) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, ctxKey{}, c)
}

// CacheFrom returns the cache Middleware (or ContextWithCache) put in ctx. It
// reports false for a nil ctx, a context without a cache, or a nil cache.
func CacheFrom(ctx context.Context) (*secretcache.Cache, bool) {
	if ctx == nil {
		return nil, false
	}
	c, ok := ctx.Value(ctxKey{}).(*secretcache.Cache)
	return c, ok && c != nil
}
