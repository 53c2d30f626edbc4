package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secretcache/secretcache/internal/redistest"
	"github.com/secretcache/secretcache/smtest"
)

// Ten real agent processes with [fleet] on one Redis, each with its own AWS
// client against one emulator: one secret read by all ten at once costs one
// AWS read, and Redis holds neither its name nor its value.
func TestTenAgentProcessesShareTheFleet(t *testing.T) {
	bin := buildStatic(t)
	rs := redistest.Start(t)
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	if _, err := sm.CreateSecret("", "fleet/db", "ten-agents-value"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const n = 10
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
		cfg := fmt.Sprintf(`listen_addr = %q
admin_addr = "off"
region = "us-east-1"
prefetch_jitter_seconds = 0

[fleet]
redis_addrs = [%q]
key_env = "SC_FLEET_KEY"
redis_timeout_ms = 2000
`, addrs[i], rs.Addr)
		path := filepath.Join(dir, fmt.Sprintf("agent%d.toml", i))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "agent", "--config", path)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_TOKEN=" + testToken,
			"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + sm.URL,
			`SC_FLEET_KEY={"current":"k1","keys":{"k1":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("agent%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			logf.Close()
		})
	}
	c := &http.Client{Timeout: 10 * time.Second}
	get := func(addr, path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i, a := range addrs {
		deadline := time.Now().Add(60 * time.Second)
		for {
			if st, _ := get(a, "/ping"); st == 200 {
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("agent%d.log", i)))
				t.Fatalf("agent %d did not start:\n%s", i, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			st, body := get(a, "/secretsmanager/get?secretId=fleet/db")
			if st != 200 || !strings.Contains(body, "ten-agents-value") {
				t.Errorf("agent %d: %d %.200s", i, st, body)
			}
		})
	}
	wg.Wait()
	if got := sm.Calls("", "GetSecretValue") + sm.Calls("", "BatchGetSecretValue"); got != 1 {
		t.Errorf("10 agents made %d AWS reads, want 1", got)
	}
	keys, _ := rs.CLI("--scan")
	for _, k := range strings.Fields(keys) {
		v, _ := rs.CLI("GET", k)
		if strings.Contains(k+v, "fleet/db") || strings.Contains(k+v, "ten-agents-value") {
			t.Errorf("Redis key %q or its value holds the name or the value", k)
		}
	}
}
