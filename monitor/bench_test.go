package monitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

// benchCache returns a cache holding n secrets.
func benchCache(b *testing.B, n int) *secretcache.Cache {
	b.Helper()
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"},
			String: `{"username":"app","password":"pw"}`}, nil
	})
	c, err := secretcache.New(src, secretcache.WithTTL(time.Hour), secretcache.WithMaxEntries(4096))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("prod/app/secret-%04d", i)
	}
	if err := c.Warm(context.Background(), ids...); err != nil {
		b.Fatal(err)
	}
	if got := c.Stats().Entries; got != n {
		b.Fatalf("%d entries, want %d", got, n)
	}
	return c
}

// BenchmarkCacheStats is the reference: the cache's own Stats walk over
// 1,000 entries, which every scrape needs.
func BenchmarkCacheStats(b *testing.B) {
	c := benchCache(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Stats()
	}
}

// BenchmarkScrape gathers the collector (with a populated latency
// histogram) from a registry, as a Prometheus scrape does before encoding.
func BenchmarkScrape(b *testing.B) {
	for _, perSecret := range []bool{false, true} {
		b.Run(fmt.Sprintf("entries=1000/per-secret=%v", perSecret), func(b *testing.B) {
			c := benchCache(b, 1000)
			m := monitor.New(c, monitor.WithPerSecretLabels(perSecret))
			for i := range 100 {
				m.ObserveCall("GetSecretValue", []string{"us-east-1", "us-west-2"}[i%2], time.Duration(i)*time.Millisecond, nil)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(m.Collector())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMetricsHandler is a whole /metrics request: gather and encode.
func BenchmarkMetricsHandler(b *testing.B) {
	c := benchCache(b, 1000)
	m := monitor.New(c)
	m.ObserveCall("GetSecretValue", "us-east-1", time.Millisecond, nil)
	h := m.MetricsHandler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkHealth is one Health call over a 1,000-entry cache with a full
// sample window.
func BenchmarkHealth(b *testing.B) {
	c := benchCache(b, 1000)
	m := monitor.New(c)
	for i := range 1024 { // the default sample window (WithWindow)
		m.ObserveCall("GetSecretValue", "us-east-1", time.Duration(i)*time.Microsecond, nil)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Health(ctx)
	}
}

// BenchmarkObserveCall is the per-backend-call cost.
func BenchmarkObserveCall(b *testing.B) {
	m := monitor.New(nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveCall("GetSecretValue", "us-east-1", time.Millisecond, nil)
		}
	})
}

// BenchmarkAuditHook is the per-read cost of the audit hook: a sampled-out
// hit, and a logged record to a JSON handler writing to io.Discard.
func BenchmarkAuditHook(b *testing.B) {
	ev := secretcache.ReadEvent{Ref: secretcache.Ref{ID: "prod/app/db"}, VersionID: "v1",
		Outcome: secretcache.OutcomeHit, Latency: 100 * time.Nanosecond}
	ctx := monitor.WithAuditAttrs(context.Background(), slog.String("request_id", "r-1"))
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b.Run("sampled-out", func(b *testing.B) {
		hook := monitor.AuditHook(logger, monitor.WithAuditSampling(1<<30))
		hook(ctx, ev)
		b.ReportAllocs()
		for b.Loop() {
			hook(ctx, ev)
		}
	})
	b.Run("logged", func(b *testing.B) {
		hook := monitor.AuditHook(logger)
		b.ReportAllocs()
		for b.Loop() {
			hook(ctx, ev)
		}
	})
}
