package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/smtest"
)

// syncBuffer is a goroutine-safe output buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testToken is a token the agent accepts without a warning (16 bytes or more).
const testToken = "cli-test-token-0123456789"

// awsTestEnv gives the AWS SDK's default chain a region and static
// credentials and nothing else: no shared files, no instance metadata.
func awsTestEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_ACCESS_KEY_ID": "AKIDCLITEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "",
	} {
		t.Setenv(k, v)
	}
}

// runCLI runs the command line in-process with env as the environment.
func runCLI(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb syncBuffer
	code = runWith(ctx, env, &out, &errb, args...)
	return code, out.String(), errb.String()
}

func runWith(ctx context.Context, env map[string]string, out, errb io.Writer, args ...string) int {
	c := &cli{stdout: out, stderr: errb, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	return c.run(ctx, args)
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-v"}} {
		code, out, _ := runCLI(context.Background(), nil, args...)
		if code != 0 || !strings.HasPrefix(out, "secretcache "+secretcache.Version+" (go") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	if code, _, _ := runCLI(context.Background(), nil, "version", "extra"); code != exitUsage {
		t.Errorf("version extra: %d", code)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range commands() {
		for _, args := range [][]string{{"help", cmd.name}, {cmd.name, "--help"}, {cmd.name, "-h"}} {
			code, out, errOut := runCLI(context.Background(), nil, args...)
			if code != 0 || !strings.Contains(out, "Usage: secretcache "+cmd.name) || errOut != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, clip.String(out, 80), errOut)
			}
		}
	}
	// Flag help names the environment variable of every flag.
	_, out, _ := runCLI(context.Background(), nil, "help", "agent")
	for _, want := range []string{"--dev", "env SECRETCACHE_ADMIN_ADDR", "--config", "--port", "--admin-addr", "X-Aws-Parameters-Secrets-Token"} {
		if !strings.Contains(out, want) {
			t.Errorf("agent help lacks %q", want)
		}
	}
	_, out, _ = runCLI(context.Background(), nil, "help", "get")
	if !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "6  --field failed") {
		t.Errorf("get help lacks the exit codes")
	}
	for _, args := range [][]string{{}, {"bogus"}, {"help", "bogus"}, {"agent", "--bogus"}, {"get", "--field"}} {
		code, out, errOut := runCLI(context.Background(), nil, args...)
		if code != exitUsage || errOut == "" || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 with a message on stderr", args, code, out, errOut)
		}
	}
	if code, out, _ := runCLI(context.Background(), nil, "--help"); code != 0 || !strings.Contains(out, "agent --dev") {
		t.Errorf("--help: %d %q", code, out)
	}
}

func TestAgentConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("ttl_seconds = 4000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.toml")
	if err := os.WriteFile(unknown, []byte("tll_seconds = 40\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := map[string]string{"AWS_TOKEN": testToken}
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{tok, []string{"agent", "--config", bad}, "ttl_seconds = 4000: must be an integer from 0 to 3600"},
		{tok, []string{"agent", "--config", unknown}, "tll_seconds: unknown key"},
		{tok, []string{"agent", "--config", filepath.Join(dir, "none.toml")}, "none.toml"},
		{tok, []string{"agent", "--ttl", "5000"}, "--ttl 5000 (ttl_seconds): must be an integer from 0 to 3600"},
		{tok, []string{"agent", "--port", "70000"}, "--port"},
		{tok, []string{"agent", "--admin-addr", "nope"}, "admin_addr"},
		{tok, []string{"agent", "--log-level", "loud"}, "log_level"},
		{tok, []string{"agent", "stray"}, "unexpected argument"},
		{tok, []string{"agent", "--dev-exit-after", "1s"}, "need --dev"},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETS_MANAGER_TTL": "301"}, []string{"agent"}, "SECRETS_MANAGER_TTL"},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETCACHE_TTL": "abc"}, []string{"agent"}, "SECRETCACHE_TTL"},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETCACHE_MAX_CONN": "0"}, []string{"agent"}, "max_conn"},
		{map[string]string{}, []string{"agent", "--region", "us-east-1", "--admin-addr", "off", "--port", "0"}, "SSRF token"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(context.Background(), c.env, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v %v: exit %d, stdout %q, stderr %q; want 2 and %q", c.env, c.args, code, out, errOut, c.want)
		}
	}
}

func TestAgentCheck(t *testing.T) {
	awsTestEnv(t)
	env := map[string]string{"SECRETCACHE_TTL": "60", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "3000", "AWS_TOKEN": testToken}
	code, out, errOut := runCLI(context.Background(), env, "agent", "--check", "--max-conn", "10")
	if code != 0 || !strings.Contains(out, "API 127.0.0.1:3000") || !strings.Contains(out, "TTL 60s") || !strings.Contains(out, "max_conn 10") {
		t.Errorf("--check: %d %q %q", code, out, errOut)
	}
	// A flag beats its environment variable.
	_, out, _ = runCLI(context.Background(), env, "agent", "--check", "--ttl", "30")
	if !strings.Contains(out, "TTL 30s") {
		t.Errorf("flag over env: %q", out)
	}
}

// devAgent runs "agent --dev" in the background and returns its API URL,
// admin address, token and a function waiting for its exit code.
func devAgent(t *testing.T, env map[string]string, extra ...string) (api, admin, token string, wait func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	args := append([]string{"agent", "--dev", "--port", "0", "--admin-addr", "127.0.0.1:0"}, extra...)
	done := make(chan int, 1)
	go func() { done <- runWith(ctx, env, &out, &errb, args...) }()
	apiRe := regexp.MustCompile(`(?m)^  API +(\S+)$`)
	tokRe := regexp.MustCompile(`(?m)^  token +(\S+)$`)
	adminRe := regexp.MustCompile(`(?m)^  status +http://(\S+)/`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := out.String()
		if m := tokRe.FindStringSubmatch(s); m != nil {
			api = apiRe.FindStringSubmatch(s)[1]
			token = m[1]
			admin = adminRe.FindStringSubmatch(s)[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("agent --dev exited %d early: %s %s", code, s, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no banner: %q %q", s, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	code := 0
	wait = func() (int, string) {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("agent --dev did not stop")
			}
		})
		return code, out.String()
	}
	t.Cleanup(func() { wait() })
	return api, admin, token, wait
}

func httpGet(t *testing.T, url string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAgentDevAndGet(t *testing.T) {
	api, admin, token, wait := devAgent(t, nil)
	if len(token) != 64 {
		t.Errorf("dev token %q", token)
	}
	st, body := httpGet(t, api+"/secretsmanager/get?secretId=demo/db", "X-Aws-Parameters-Secrets-Token: "+token)
	if st != 200 || !strings.Contains(body, `"Name":"demo/db"`) {
		t.Fatalf("dev agent: %d %s", st, body)
	}
	// The prefetch runs in the background after the banner: poll.
	st, body = httpGet(t, "http://"+admin+"/ready")
	for deadline := time.Now().Add(10 * time.Second); st != 200 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		st, body = httpGet(t, "http://"+admin+"/ready")
	}
	if st != 200 || body != "ready" {
		t.Errorf("dev agent not ready after prefetch: %d %s", st, body)
	}
	env := map[string]string{"AWS_TOKEN": token, "SECRETCACHE_AGENT_URL": api}
	cases := []struct {
		args     []string
		env      map[string]string
		code     int
		out, err string
	}{
		{[]string{"get", "demo/db", "--field", "password"}, env, 0, "demo-password-not-secret", ""},
		{[]string{"get", "--field", "port", "demo/db"}, env, 0, "5432", ""},
		{[]string{"get", "demo/api-key"}, env, 0, "demo-api-key-0123456789", ""},
		{[]string{"get", "demo/api-key", "--refresh"}, env, 0, "demo-api-key-0123456789", ""},
		{[]string{"get", "demo/api-key", "--version-stage", "AWSCURRENT"}, env, 0, "demo-api-key-0123456789", ""},
		{[]string{"get", demoBinaryName}, env, 0, "-----DEMO KEY-----\x00\x01\x02", ""},
		{[]string{"get", "demo/nope"}, env, exitNotFound, "", "ResourceNotFoundException"},
		{[]string{"get", "demo/api-key", "--version-stage", "AWSPENDING"}, env, exitNotFound, "", "ResourceNotFoundException"},
		{[]string{"get", "demo/db", "--field", "nope"}, env, exitField, "", "FieldNotFoundException"},
		{[]string{"get", "demo/api-key", "--field", "x"}, env, exitField, "", "SecretNotJSONException"},
		{[]string{"get", "demo/db"}, map[string]string{"AWS_TOKEN": "wrong-token-0123456", "SECRETCACHE_AGENT_URL": api}, exitDenied, "", "refused the token"},
		{[]string{"get", "demo/db"}, map[string]string{"SECRETCACHE_AGENT_URL": api}, exitUsage, "", "AWS_TOKEN"},
		{[]string{"get", "demo/db", "--agent-url", "http://127.0.0.1:1"}, env, exitUnavailable, "", "cannot reach the agent"},
		{[]string{"get", "demo/db", "--agent-url", "ftp://x"}, env, exitUsage, "", "--agent-url ftp://x: must be an http(s) URL"},
		{[]string{"get"}, env, exitUsage, "", "exactly one secret id"},
		{[]string{"get", "a", "b"}, env, exitUsage, "", "exactly one secret id"},
		{[]string{"get", "bad id"}, env, exitUsage, "", "InvalidParameterException"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(context.Background(), c.env, c.args...)
		if code != c.code || out != c.out || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d %q %q", c.args, code, out, errOut, c.code, c.out, c.err)
		}
		if strings.Contains(errOut, "demo-password") || strings.Contains(errOut, "demo-api-key") {
			t.Errorf("%v: a value on stderr: %q", c.args, errOut)
		}
	}
	code, js, _ := runCLI(context.Background(), env, "get", "demo/db", "--json")
	var m map[string]any
	if code != 0 || json.Unmarshal([]byte(js), &m) != nil || m["Name"] != "demo/db" {
		t.Errorf("get --json: %d %q", code, js)
	}

	code, rep, errOut := runCLI(context.Background(), nil, "report", "--admin-addr", admin)
	if code != 0 || !strings.Contains(rep, "demo/db") || !strings.Contains(rep, "ready") || strings.Contains(rep, "demo-password") {
		t.Errorf("report: %d %q %q", code, rep, errOut)
	}
	code, rep, _ = runCLI(context.Background(), nil, "report", "--admin-addr", "http://"+admin, "--json")
	if code != 0 || json.Unmarshal([]byte(rep), &m) != nil {
		t.Errorf("report --json: %d %q", code, clip.String(rep, 100))
	}
	if code, _, errOut := runCLI(context.Background(), nil, "report", "--admin-addr", "127.0.0.1:1"); code != exitUnavailable || !strings.Contains(errOut, "cannot reach") {
		t.Errorf("report on nothing: %d %q", code, errOut)
	}
	if code, out := wait(); code != 0 || !strings.Contains(out, "curl -s -H 'X-Aws-Parameters-Secrets-Token: "+token+"'") {
		t.Errorf("dev agent: exit %d, banner %q", code, out)
	}
}

func TestAgentDevSecretsFileAndToken(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`{"app/one": "1", "app/two": {"k": "v"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	api, _, token, wait := devAgent(t, map[string]string{"AWS_TOKEN": "my-own-token-0123456"}, "--dev-secrets", seed)
	if token != "my-own-token-0123456" {
		t.Errorf("dev mode ignored AWS_TOKEN: %q", token)
	}
	if st, body := httpGet(t, api+"/v1/app/two?field=k", "X-Vault-Token: my-own-token-0123456", "Accept: text/plain"); st != 200 || body != "v" {
		t.Errorf("seeded secret: %d %q", st, body)
	}
	if st, _ := httpGet(t, api+"/v1/demo/db", "X-Vault-Token: my-own-token-0123456"); st != 400 {
		t.Errorf("demo secret present with --dev-secrets: %d", st)
	}
	wait()

	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"x": 5}`), 0o600)
	code, _, errOut := runCLI(context.Background(), nil, "agent", "--dev", "--port", "0", "--admin-addr", "off", "--dev-secrets", bad)
	if code != exitUsage || !strings.Contains(errOut, "string or an object") {
		t.Errorf("bad seed: %d %q", code, errOut)
	}
}

func TestAgentDevExitAfter(t *testing.T) {
	start := time.Now()
	code, out, errOut := runCLI(context.Background(), nil, "agent", "--dev", "--port", "0", "--admin-addr", "off", "--dev-exit-after", "300ms")
	if code != 0 || !strings.Contains(out, "dev mode") || !strings.Contains(errOut, "stopped") {
		t.Errorf("--dev-exit-after: %d %q %q", code, out, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestEmulator(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`{"svc/db": {"password": "pw"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, nil, &out, &errb, "emulator", "--addr", "127.0.0.1:0", "--seed", seed, "--region", "eu-west-1")
	}()
	re := regexp.MustCompile(`AWS_ENDPOINT_URL=(\S+)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator banner: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	client := secretsmanager.NewFromConfig(aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	got, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("svc/db")})
	if err != nil || aws.ToString(got.SecretString) != `{"password":"pw"}` {
		t.Errorf("GetSecretValue through the emulator: %v", err)
	}
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("new"), SecretString: aws.String("x")}); err != nil {
		t.Errorf("CreateSecret: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("emulator exit %d", code)
	}
	if code, _, errOut := runCLI(context.Background(), nil, "emulator", "--addr", "127.0.0.1:0", "--seed", filepath.Join(dir, "none")); code != exitUsage || errOut == "" {
		t.Errorf("missing seed: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(context.Background(), nil, "emulator", "--addr", "bad::addr::", "--exit-after", "1s"); code != exitError {
		t.Errorf("bad addr: %d", code)
	}
}

func TestGetDirect(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "direct/db", `{"password":"pw"}`); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	cases := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"get", "--direct", "--region", "us-east-1", "direct/db"}, 0, `{"password":"pw"}`, ""},
		{[]string{"get", "--direct", "--region", "us-east-1", "direct/db", "--field", "password"}, 0, "pw", ""},
		{[]string{"get", "--direct", "--region", "us-east-1", "direct/none"}, exitNotFound, "", "not found"},
		{[]string{"get", "--direct", "--region", "us-east-1", "direct/db", "--field", "x"}, exitField, "", "key missing"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(context.Background(), nil, c.args...)
		if code != c.code || out != c.out || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: %d %q %q", c.args, code, out, errOut)
		}
	}
	code, out, _ := runCLI(context.Background(), nil, "get", "--direct", "--region", "us-east-1", "direct/db", "--json", "--field", "password")
	if code != 0 || !strings.Contains(out, `"SecretString":"pw"`) || !strings.HasPrefix(out, `{"ARN":"arn:aws:secretsmanager:us-east-1:`) {
		t.Errorf("--direct --json --field: %d %q", code, out)
	}
}

// TestSignals runs the command as a process (the test binary re-executed
// as main, see TestMain) and checks that SIGTERM and SIGINT drain and exit 0.
func TestSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "agent", "--dev", "--port", "0", "--admin-addr", "off")
		cmd.Env = append(os.Environ(), "SECRETCACHE_TEST_RUN_MAIN=1")
		stdout, _ := cmd.StdoutPipe()
		var errb syncBuffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Stop with Ctrl-C") {
				ready = true
				break
			}
		}
		if !ready {
			_ = cmd.Process.Kill()
			t.Fatalf("no banner; stderr %s", errb.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) || err != nil {
				t.Errorf("%v: exit %v; stderr %s", sig, err, errb.String())
			}
			if !strings.Contains(errb.String(), "draining") {
				t.Errorf("%v: no drain logged: %s", sig, errb.String())
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v: still running", sig)
		}
	}
}

// An error line names the command once and the cache's own prefix once:
// no "secretcache exec: ... secretcache: get ..." nor "render: render:".
func TestFatalSaysEachPrefixOnce(t *testing.T) {
	inner := &secretcache.Error{Op: "get", ID: "demo/nope", Kind: secretcache.ErrNotFound}
	for _, tc := range []struct {
		cmd  string
		err  error
		want string
	}{
		{"get", inner, `secretcache get: get "demo/nope": secret not found` + "\n"},
		{"exec", fmt.Errorf("$PW (secret demo/nope): %w; the program was not started", inner),
			`secretcache exec: $PW (secret demo/nope): get "demo/nope": secret not found; the program was not started` + "\n"},
		{"render", fmt.Errorf("render: render: t:1: error calling secret: %w", inner),
			`secretcache render: t:1: error calling secret: get "demo/nope": secret not found` + "\n"},
	} {
		var errb bytes.Buffer
		c := &cli{stderr: &errb}
		if code := c.fatal(tc.cmd, 3, tc.err); code != 3 || errb.String() != tc.want {
			t.Errorf("%s: code %d, line %q; want %q", tc.cmd, code, errb.String(), tc.want)
		}
	}
}
