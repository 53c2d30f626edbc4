package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The API takes paths as they come: a secret name with "." or empty
// segments reaches the cache unchanged under path_prefix, and an unclean
// path is no fixed endpoint (a mux would have redirected both before any
// check).
func TestRoutesTakePathsAsTheyCome(t *testing.T) {
	a, err := New(context.Background(), testConfig(), WithToken(testToken), WithSource(namedSource{}), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, c := range []struct {
		path, token string
		status      int
		body        string // substring
	}{
		{"/v1/app/./db", testToken, 200, `"Name":"app/./db"`},
		{"/v1/app/../db", testToken, 200, `"Name":"app/../db"`},
		{"/v1/app//db", testToken, 200, `"Name":"app//db"`},
		{"//ping", "", 403, msgBadToken},
		{"/ping/", "", 403, msgBadToken},
		{"//ping", testToken, 404, msgNotFound},
		{"/secretsmanager/../secretsmanager/get?secretId=x", testToken, 404, msgNotFound},
		{"/v1", testToken, 404, msgNotFound},
		{"/ping", "", 200, "healthy"},
		{"/ready", "", 200, "ready"},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://localhost"+c.path, nil)
		if c.token != "" {
			req.Header.Set("X-Aws-Parameters-Secrets-Token", c.token)
		}
		rec := httptest.NewRecorder()
		a.ready.Store(true)
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) || rec.Header().Get("Location") != "" {
			t.Errorf("GET %s = %d %q (Location %q), want %d %q", c.path, rec.Code, rec.Body.String(), rec.Header().Get("Location"), c.status, c.body)
		}
	}
}

// No path_prefix may shadow an endpoint, and the message lists them.
func TestPathPrefixKeepsApartFromEndpoints(t *testing.T) {
	for _, e := range endpoints {
		cfg := DefaultConfig()
		cfg.PathPrefix = e.path
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "path_prefix") {
			t.Errorf("path_prefix %q: %v", e.path, err)
		}
	}
	_, allowed := checkPrefix("/v1/")
	if want := "must be a path of its own, like /v1/ (not /, /ping, /ready, /systemsmanager/parameters/get or a prefix of /secretsmanager/get)"; allowed != want {
		t.Errorf("rule %q, want %q", allowed, want)
	}
}
