package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/secretcache/secretcache"
)

// recTracer records the calls of the cache to its Tracer.
type recTracer struct {
	mu    sync.Mutex
	calls []string
}

type traceKey struct{}

func (r *recTracer) Start(ctx context.Context, kind secretcache.TraceKind, refs []secretcache.Ref) (context.Context, func(error)) {
	ids := make([]string, len(refs))
	for i, ref := range refs {
		ids[i] = ref.ID
	}
	return context.WithValue(ctx, traceKey{}, kind.String()), func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, fmt.Sprintf("%s %s %v", kind, strings.Join(ids, ","), secretcache.KindName(err)))
	}
}

func (r *recTracer) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func TestTracer(t *testing.T) {
	rt := &recTracer{}
	var sawCtx string
	src := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		sawCtx, _ = ctx.Value(traceKey{}).(string)
		if ref.ID == "missing" {
			return nil, &secretcache.Error{Kind: secretcache.ErrNotFound}
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: "x"}, nil
	})
	c, _ := newCache(t, src, secretcache.WithTracer(rt))
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetString(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetString(ctx, "missing"); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal(err)
	}
	if sawCtx != "miss" {
		t.Errorf("the source got context %q, want the Tracer's", sawCtx)
	}
	if err := c.Warm(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	want := []string{"miss a ", "miss missing not_found", "warm b ", "refresh a "}
	if got := rt.got(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tracer calls %q, want %q (hits make none)", got, want)
	}
	if _, err := secretcache.New(src, secretcache.WithTracer(nil)); err == nil || !strings.Contains(err.Error(), "nil tracer") {
		t.Errorf("WithTracer(nil): %v", err)
	}
	for k, s := range map[secretcache.TraceKind]string{secretcache.TraceMiss: "miss", secretcache.TraceRefresh: "refresh",
		secretcache.TraceWarm: "warm", secretcache.TraceRotation: "rotation"} {
		if k.String() != s {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}

// A Tracer sees each call to the source, never a hit; package tracing is
// the OpenTelemetry one.
func ExampleWithTracer() {
	logTracer := tracerFunc(func(ctx context.Context, kind secretcache.TraceKind, refs []secretcache.Ref) (context.Context, func(error)) {
		fmt.Println("start", kind, len(refs))
		return ctx, func(err error) { fmt.Println("end", kind, err) }
	})
	c, err := secretcache.New(exampleSource(), secretcache.WithTracer(logTracer))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.GetString(context.Background(), "prod/api-keys") // miss
	c.GetString(context.Background(), "prod/api-keys") // hit: nothing
	// Output:
	// start miss 1
	// end miss <nil>
}

type tracerFunc func(context.Context, secretcache.TraceKind, []secretcache.Ref) (context.Context, func(error))

func (f tracerFunc) Start(ctx context.Context, k secretcache.TraceKind, refs []secretcache.Ref) (context.Context, func(error)) {
	return f(ctx, k, refs)
}
