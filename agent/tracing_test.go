package agent

import (
	"net/http/httptest"
	"testing"
)

// TestTracingOffAddsNothing: without WithTracing the API handler is the
// API itself, not wrapped (the wrk benchmark's request path is unchanged).
func TestTracingOffAddsNothing(t *testing.T) {
	e := newEnv(t, envOpt{})
	if _, ok := e.a.Handler().(*api); !ok {
		t.Errorf("Handler is %T without tracing, want *api", e.a.Handler())
	}
	if err := WithTracing(nil)(&options{}); err == nil {
		t.Error("WithTracing(nil) accepted")
	}
}

func TestRouteHasNoSecretName(t *testing.T) {
	e := newEnv(t, envOpt{})
	for path, want := range map[string]string{
		"/secretsmanager/get?secretId=prod/db": "/secretsmanager/get",
		"/v1/prod/db":                          "/v1/{secretId}",
		"/ping":                                "other",
	} {
		if got := e.a.route(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("route(%s) = %q, want %q", path, got, want)
		}
	}
}
