package awssm_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go/tracing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
)

// spanNames is a smithy TracerProvider that records the names of the
// spans the SDK starts.
type spanNames struct {
	mu    sync.Mutex
	names []string
}

func (p *spanNames) Tracer(string, ...tracing.TracerOption) tracing.Tracer { return p }

func (p *spanNames) StartSpan(ctx context.Context, name string, _ ...tracing.SpanOption) (context.Context, tracing.Span) {
	p.mu.Lock()
	p.names = append(p.names, name)
	p.mu.Unlock()
	return tracing.NopTracerProvider{}.Tracer("").StartSpan(ctx, name)
}

func TestWithTracerProvider(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "prod/db", "v")
	rec := &spanNames{}
	src, err := awssm.New(srv.AWSConfig(primary), awssm.WithTracerProvider(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background(), secretcache.Ref{ID: "prod/db"}); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	got := strings.Join(rec.names, ",")
	rec.mu.Unlock()
	if !strings.Contains(got, "Secrets Manager.GetSecretValue") {
		t.Errorf("the SDK's spans %q lack the call", got)
	}
	if _, err := awssm.New(srv.AWSConfig(primary), awssm.WithTracerProvider(nil)); err == nil || !strings.Contains(err.Error(), "nil tracer provider") {
		t.Errorf("WithTracerProvider(nil): %v", err)
	}
}
