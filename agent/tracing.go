package agent

import (
	"errors"
	"net/http"
	"strings"

	smithytracing "github.com/aws/smithy-go/tracing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
)

// Tracing is what the agent traces with: the cache's source calls, the AWS
// SDK's calls and the API's requests. Package tracing's *Tracing
// implements it on OpenTelemetry; the agent links no tracing library.
type Tracing interface {
	secretcache.Tracer
	AWS() smithytracing.TracerProvider
	Middleware(route func(*http.Request) string) func(http.Handler) http.Handler
}

// WithTracing traces the agent with t: a server span per API request (W3C
// traceparent accepted), a span per miss, refresh and prefetch batch under
// it, and the AWS SDK's spans of each Secrets Manager call under those
// (WithAWSConfig and the default AWS source; a WithSource source gets the
// context only). Span names and attributes carry no secret name unless t
// adds them. Without this option the request path has no tracing code at
// all. A nil t is an error.
func WithTracing(t Tracing) Option {
	return func(o *options) error {
		if t == nil {
			return errors.New("agent: nil tracing")
		}
		o.tracing = t
		return nil
	}
}

// route names a request's span without the secret name: the path_prefix
// route is PREFIX{secretId}; paths that are not the API's are "other".
func (a *Agent) route(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == getPath:
		return getPath
	case a.cfg.PathPrefix != "" && strings.HasPrefix(p, a.cfg.PathPrefix):
		return a.cfg.PathPrefix + "{secretId}"
	}
	return "other"
}

// apiHandler returns the API handler, wrapped for tracing when asked.
func (a *Agent) apiHandler(o *options) http.Handler {
	if o.tracing == nil {
		return a.api
	}
	return o.tracing.Middleware(a.route)(a.api)
}

// awsTracing gives the AWS source the SDK's tracing hook of WithTracing.
func awsTracing(o *options) []awssm.Option {
	if o.tracing == nil {
		return nil
	}
	return []awssm.Option{awssm.WithTracerProvider(o.tracing.AWS())}
}
