package tracing_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/rotate"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/tracing"
)

const (
	secretName  = "app/db"
	secretValue = "value-must-never-be-in-a-span-7f3a"
	testToken   = "tracing-test-token-0123456789"
)

func newRecorder(t *testing.T, opts ...tracing.Option) (*tracing.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := tracing.New(context.Background(), append([]tracing.Option{tracing.WithTracerProvider(tp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tr, exp
}

// startAgent serves an agent on an smtest server holding one secret.
func startAgent(t *testing.T, tr *tracing.Tracing) (*smtest.Server, string) {
	t.Helper()
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	if _, err := srv.CreateSecret("us-east-1", secretName, secretValue); err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.PrefetchJitterSeconds, cfg.ShutdownSeconds = "127.0.0.1:0", "off", 0, 5
	a, err := agent.New(context.Background(), cfg, agent.WithToken(testToken), agent.WithAWSConfig(srv.AWSConfig("us-east-1")),
		agent.WithLogger(slog.New(slog.DiscardHandler)), agent.WithTracing(tr))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, "http://" + a.Addr()
}

func get(t *testing.T, url string, header ...string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// children indexes spans by parent span id.
func children(spans tracetest.SpanStubs) map[trace.SpanID][]tracetest.SpanStub {
	m := map[trace.SpanID][]tracetest.SpanStub{}
	for _, s := range spans {
		m[s.Parent.SpanID()] = append(m[s.Parent.SpanID()], s)
	}
	return m
}

func findSpan(spans []tracetest.SpanStub, name string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

// dump prints every span's name, attributes, events and status, to check
// what they carry.
func dump(spans tracetest.SpanStubs) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "%s %v %s %v\n", s.Name, s.Attributes, s.Status.Description, s.Events)
	}
	return b.String()
}

// TestMissThroughAgent: a request carrying a traceparent that misses the
// cache makes the tree request -> secretcache.miss -> the SDK's
// GetSecretValue call; a hit makes the request span alone.
func TestMissThroughAgent(t *testing.T) {
	tr, exp := newRecorder(t)
	_, base := startAgent(t, tr)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := get(t, base+"/secretsmanager/get?secretId="+secretName, "traceparent", "00-"+traceID+"-"+parentID+"-01")
	if !strings.Contains(body, secretValue) {
		t.Fatalf("wrong answer")
	}
	spans := exp.GetSpans()
	req, ok := findSpan(spans, "GET /secretsmanager/get")
	if !ok {
		t.Fatalf("no request span:\n%s", dump(spans))
	}
	if req.SpanContext.TraceID().String() != traceID || req.Parent.SpanID().String() != parentID || !req.Parent.IsRemote() {
		t.Errorf("request span trace %s parent %s remote %v: the traceparent was not taken", req.SpanContext.TraceID(), req.Parent.SpanID(), req.Parent.IsRemote())
	}
	if req.SpanKind != trace.SpanKindServer {
		t.Errorf("request span kind %v", req.SpanKind)
	}
	kids := children(spans)
	miss, ok := findSpan(kids[req.SpanContext.SpanID()], "secretcache.miss")
	if !ok {
		t.Fatalf("no secretcache.miss under the request span:\n%s", dump(spans))
	}
	call, ok := findSpan(kids[miss.SpanContext.SpanID()], "Secrets Manager.GetSecretValue")
	if !ok {
		t.Fatalf("no SDK call span under the miss span:\n%s", dump(spans))
	}
	if call.SpanKind != trace.SpanKindClient || call.SpanContext.TraceID().String() != traceID {
		t.Errorf("SDK span kind %v trace %s", call.SpanKind, call.SpanContext.TraceID())
	}
	if len(kids[call.SpanContext.SpanID()]) == 0 {
		t.Errorf("the SDK's call span has no children (attempts): %s", dump(spans))
	}
	all := dump(spans)
	if strings.Contains(all, secretValue) {
		t.Errorf("a secret value in a span:\n%s", all)
	}
	if strings.Contains(all, secretName) {
		t.Errorf("a secret name in a span without WithSecretNames:\n%s", all)
	}

	// A hit, with a malformed traceparent: the request span alone, in a
	// new trace.
	exp.Reset()
	get(t, base+"/v1/"+secretName, "traceparent", "00-zz-"+strings.Repeat("x", 4096)+"-01")
	spans = exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET /v1/{secretId}" || spans[0].Parent.IsValid() {
		t.Errorf("a hit made %d spans, want the request's alone, a root:\n%s", len(spans), dump(spans))
	}
}

// TestSecretNames: with WithSecretNames the miss span names the secret;
// still no value anywhere, and a failure carries its kind.
func TestSecretNames(t *testing.T) {
	tr, exp := newRecorder(t, tracing.WithSecretNames())
	_, base := startAgent(t, tr)
	get(t, base+"/secretsmanager/get?secretId="+secretName)
	req, _ := http.NewRequest("GET", base+"/secretsmanager/get?secretId=app/missing", nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := exp.GetSpans()
	all := dump(spans)
	if strings.Contains(all, secretValue) {
		t.Errorf("a secret value in a span:\n%s", all)
	}
	var sawName, sawFailure bool
	for _, s := range spans {
		if s.Name != "secretcache.miss" {
			continue
		}
		for _, a := range s.Attributes {
			if a.Key == tracing.AttrSecretIDs && strings.Contains(a.Value.String(), secretName) {
				sawName = true
			}
			if a.Key == tracing.AttrErrorKind && a.Value.AsString() == "not_found" {
				sawFailure = true
			}
		}
	}
	if !sawName || !sawFailure {
		t.Errorf("miss spans: name %v, not_found failure %v:\n%s", sawName, sawFailure, all)
	}
}

// TestRefreshAndWarm: a Warm batch and a background refresh each make a
// span with the batch size, the SDK's BatchGetSecretValue under it.
func TestRefreshAndWarm(t *testing.T) {
	tr, exp := newRecorder(t)
	srv := smtest.NewServer()
	defer srv.Close()
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		srv.CreateSecret("us-east-1", id, secretValue)
	}
	src, err := awssm.New(srv.AWSConfig("us-east-1"), awssm.WithTracerProvider(tr.AWS()), awssm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{}
	clk.now.Store(time.Unix(1e9, 0).UnixNano())
	c, err := secretcache.New(src, secretcache.WithTracer(tr), secretcache.WithClock(clk), secretcache.WithTTL(time.Minute),
		secretcache.WithBatchWindow(time.Millisecond), secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	checkBatch(t, exp.GetSpans(), "secretcache.warm", 3)
	exp.Reset()
	clk.now.Add(int64(55 * time.Second)) // inside the refresh-ahead window
	for _, id := range ids {
		if _, err := c.GetString(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := findSpan(exp.GetSpans(), "secretcache.refresh"); ok && c.Stats().RefreshesAhead >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	spans := exp.GetSpans()
	total := 0
	for _, s := range spans {
		if s.Name == "secretcache.refresh" {
			for _, a := range s.Attributes {
				if a.Key == tracing.AttrBatchSize {
					total += int(a.Value.AsInt64())
				}
			}
		}
	}
	if total != 3 {
		t.Errorf("refresh spans cover %d secrets, want 3:\n%s", total, dump(spans))
	}
}

func checkBatch(t *testing.T, spans tracetest.SpanStubs, name string, n int64) {
	t.Helper()
	s, ok := findSpan(spans, name)
	if !ok {
		t.Fatalf("no %s span:\n%s", name, dump(spans))
	}
	var size int64 = -1
	for _, a := range s.Attributes {
		if a.Key == tracing.AttrBatchSize {
			size = a.Value.AsInt64()
		}
	}
	if size != n {
		t.Errorf("%s batch size %d, want %d", name, size, n)
	}
	if _, ok := findSpan(children(spans)[s.SpanContext.SpanID()], "Secrets Manager.BatchGetSecretValue"); !ok {
		t.Errorf("no BatchGetSecretValue under %s:\n%s", name, dump(spans))
	}
}

type fakeClock struct{ now atomic.Int64 }

func (f *fakeClock) Now() time.Time { return time.Unix(0, f.now.Load()) }

// TestRotation: rotate makes a span of each rotation, with the new version.
func TestRotation(t *testing.T) {
	tr, exp := newRecorder(t)
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("us-east-1", secretName, secretValue)
	src, err := awssm.New(srv.AWSConfig("us-east-1"), awssm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(src, secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := rotate.New(c, secretName, rotate.Spec[string]{
		Build: func(_ context.Context, s *secretcache.Secret) (string, error) { return s.String, nil },
	}, rotate.WithTracer(tr), rotate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v2, err := srv.PutSecretValue("us-east-1", secretName, secretValue+"2")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ForceRotation(ctx); err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, s := range exp.GetSpans() {
		if s.Name == "secretcache.rotation" {
			for _, a := range s.Attributes {
				if a.Key == tracing.AttrVersionID {
					versions = append(versions, a.Value.AsString())
				}
			}
		}
	}
	if len(versions) == 0 || versions[len(versions)-1] != v2 {
		t.Errorf("rotation spans' versions %q, want the last %s:\n%s", versions, v2, dump(exp.GetSpans()))
	}
}

func TestNewFromEnv(t *testing.T) {
	env := func(m map[string]string) tracing.Option {
		return tracing.WithLookupEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	}
	ctx := context.Background()
	if _, err := tracing.New(ctx, env(map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})); err == nil || !strings.Contains(err.Error(), "accepted is http/protobuf") {
		t.Errorf("grpc protocol: %v", err)
	}
	if _, err := tracing.New(ctx, nil); err == nil {
		t.Error("a nil option was accepted")
	}
	if _, err := tracing.New(ctx, tracing.WithTracerProvider(nil)); err == nil {
		t.Error("a nil provider was accepted")
	}
	// An unreachable collector: spans are dropped, New and Shutdown return.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")
	tr, err := tracing.New(ctx, env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	_, end := tr.Start(ctx, secretcache.TraceMiss, []secretcache.Ref{{ID: "x"}})
	end(nil)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = tr.Shutdown(sctx) // the export fails; it must not hang
	if sctx.Err() != nil {
		t.Error("Shutdown hung on an unreachable collector")
	}
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": " OTLP "}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, false},
	} {
		if got := tracing.Enabled(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }); got != tc.want {
			t.Errorf("Enabled(%v) = %v", tc.env, got)
		}
	}
}

// TestOTLPHTTPExport: New configured by OTEL_* variables sends the spans
// to an OTLP/HTTP receiver (an in-process one) at Shutdown.
func TestOTLPHTTPExport(t *testing.T) {
	got := make(chan []byte, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == "POST" && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" &&
			r.Header.Get("X-Team") == "payments" {
			got <- b
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer rcv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "X-Team=payments")
	t.Setenv("OTEL_SERVICE_NAME", "checkout-agent")
	tr, err := tracing.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, end := tr.Start(context.Background(), secretcache.TraceMiss, []secretcache.Ref{{ID: "app/db"}})
	end(nil)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		for _, want := range []string{"secretcache.miss", "checkout-agent", tracing.ScopeName} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("export lacks %q", want)
			}
		}
		if bytes.Contains(b, []byte("app/db")) {
			t.Error("the secret name was exported without WithSecretNames")
		}
	default:
		t.Fatal("nothing exported to the OTLP/HTTP receiver")
	}
}

func TestMiddlewareNilRoute(t *testing.T) {
	tr, exp := newRecorder(t)
	h := tr.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x?secretId=app/db", nil))
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "POST" || spans[0].Status.Code.String() != "Error" {
		t.Errorf("spans %s", dump(spans))
	}
	if strings.Contains(dump(spans), "app/db") {
		t.Error("the query reached a span")
	}
}
