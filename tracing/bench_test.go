package tracing_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/tracing"
)

// mapSource answers every ref from memory.
type mapSource struct{}

func (mapSource) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: "value"}, nil
}

// BenchmarkGetString reads a cached secret with tracing off and on (an SDK
// provider recording every span): a hit calls no tracing code, so the two
// must match (goal: within 2 ns or 10 %, 0 allocations).
func BenchmarkGetString(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	tr, err := tracing.New(context.Background(), tracing.WithTracerProvider(tp), tracing.WithSecretNames())
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		opts []secretcache.Option
	}{
		{"off", nil},
		{"on", []secretcache.Option{secretcache.WithTracer(tr)}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			c, err := secretcache.New(mapSource{}, append(mode.opts, secretcache.WithLogger(slog.New(slog.DiscardHandler)))...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			if _, err := c.GetString(ctx, "app/db"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.GetString(ctx, "app/db"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetStringInterleaved reads the same secret from a cache with
// tracing off and one with it on, in alternating chunks of 4096 reads, so
// that both see the same machine load; it reports each mode's median ns
// per read over the chunks and their difference.
func BenchmarkGetStringInterleaved(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	defer tp.Shutdown(context.Background())
	tr, err := tracing.New(context.Background(), tracing.WithTracerProvider(tp), tracing.WithSecretNames())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	newCache := func(opts ...secretcache.Option) *secretcache.Cache {
		c, err := secretcache.New(mapSource{}, append(opts, secretcache.WithLogger(slog.New(slog.DiscardHandler)))...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.GetString(ctx, "app/db"); err != nil {
			b.Fatal(err)
		}
		return c
	}
	off, on := newCache(), newCache(secretcache.WithTracer(tr))
	defer off.Close()
	defer on.Close()
	const chunk = 4096
	var offNs, onNs []float64
	run := func(c *secretcache.Cache) float64 {
		start := time.Now()
		for range chunk {
			if _, err := c.GetString(ctx, "app/db"); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start).Nanoseconds()) / chunk
	}
	b.ReportAllocs()
	for b.Loop() {
		offNs = append(offNs, run(off))
		onNs = append(onNs, run(on))
	}
	mOff, mOn := median(offNs), median(onNs)
	b.ReportMetric(mOff, "off-ns/read")
	b.ReportMetric(mOn, "on-ns/read")
	b.ReportMetric(mOn-mOff, "delta-ns/read")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestHitMakesNoSpan: with a Tracer set, 1,000 reads of a cached secret
// make one span, the first read's miss.
func TestHitMakesNoSpan(t *testing.T) {
	tr, exp := newRecorder(t)
	c, err := secretcache.New(mapSource{}, secretcache.WithTracer(tr), secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 1000 {
		if _, err := c.GetString(context.Background(), "app/db"); err != nil {
			t.Fatal(err)
		}
	}
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Name != "secretcache.miss" {
		t.Errorf("spans %s", dump(spans))
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.GetString(context.Background(), "app/db") }); n != 0 {
		t.Errorf("a traced hit allocates %v", n)
	}
}
