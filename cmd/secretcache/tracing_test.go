package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentTracing: OTEL_TRACES_EXPORTER=otlp turns tracing on; the spans
// of agent --dev's prefetch reach an OTLP/HTTP receiver by exit.
func TestAgentTracing(t *testing.T) {
	got := make(chan []byte, 100)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" {
			got <- b
		}
	}))
	defer rcv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL) // read by the exporter from the process
	env := map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}
	code, _, stderr := runCLI(context.Background(), env, "agent", "--dev", "--dev-exit-after", "2s", "--port", "0", "--admin-addr", "off")
	if code != exitOK {
		t.Fatalf("agent --dev with tracing: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "tracing on") {
		t.Errorf("no tracing log line:\n%s", stderr)
	}
	var all []byte
	for len(got) > 0 {
		all = append(all, <-got...)
	}
	if !bytes.Contains(all, []byte("secretcache.warm")) || !bytes.Contains(all, []byte("BatchGetSecretValue")) {
		t.Errorf("the receiver got no prefetch spans (%d bytes)", len(all))
	}
	if bytes.Contains(all, []byte("demo-password-not-secret")) || bytes.Contains(all, []byte("demo/db")) {
		t.Error("a secret value or name was exported")
	}
}

func TestAgentTracingBadInput(t *testing.T) {
	env := map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
	code, _, stderr := runCLI(context.Background(), env, "agent", "--dev", "--dev-exit-after", "1s", "--port", "0", "--admin-addr", "off")
	if code != exitUsage || !strings.Contains(stderr, "OTEL_EXPORTER_OTLP_PROTOCOL") || !strings.Contains(stderr, "http/protobuf") {
		t.Errorf("grpc protocol: exit %d\n%s", code, stderr)
	}
	cfg := filepath.Join(t.TempDir(), "agent.toml")
	os.WriteFile(cfg, []byte("tracing = \"yes\"\n"), 0o600)
	code, _, stderr = runCLI(context.Background(), nil, "agent", "--check", "--config", cfg, "--region", "us-east-1")
	if code != exitUsage || !strings.Contains(stderr, `tracing = "yes": must be true or false`) {
		t.Errorf("tracing = \"yes\": exit %d\n%s", code, stderr)
	}
}
