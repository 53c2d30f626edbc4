// Package tracing is secretcache's opt-in OpenTelemetry tracing: spans for
// a read that waits for Secrets Manager (a miss), each refresh and warm-up
// batch, each AWS call (through the AWS SDK's own tracing hook), each agent
// request and each rotation, exported over OTLP/HTTP as the standard OTEL_*
// variables say.
//
// It is not needed by the core: the cache, rotate, awssm and agent take the
// small hooks this package implements (secretcache.Tracer, the SDK's
// tracing.TracerProvider, an HTTP middleware) and link no OpenTelemetry.
// Span attributes carry secret ids only with WithSecretNames, never a value.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secretcache/secretcache"
)

// ScopeName is the instrumentation scope of the spans this package makes
// (the AWS SDK's spans have the SDK's scopes).
const ScopeName = "github.com/secretcache/secretcache"

// Attribute keys of the spans of this package.
const (
	AttrKind      = "secretcache.kind"       // miss, refresh, warm, rotation
	AttrBatchSize = "secretcache.batch_size" // how many secrets the call fetched
	AttrSecretIDs = "secretcache.secret_ids" // only with WithSecretNames
	AttrVersionID = "secretcache.version_id" // rotation: the version put in use
	AttrErrorKind = "error.type"             // secretcache.KindName of the error
)

// Tracing makes the spans. Its methods are safe for concurrent use.
type Tracing struct {
	tp     trace.TracerProvider
	own    *sdktrace.TracerProvider // made by New, shut down by Shutdown
	tracer trace.Tracer
	names  bool
	prop   propagation.TextMapPropagator
}

// Option configures New.
type Option func(*config) error

type config struct {
	tp        trace.TracerProvider
	names     bool
	lookupEnv func(string) (string, bool)
}

// WithTracerProvider makes spans with tp (a program's own provider, with
// its exporter and sampler) instead of an OTLP/HTTP exporter configured
// from the environment. Shutdown then leaves tp alone. A nil tp is an
// error.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("tracing: nil tracer provider")
		}
		c.tp = tp
		return nil
	}
}

// WithSecretNames puts the secret ids of a call in its span
// (secretcache.secret_ids) and error messages (which name ids, never
// values) in span statuses. Without it spans carry counts and error kinds
// only: secret names can be confidential too.
func WithSecretNames() Option {
	return func(c *config) error { c.names = true; return nil }
}

// WithLookupEnv sets how New reads the variable it checks itself,
// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL (default os.LookupEnv); the
// OpenTelemetry SDK and exporter read the others from the process
// environment. A nil fn is an error.
func WithLookupEnv(fn func(string) (string, bool)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("tracing: nil lookup function")
		}
		c.lookupEnv = fn
		return nil
	}
}

// New returns a Tracing. Without WithTracerProvider it exports over
// OTLP/HTTP (protobuf) with a batching span processor, all configured by
// the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (default https://localhost:4318; an
// http:// endpoint is plain HTTP, or set OTEL_EXPORTER_OTLP_INSECURE=true),
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT, the TLS variables,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_*,
// OTEL_SERVICE_NAME (default "secretcache") and OTEL_RESOURCE_ATTRIBUTES.
// OTEL_EXPORTER_OTLP_PROTOCOL (or _TRACES_PROTOCOL) other than
// http/protobuf is an error: this package has no gRPC exporter. New makes
// no connection: an unreachable collector costs dropped spans, logged by
// OpenTelemetry's error handler, never a read.
func New(ctx context.Context, opts ...Option) (*Tracing, error) {
	c := config{lookupEnv: lookupEnvDefault}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("tracing: nil option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	t := &Tracing{tp: c.tp, names: c.names, prop: propagation.TraceContext{}}
	if t.tp == nil {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
			if v, ok := c.lookupEnv(k); ok && v != "" {
				if v != "http/protobuf" {
					return nil, fmt.Errorf("tracing: %s=%q: accepted is http/protobuf (the OTLP/HTTP exporter)", k, clipEnv(v))
				}
				break
			}
		}
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/HTTP exporter: %w", err)
		}
		res, err := resource.New(ctx,
			resource.WithAttributes(semconv.ServiceName("secretcache"), semconv.ServiceVersion(secretcache.Version)),
			resource.WithFromEnv(), resource.WithTelemetrySDK())
		if err != nil && res == nil {
			return nil, fmt.Errorf("tracing: resource: %w", err)
		}
		t.own = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.tp = t.own
	}
	t.tracer = t.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(secretcache.Version))
	return t, nil
}

// Enabled reports whether the environment asks for tracing:
// OTEL_TRACES_EXPORTER=otlp, unless OTEL_SDK_DISABLED=true. It is how the
// agent turns tracing on without a configuration key.
func Enabled(lookupEnv func(string) (string, bool)) bool {
	if v, _ := lookupEnv("OTEL_SDK_DISABLED"); strings.EqualFold(strings.TrimSpace(v), "true") {
		return false
	}
	v, _ := lookupEnv("OTEL_TRACES_EXPORTER")
	return strings.EqualFold(strings.TrimSpace(v), "otlp")
}

// Shutdown flushes and stops the exporter New made (not a provider given
// with WithTracerProvider). Spans ended after it are dropped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.own == nil {
		return nil
	}
	return t.own.Shutdown(ctx)
}

// TracerProvider returns the provider spans are made with.
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.tp }

var spanNames = [...]string{
	secretcache.TraceMiss:     "secretcache.miss",
	secretcache.TraceRefresh:  "secretcache.refresh",
	secretcache.TraceWarm:     "secretcache.warm",
	secretcache.TraceRotation: "secretcache.rotation",
}

// Start implements secretcache.Tracer: pass t to secretcache.WithTracer
// and rotate.WithTracer. The span is a child of ctx's span (for a miss,
// the first waiting reader's: its request's span in the agent).
func (t *Tracing) Start(ctx context.Context, kind secretcache.TraceKind, refs []secretcache.Ref) (context.Context, func(error)) {
	name := "secretcache.call"
	if int(kind) < len(spanNames) {
		name = spanNames[kind]
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, attribute.String(AttrKind, kind.String()), attribute.Int(AttrBatchSize, len(refs)))
	if kind == secretcache.TraceRotation && len(refs) == 1 {
		attrs = append(attrs, attribute.String(AttrVersionID, refs[0].VersionID))
	}
	if t.names {
		ids := make([]string, len(refs))
		for i, r := range refs {
			ids[i] = r.ID
		}
		attrs = append(attrs, attribute.StringSlice(AttrSecretIDs, ids))
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			t.setError(span, err)
		}
		span.End()
	}
}

// setError marks span failed with err's kind; its message only with
// WithSecretNames (it names the secret id).
func (t *Tracing) setError(span trace.Span, err error) {
	kind := secretcache.KindName(err)
	span.SetAttributes(attribute.String(AttrErrorKind, kind))
	desc := kind
	if t.names {
		desc = err.Error()
	}
	span.SetStatus(codes.Error, desc)
}

var _ secretcache.Tracer = (*Tracing)(nil)
