package tracing_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/rotate"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/tracing"
)

// A library program: the cache and the AWS source traced, spans exported
// over OTLP/HTTP as the OTEL_* variables say. (Not run: it would export to
// the default endpoint, https://localhost:4318.)
func ExampleNew() {
	ctx := context.Background()
	srv := smtest.NewServer() // stands for AWS Secrets Manager here
	defer srv.Close()
	srv.CreateSecret("us-east-1", "app/db", "s3cr3t")

	t, err := tracing.New(ctx) // OTEL_EXPORTER_OTLP_ENDPOINT etc.
	if err != nil {
		log.Fatal(err)
	}
	defer t.Shutdown(ctx) // flush at exit
	src, err := awssm.New(srv.AWSConfig("us-east-1"), awssm.WithTracerProvider(t.AWS()))
	if err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(src, secretcache.WithTracer(t))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	v, err := cache.GetString(ctx, "app/db") // a miss: spans secretcache.miss > Secrets Manager.GetSecretValue
	fmt.Println(len(v), err)
}

// The program's own provider (here recording in memory), with secret ids
// in the attributes.
func ExampleWithTracerProvider() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t, err := tracing.New(context.Background(), tracing.WithTracerProvider(tp), tracing.WithSecretNames())
	if err != nil {
		log.Fatal(err)
	}
	cache, _ := secretcache.New(mapSource{}, secretcache.WithTracer(t), secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	defer cache.Close()
	if _, err := cache.GetString(context.Background(), "app/db"); err != nil { // miss: a span
		fmt.Println(err)
	}
	cache.GetString(context.Background(), "app/db") // hit: none
	for _, s := range exp.GetSpans() {
		fmt.Println(s.Name, s.Attributes)
	}
	// Output: secretcache.miss [{"secretcache.kind":"miss"} {"secretcache.batch_size":1} {"secretcache.secret_ids":["app/db"]}]
}

// The agent traced: a span per request, continuing the caller's trace.
func ExampleTracing_Middleware() {
	exp := tracetest.NewInMemoryExporter()
	t, _ := tracing.New(context.Background(), tracing.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("us-east-1", "app/db", "s3cr3t")
	cfg := agent.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr = "127.0.0.1:0", "off"
	a, err := agent.New(context.Background(), cfg, agent.WithToken("example-token-0123456789"),
		agent.WithAWSConfig(srv.AWSConfig("us-east-1")), agent.WithTracing(t), agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	req := httptest.NewRequest("GET", "http://localhost:2773/secretsmanager/get?secretId=app/db", nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", "example-token-0123456789")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	for _, s := range exp.GetSpans() {
		if s.Parent.IsRemote() {
			fmt.Println(s.Name, "in trace", s.SpanContext.TraceID())
		}
	}
	// A plain handler can be wrapped too; route must not name secrets.
	_ = t.Middleware(func(*http.Request) string { return "/things" })(http.NotFoundHandler())
	// Output:
	// 200
	// GET /secretsmanager/get in trace 4bf92f3577b34da6a3ce929d0e0e4736
}

// Enabled is how a program decides from the environment, as the agent does.
func ExampleEnabled() {
	env := map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}
	fmt.Println(tracing.Enabled(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	// Output: true
}

// A rotating resource traced: each rotation is a span with the version
// put in use.
func ExampleTracing_Start() {
	exp := tracetest.NewInMemoryExporter()
	t, _ := tracing.New(context.Background(), tracing.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))
	cache, _ := secretcache.New(mapSource{}, secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	defer cache.Close()
	r, err := rotate.New(cache, "app/db", rotate.Spec[string]{
		Build: func(_ context.Context, s *secretcache.Secret) (string, error) { return "conn:" + s.VersionID, nil },
	}, rotate.WithTracer(t), rotate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if err := r.ForceRotation(context.Background()); err != nil { // rebuilds: a rotation (Start's first build is not)
		log.Fatal(err)
	}
	for _, s := range exp.GetSpans() {
		fmt.Println(s.Name, s.Attributes[2].Value.AsString())
	}
	// Output: secretcache.rotation v1
}
