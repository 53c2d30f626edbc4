package tracing

import (
	"context"
	"fmt"
	"os"

	smithytracing "github.com/aws/smithy-go/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/secretcache/secretcache/internal/clip"
)

// AWS returns the AWS SDK's tracing hook on OpenTelemetry: give it to
// awssm.WithTracerProvider (the agent does), and every Secrets Manager call
// is a client span (with the SDK's own children: retries, signing,
// transmit) under the span of the miss or refresh that made it. It maps
// the smithy-go tracing interfaces onto the provider of t, as
// github.com/aws/smithy-go/tracing/smithyoteltracing does (that module is
// not available to this project); the SDK's span properties (rpc.*,
// aws.*, http.*) become attributes. They carry no secret value: the SDK
// records no request or response body.
func (t *Tracing) AWS() smithytracing.TracerProvider { return awsProvider{t.tp} }

type awsProvider struct{ tp trace.TracerProvider }

func (p awsProvider) Tracer(scope string, _ ...smithytracing.TracerOption) smithytracing.Tracer {
	return awsTracer{p.tp.Tracer(scope)}
}

type awsTracer struct{ t trace.Tracer }

func (t awsTracer) StartSpan(ctx context.Context, name string, opts ...smithytracing.SpanOption) (context.Context, smithytracing.Span) {
	var o smithytracing.SpanOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, s := t.t.Start(ctx, name, trace.WithSpanKind(spanKind(o.Kind)), trace.WithAttributes(properties(o.Properties.Values())...))
	return ctx, &awsSpan{s: s, name: name}
}

func spanKind(k smithytracing.SpanKind) trace.SpanKind {
	switch k {
	case smithytracing.SpanKindClient:
		return trace.SpanKindClient
	case smithytracing.SpanKindServer:
		return trace.SpanKindServer
	case smithytracing.SpanKindProducer:
		return trace.SpanKindProducer
	case smithytracing.SpanKindConsumer:
		return trace.SpanKindConsumer
	}
	return trace.SpanKindInternal
}

type awsSpan struct {
	s    trace.Span
	name string
}

func (s *awsSpan) Name() string { return s.name }

func (s *awsSpan) Context() smithytracing.SpanContext {
	sc := s.s.SpanContext()
	return smithytracing.SpanContext{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), IsRemote: sc.IsRemote()}
}

func (s *awsSpan) AddEvent(name string, opts ...smithytracing.EventOption) {
	var o smithytracing.EventOptions
	for _, opt := range opts {
		opt(&o)
	}
	s.s.AddEvent(name, trace.WithAttributes(properties(o.Properties.Values())...))
}

func (s *awsSpan) SetStatus(st smithytracing.SpanStatus) {
	switch st {
	case smithytracing.SpanStatusOK:
		s.s.SetStatus(codes.Ok, "")
	case smithytracing.SpanStatusError:
		s.s.SetStatus(codes.Error, "")
	}
}

func (s *awsSpan) SetProperty(k, v any) { s.s.SetAttributes(property(k, v)) }

func (s *awsSpan) End() { s.s.End() }

func properties(m map[any]any) []attribute.KeyValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]attribute.KeyValue, 0, len(m))
	for k, v := range m {
		out = append(out, property(k, v))
	}
	return out
}

// property converts one smithy property; values of other types are
// printed, clipped to 256 bytes.
func property(k, v any) attribute.KeyValue {
	key := attribute.Key(fmt.Sprint(k))
	switch x := v.(type) {
	case string:
		return key.String(x)
	case bool:
		return key.Bool(x)
	case int:
		return key.Int(x)
	case int64:
		return key.Int64(x)
	case int32:
		return key.Int64(int64(x))
	case float64:
		return key.Float64(x)
	case []string:
		return key.StringSlice(x)
	}
	return key.String(clip.String(fmt.Sprint(v), 256))
}

func clipEnv(v string) string { return clip.String(v, 64) }

func lookupEnvDefault(k string) (string, bool) { return os.LookupEnv(k) }
