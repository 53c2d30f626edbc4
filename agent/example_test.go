package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/smtest"
)

// An agent in front of the smtest fake, answering like the AWS agent.
func Example() {
	srv := smtest.NewServer()
	defer srv.Close()
	_, _ = srv.CreateSecret("", "prod/db", `{"username":"app","password":"hunter2"}`)

	cfg := agent.DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	a, err := agent.New(context.Background(), cfg,
		agent.WithAWSConfig(srv.AWSConfig("")), // production: the AWS SDK's default chain
		agent.WithToken("my-token-0123456789"), // production: AWS_TOKEN=file:///var/run/awssmatoken
		agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	for _, target := range []string{"/v1/prod/db?field=password", "/v1/prod/nope"} {
		req := httptest.NewRequest("GET", "http://localhost"+target, nil) // the Host local clients send
		req.Header.Set("X-Aws-Parameters-Secrets-Token", "my-token-0123456789")
		req.Header.Set("Accept", "text/plain")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 hunter2
	// 400 {"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret."}
}

// Run serves until the context ends, then drains in-flight requests.
func ExampleAgent_Run() {
	srv := smtest.NewServer()
	defer srv.Close()
	_, _ = srv.CreateSecret("", "api/key", "k-123")

	cfg := agent.DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0" // a free port; the default is 127.0.0.1:2773
	cfg.AdminAddr = "127.0.0.1:0"  // status page, /metrics; "off" disables it
	cfg.Prefetch = []string{"api/key"}
	cfg.PrefetchJitterSeconds = 0
	a, err := agent.New(context.Background(), cfg, agent.WithAWSConfig(srv.AWSConfig("")),
		agent.WithToken("example-token-0123"), agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := a.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background()) // signal.NotifyContext in a program
	done := make(chan error)
	go func() { done <- a.Serve(ctx) }()
	for !a.Ready() { // or poll GET /ready
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequest("GET", "http://"+a.Addr()+"/secretsmanager/get?secretId=api/key", nil)
	req.Header.Set("X-Vault-Token", "example-token-0123")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.Contains(string(body), `"SecretString":"k-123"`))
	}
	stop()
	fmt.Println(<-done)
	// Output:
	// 200 true
	// <nil>
}

// A TOML file with the AWS agent's keys and secretcache's.
func ExampleConfig_Parse() {
	cfg := agent.DefaultConfig()
	err := cfg.Parse([]byte(`
log_level = "INFO"
http_port = "2773"     # quoted or bare numbers, as the AWS agent accepts
ttl_seconds = 300
regions = ["us-east-1", "us-west-2"]
prefetch = ["prod/db"]

[[ttl_policies]]
pattern = "prod/payments/*"
ttl_seconds = 60
`))
	fmt.Println(err, cfg.Addr(), cfg.TTL(), cfg.PrimaryRegion(), cfg.TTLPolicies[0].Pattern)

	bad := agent.DefaultConfig()
	fmt.Println(bad.Parse([]byte("ttl_seconds = 7200")))
	fmt.Println(bad.Parse([]byte("tll_seconds = 60")))
	var ce *agent.ConfigError
	fmt.Println(errors.As(bad.Parse([]byte("max_conn = 0")), &ce), ce.Key)
	// Output:
	// <nil> 127.0.0.1:2773 5m0s us-east-1 prod/payments/*
	// ttl_seconds = 7200: must be an integer from 0 to 3600
	// tll_seconds: unknown key; did you mean ttl_seconds? (every key is listed under Configuration in README.md)
	// true max_conn
}

// The Lambda extension's variables apply over the file.
func ExampleConfig_ApplyLambdaEnv() {
	env := map[string]string{"SECRETS_MANAGER_TTL": "120", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2999"}
	cfg := agent.DefaultConfig()
	_, err := cfg.ApplyLambdaEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(err, cfg.TTLSeconds, cfg.Addr())

	env["SECRETS_MANAGER_TTL"] = "900"
	_, err = cfg.ApplyLambdaEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(err)
	// Output:
	// <nil> 120 127.0.0.1:2999
	// SECRETS_MANAGER_TTL=900 (ttl_seconds): must be an integer from 0 to 300
}

// Set applies one setting from its text form, as flags do.
func ExampleConfig_Set() {
	cfg := agent.DefaultConfig()
	fmt.Println(cfg.Set("prefetch", "prod/db, prod/api"), cfg.Prefetch)
	fmt.Println(cfg.Set("ttl_seconds", "1h"))
	// Output:
	// <nil> [prod/db prod/api]
	// ttl_seconds = "1h": must be an integer from 0 to 3600
}

// Validate checks what single keys cannot.
func ExampleConfig_Validate() {
	cfg := agent.DefaultConfig()
	cfg.PathPrefix = "v1"
	fmt.Println(cfg.Validate())
	// Output:
	// path_prefix = "v1": must begin with /
}

// The token as the AWS agent reads it: first variable set, file:// form.
// The source says where it came from, never the token.
func ExampleLoadToken() {
	dir, _ := os.MkdirTemp("", "token")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "awssmatoken")
	_ = os.WriteFile(path, []byte(strings.Repeat("0123456789abcdef", 4)+"\n"), 0o600)

	names := agent.DefaultConfig().SSRFEnvVariables
	env := map[string]string{"AWS_TOKEN": "file://" + path, "AWS_SESSION_TOKEN": "ignored"}
	tok, src, err := agent.LoadToken(names, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	fmt.Println(len(tok), src.Var, err)

	_, _, err = agent.LoadToken(names, func(string) (string, bool) { return "", false }, nil)
	fmt.Println(errors.Is(err, agent.ErrNoToken))
	// Output:
	// 64 AWS_TOKEN <nil>
	// true
}

// Status is what the status page shows: metadata and read counts only.
func ExampleAgent_Status() {
	srv := smtest.NewServer()
	defer srv.Close()
	_, _ = srv.CreateSecret("", "app/key", "v")
	a, err := agent.New(context.Background(), agent.DefaultConfig(), agent.WithAWSConfig(srv.AWSConfig("")),
		agent.WithToken("example-token-0123"), agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	for range 3 {
		req := httptest.NewRequest("GET", "http://localhost/v1/app/key", nil)
		req.Header.Set("X-Vault-Token", "example-token-0123")
		a.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, e := range a.Status().Entries {
		fmt.Println(e.ID, e.Stages, "misses", e.Misses, "hits", e.Hits)
	}
	fmt.Println(strings.Contains(a.Report(), "app/key"))
	// Output:
	// app/key [AWSCURRENT] misses 1 hits 2
	// true
}

// LoadFile reads a TOML file; errors name the file and the key.
func ExampleConfig_LoadFile() {
	dir, _ := os.MkdirTemp("", "cfg")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "agent.toml")
	_ = os.WriteFile(path, []byte("max_conn = 5000\ncache_size = 0\n"), 0o600)
	cfg := agent.DefaultConfig()
	err := cfg.LoadFile(path)
	fmt.Println(strings.TrimPrefix(err.Error(), dir+string(filepath.Separator)))
	// Output:
	// agent.toml: cache_size = 0: must be an integer from 1 to 100000
}

// Check also returns warnings about settings that have no effect.
func ExampleConfig_Check() {
	cfg := agent.DefaultConfig()
	cfg.TTLSeconds = 0 // caching off
	cfg.Prefetch = []string{"prod/db"}
	warnings, err := cfg.Check()
	fmt.Println(err, warnings)
	// Output:
	// <nil> [prefetch has no effect with caching off (ttl_seconds = 0 or cache_enabled = false)]
}

// SetPort keeps the host of listen_addr.
func ExampleConfig_SetPort() {
	cfg := agent.DefaultConfig()
	cfg.ListenAddr = "0.0.0.0:2773"
	fmt.Println(cfg.SetPort(8080), cfg.Addr())
	fmt.Println(cfg.SetPort(-1))
	// Output:
	// <nil> 0.0.0.0:8080
	// http_port = -1: must be an integer from 0 to 65535
}

// Any secretcache.Source can stand behind the agent.
func ExampleWithSource() {
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		if ref.ID != "static/key" {
			return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: "k"}, nil
	})
	a, err := agent.New(context.Background(), agent.DefaultConfig(), agent.WithSource(src),
		agent.WithToken("example-token-0123"), agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	for _, id := range []string{"static/key", "other"} {
		req := httptest.NewRequest("GET", "http://localhost/v1/"+id, nil)
		req.Header.Set("X-Vault-Token", "example-token-0123")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 {"ARN":null,"Name":"static/key","VersionId":"v1","SecretString":"k","VersionStages":["AWSCURRENT"],"CreatedDate":null}
	// 400 {"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret."}
}

// The admin handler: status page, JSON, readiness, metrics, health.
func ExampleAgent_AdminHandler() {
	srv := smtest.NewServer()
	defer srv.Close()
	_, _ = srv.CreateSecret("", "app/key", "v")
	cfg := agent.DefaultConfig()
	cfg.Prefetch = []string{"app/key"}
	a, err := agent.New(context.Background(), cfg, agent.WithAWSConfig(srv.AWSConfig("")),
		agent.WithToken("example-token-0123"), agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	fmt.Println(a.Prefetch(context.Background()))
	for _, path := range []string{"/status.json", "/metrics", "/secrets-cache-stats", "/nope"} {
		rec := httptest.NewRecorder()
		a.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost"+path, nil))
		fmt.Println(path, rec.Code, strings.Contains(rec.Body.String(), "app/key") || path != "/status.json")
	}
	rec := httptest.NewRecorder()
	a.AdminHandler().ServeHTTP(rec, httptest.NewRequest("POST", "http://localhost/status", nil))
	fmt.Println("POST", rec.Code)
	// Output:
	// <nil>
	// /status.json 200 true
	// /metrics 200 true
	// /secrets-cache-stats 200 true
	// /nope 404 true
	// POST 405
}
