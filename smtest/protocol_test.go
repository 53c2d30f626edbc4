package smtest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// raw sends a request by hand and returns the status and decoded body.
func raw(t *testing.T, srv *Server, target, auth string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", ct)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	return resp.StatusCode, m
}

func sig(region string) string {
	return "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/" + region + "/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
}

func TestProtocolErrors(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name, target string
		body         string
		status       int
		code         string
	}{
		{"unknown op", "secretsmanager.DoMagic", `{}`, 400, "UnknownOperationException"},
		{"no target", "", `{}`, 400, "UnknownOperationException"},
		{"other service", "kms.GetSecretValue", `{}`, 400, "UnknownOperationException"},
		{"malformed", "secretsmanager.GetSecretValue", `{"SecretId":`, 400, "SerializationException"},
		{"not an object", "secretsmanager.GetSecretValue", `["a"]`, 400, "SerializationException"},
		{"wrong type", "secretsmanager.GetSecretValue", `{"SecretId": 5}`, 400, "SerializationException"},
		{"trailing garbage", "secretsmanager.GetSecretValue", `{"SecretId": "a"} x`, 400, "SerializationException"},
		{"bad base64", "secretsmanager.CreateSecret", `{"Name": "a", "SecretBinary": "!!"}`, 400, "SerializationException"},
		{"missing id", "secretsmanager.GetSecretValue", `{}`, 400, "ValidationException"},
		{"empty body", "secretsmanager.DescribeSecret", ``, 400, "ValidationException"},
		{"missing name", "secretsmanager.CreateSecret", `{"SecretString": "x"}`, 400, "ValidationException"},
		{"long id", "secretsmanager.GetSecretValue", `{"SecretId": "` + strings.Repeat("a", 2049) + `"}`, 400, "ValidationException"},
		{"not found", "secretsmanager.GetSecretValue", `{"SecretId": "nope"}`, 400, "ResourceNotFoundException"},
		{"too large", "secretsmanager.CreateSecret", `{"Name": "a", "SecretString": "` + strings.Repeat("a", maxBodyBytes) + `"}`, 413, "RequestEntityTooLargeException"},
		{"value over limit", "secretsmanager.CreateSecret", `{"Name": "a", "SecretString": "` + strings.Repeat("a", 70000) + `"}`, 400, "ValidationException"},
		{"null is fine", "secretsmanager.ListSecrets", `null`, 200, ""},
	}
	for _, tc := range cases {
		status, body := raw(t, s, tc.target, sig("us-east-1"), []byte(tc.body))
		if status != tc.status || (tc.code != "" && body["__type"] != tc.code) {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
		if tc.code != "" && body["message"] == "" {
			t.Errorf("%s: no message", tc.name)
		}
	}
	// Methods other than POST.
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestRegionFromSignature(t *testing.T) {
	s := newServer(t, WithDefaultRegion("ca-central-1"))
	create := func(auth, name string) {
		status, body := raw(t, s, "secretsmanager.CreateSecret", auth, []byte(`{"Name":"`+name+`","SecretString":"v"}`))
		if status != 200 {
			t.Fatalf("create: %d %v", status, body)
		}
		if !strings.Contains(body["ARN"].(string), ":"+s.regionOf(name)+":") {
			t.Fatalf("ARN %v", body["ARN"])
		}
	}
	create(sig("ap-northeast-1"), "signed")
	create("", "unsigned")
	create("Bearer xyz", "garbage-auth")
	if _, ok := s.Secret("ap-northeast-1", "signed"); !ok {
		t.Error("signed request not in its region")
	}
	for _, n := range []string{"unsigned", "garbage-auth"} {
		if _, ok := s.Secret("ca-central-1", n); !ok {
			t.Errorf("%s not in the default region", n)
		}
	}
	if s.Calls("ap-northeast-1", "CreateSecret") != 1 || s.Calls("ca-central-1", "CreateSecret") != 2 {
		t.Error("calls by region")
	}
	// Presigned-style credential in the query.
	r := httptest.NewRequest(http.MethodPost, "/?X-Amz-Credential=AKID%2F20260101%2Fsa-east-1%2Fsecretsmanager%2Faws4_request", nil)
	if got := regionFromRequest(r); got != "sa-east-1" {
		t.Errorf("query credential region %q", got)
	}
}

// regionOf tells where the test above expects a secret.
func (srv *Server) regionOf(name string) string {
	if name == "signed" {
		return "ap-northeast-1"
	}
	return srv.cfg.region
}

func TestServeHTTPDirect(t *testing.T) {
	// The server is an http.Handler and works without the network too.
	s := newServer(t)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"Name":"x","SecretString":"v"}`))
	r.Header.Set("X-Amz-Target", "secretsmanager.CreateSecret")
	s.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("X-Amzn-Requestid") == "" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(Operations()) < 20 {
		t.Fatalf("Operations() = %v", Operations())
	}
}
