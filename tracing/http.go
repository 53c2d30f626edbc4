package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Middleware returns an HTTP middleware that makes a server span of each
// request, a child of the caller's span when the request carries a W3C
// traceparent (and tracestate) header; a malformed header starts a new
// trace. route names the span ("GET " + route) and must not put secret
// names in it: the agent's route function maps /v1/NAME to "/v1/{secretId}";
// a nil route names every span by its method alone.
// Attributes: method, route, status code; never the query, headers or
// body. Without tracing, do not wrap the handler at all: the agent adds
// nothing to its request path then.
func (t *Tracing) Middleware(route func(*http.Request) string) func(http.Handler) http.Handler {
	if route == nil {
		route = func(*http.Request) string { return "" }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rt := route(r)
			name := r.Method
			if rt != "" {
				name += " " + rt
			}
			ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", rt)))
			defer span.End()
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r.WithContext(ctx))
			span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
		})
	}
}

// statusRecorder keeps the status code; Unwrap lets http.ResponseController
// reach the connection's writer (flush, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
