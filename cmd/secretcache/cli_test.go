package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// Every error path of the command line: one message on stderr naming the
// flag as --flag (or the variable, the file, the key) and what is
// accepted, with no doubled prefix, and nothing on stdout.
func TestMessages(t *testing.T) {
	awsTestEnv(t)
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(p, mode)
		return p
	}
	badTOML := write("bad.toml", "ttl_seconds = 4000\n", 0o600)
	typo := write("typo.toml", "cache_sise = 10\n", 0o600)
	syntax := write("syntax.toml", "region = us-east-1\n", 0o600)
	openTOML := write("open.toml", "ttl_seconds = 30\n", 0o666)
	badSeed := write("seed.json", `{"app/port": 5432}`, 0o600)
	brokenSeed := write("broken.json", "{\n\"a\": \"x\",\n}", 0o600)
	openToken := write("token", "file-token-0123456789\n", 0o666)
	missing := filepath.Join(dir, "none.toml")
	tok := map[string]string{"AWS_TOKEN": testToken}
	cases := []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{nil, []string{"bogus"}, exitUsage, `secretcache: unknown command "bogus"; the commands are agent, get, exec, render, emulator, report, version, help`},
		{nil, []string{"help", "bogus"}, exitUsage, `secretcache help: unknown command "bogus"; the commands are agent, get, exec, render, emulator, report, version, help`},
		{nil, []string{"version", "x"}, exitUsage, `secretcache version: takes no arguments (got "x")`},
		{tok, []string{"agent", "--bogus"}, exitUsage, "secretcache agent: unknown flag --bogus\nRun \"secretcache help agent\" for the flags.\n"},
		{tok, []string{"agent", "-prot", "1"}, exitUsage, "secretcache agent: unknown flag --prot; did you mean --port?"},
		{tok, []string{"agent", "---port", "1"}, exitUsage, `secretcache agent: bad flag syntax "---port": flags are --name value or --name=value`},
		{tok, []string{"agent", "--port"}, exitUsage, "secretcache agent: --port needs a value (port)"},
		{tok, []string{"agent", "--port", "x"}, exitUsage, "secretcache agent: --port x (http_port): must be an integer from 0 to 65535"},
		{tok, []string{"agent", "--port=70000"}, exitUsage, "secretcache agent: --port 70000 (http_port): must be an integer from 0 to 65535"},
		{tok, []string{"agent", "--max-conn", "0"}, exitUsage, "secretcache agent: --max-conn 0 (max_conn): must be an integer from 1 to 10000"},
		{tok, []string{"agent", "--ttl", "1h"}, exitUsage, "secretcache agent: --ttl 1h (ttl_seconds): must be an integer from 0 to 3600"},
		{tok, []string{"agent", "--log-level", "loud"}, exitUsage, "secretcache agent: --log-level loud (log_level): must be one of debug, info, warn, error, none"},
		{tok, []string{"agent", "--region", "Mars"}, exitUsage, "secretcache agent: --region Mars (region): must be an AWS region name such as us-east-1"},
		{tok, []string{"agent", "--regions", "us-east-1,moon-1 x"}, exitUsage, `secretcache agent: --regions "moon-1 x" (regions): must be a list of at most 16 AWS region names such as us-east-1, primary first`},
		{tok, []string{"agent", "--admin-addr", "nope"}, exitUsage, "secretcache agent: --admin-addr nope (admin_addr): must be host:port with an IP address or localhost, such as 127.0.0.1:2773 or 0.0.0.0:2773, or off"},
		{tok, []string{"agent", "--check=maybe"}, exitUsage, "secretcache agent: --check maybe: must be true or false"},
		{tok, []string{"agent", "--dev", "--dev-exit-after", "soon"}, exitUsage, "secretcache agent: --dev-exit-after soon: must be a duration such as 300ms, 15s, 2m or 1h"},
		{tok, []string{"agent", "--dev", "--dev-exit-after", "-1s"}, exitUsage, "secretcache agent: --dev-exit-after -1s: must be a duration of 0 or more, such as 30s"},
		{tok, []string{"agent", "--dev-secrets", badSeed}, exitUsage, "secretcache agent: --dev-secrets, --dev-parameters and --dev-exit-after need --dev"},
		{tok, []string{"agent", "stray"}, exitUsage, `secretcache agent: unexpected argument "stray": the agent takes flags only`},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETCACHE_DEV": "yes"}, []string{"agent"}, exitUsage, "secretcache agent: SECRETCACHE_DEV=yes: must be true or false"},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETCACHE_PORT": "99999"}, []string{"agent"}, exitUsage, "secretcache agent: SECRETCACHE_PORT=99999 (http_port): must be an integer from 0 to 65535"},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETS_MANAGER_TTL": "301"}, []string{"agent"}, exitUsage, "secretcache agent: SECRETS_MANAGER_TTL=301 (ttl_seconds): must be an integer from 0 to 300"},
		{tok, []string{"agent", "-c", missing}, exitUsage, "secretcache agent: configuration file: open " + missing + ": no such file or directory"},
		{tok, []string{"agent", "--config", badTOML}, exitUsage, "secretcache agent: " + badTOML + ": ttl_seconds = 4000: must be an integer from 0 to 3600"},
		{tok, []string{"agent", "--config", typo}, exitUsage, "secretcache agent: " + typo + ": cache_sise: unknown key; did you mean cache_size?"},
		{tok, []string{"agent", "--config", syntax}, exitUsage, "secretcache agent: " + syntax + ": TOML parse error at line 1, column 10: "},
		{tok, []string{"agent", "--config", openTOML}, exitUsage, "secretcache agent: configuration file " + openTOML + " is writable by every user (mode 0666), so any local user could change it; refused: run chmod o-w " + openTOML},
		{nil, []string{"agent", "--port", "0"}, exitUsage, "secretcache agent: no SSRF token variable is set: set one of AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN to the token, or to file:///path of a file holding it"},
		{map[string]string{"AWS_TOKEN": " " + testToken}, []string{"agent", "--port", "0"}, exitUsage, "secretcache agent: SSRF token from AWS_TOKEN: the token has leading or trailing spaces, which HTTP strips from header values, so no request would match it; a token must be 1 to 4096 bytes of printable ASCII (16 or more recommended), with no leading or trailing space"},
		{map[string]string{"AWS_TOKEN": testToken + "\n"}, []string{"agent", "--port", "0"}, exitUsage, "secretcache agent: SSRF token from AWS_TOKEN: the token contains control characters"},
		{map[string]string{"AWS_TOKEN": "file://" + openToken}, []string{"agent", "--port", "0"}, exitUsage, "secretcache agent: SSRF token from AWS_TOKEN: token file " + openToken + " is writable by every user"},
		{nil, []string{"agent", "--dev", "--port", "0", "--admin-addr", "off", "--dev-secrets", badSeed}, exitUsage, "secretcache agent: --dev-secrets " + badSeed + `: secret "app/port": value must be a string or an object, not a number`},
		{nil, []string{"agent", "--dev", "--port", "0", "--admin-addr", "off", "--dev-secrets", brokenSeed}, exitUsage, "secretcache agent: --dev-secrets " + brokenSeed + ": line 3, column 1: invalid JSON: invalid character '}'"},
		{map[string]string{"AWS_TOKEN": testToken, "AWS_LAMBDA_RUNTIME_API": "bad/x"}, []string{"agent", "--port", "0", "--admin-addr", "off"}, exitError, `secretcache agent: lambda: AWS_LAMBDA_RUNTIME_API="bad/x": must be the Extensions API's host:port, as Lambda sets it`},
		{nil, []string{"emulator", "--addr", "127.0.0.1:0", "--seed", badSeed}, exitUsage, "secretcache emulator: --seed " + badSeed + `: secret "app/port": value must be a string or an object, not a number`},
		{nil, []string{"emulator", "--seed", missing}, exitUsage, "secretcache emulator: --seed " + missing + ": no such file or directory"},
		{nil, []string{"emulator", "--region", "bad region"}, exitUsage, `secretcache emulator: --region "bad region" (region): must be an AWS region name such as us-east-1`},
		{nil, []string{"emulator", "--exit-after", "-1s"}, exitUsage, "secretcache emulator: --exit-after -1s: must be a duration of 0 or more, such as 30s (0: run until SIGINT or SIGTERM)"},
		{nil, []string{"emulator", "x"}, exitUsage, `secretcache emulator: unexpected argument "x": the emulator takes flags only`},
		{nil, []string{"emulator", "--addr", "bad::addr::", "--exit-after", "1s"}, exitError, "secretcache emulator: cannot listen on bad::addr:: (--addr): "},
		{nil, []string{"get"}, exitUsage, "secretcache get: give exactly one secret id (name or ARN), got 0 arguments; see secretcache help get"},
		{tok, []string{"get", "x", "--timeout", "0s"}, exitUsage, "secretcache get: --timeout 0s: must be a positive duration such as 15s or 1m"},
		{tok, []string{"get", "x", "--timeout", "never"}, exitUsage, "secretcache get: --timeout never: must be a duration such as 300ms, 15s, 2m or 1h"},
		{tok, []string{"get", "x", "--field="}, exitUsage, `secretcache get: --field "": needs a key of the JSON secret`},
		{tok, []string{"get", "x", "--field"}, exitUsage, "secretcache get: --field needs a value (key)"},
		{tok, []string{"get", "x", "--direct", "--region", "US"}, exitUsage, "secretcache get: --region US (region): must be an AWS region name such as us-east-1"},
		{tok, []string{"get", "x", "--agent-url", "127.0.0.1:2773"}, exitUsage, "secretcache get: x: --agent-url 127.0.0.1:2773: must be an http(s) URL such as http://127.0.0.1:2773"},
		{nil, []string{"get", "x"}, exitUsage, "secretcache get: x: no SSRF token variable is set: set one of AWS_TOKEN"},
		{nil, []string{"report", "--timeout", "0s"}, exitUsage, "secretcache report: --timeout 0s: must be a positive duration such as 10s"},
		{nil, []string{"report", "--admin-addr", "http://127.0.0.1:2774/x?y"}, exitUsage, "secretcache report: --admin-addr http://127.0.0.1:2774/x?y: must be the agent's admin listener, host:port or http://host:port, such as 127.0.0.1:2774"},
		{nil, []string{"report", "now"}, exitUsage, `secretcache report: unexpected argument "now": report takes flags only`},
	}
	doubled := regexp.MustCompile(`secretcache (\w+): (\w+): `)
	singleDash := regexp.MustCompile(`(^|[\s"(])-[a-z]{2,}`)
	for _, c := range cases {
		code, out, errOut := runCLI(context.Background(), c.env, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%q %q:\n exit %d, stdout %q\n stderr %q\n want %d and %q", c.env, c.args, code, out, errOut, c.code, c.want)
			continue
		}
		if m := doubled.FindStringSubmatch(errOut); m != nil && m[1] == m[2] {
			t.Errorf("%q: doubled prefix in %q", c.args, errOut)
		}
		if singleDash.MatchString(errOut) {
			t.Errorf("%q: a flag shown with one dash in %q", c.args, errOut)
		}
		if strings.Contains(errOut, testToken) || strings.Contains(errOut, "file-token-0123456789") {
			t.Errorf("%q: the token in %q", c.args, errOut)
		}
	}
}

// Flags are shown as --flag in help, with -c as the AWS agent's alias of
// --config.
func TestFlagHelpAndAlias(t *testing.T) {
	_, out, _ := runCLI(context.Background(), nil, "help", "agent")
	if !strings.Contains(out, "  -c, --config file\n") || regexp.MustCompile(`(?m)^  -[a-z]{2,}`).MatchString(out) {
		t.Errorf("agent help:\n%s", out)
	}
	awsTestEnv(t)
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte("ttl_seconds = 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-c", p}, {"-c=" + p}, {"--config", p}, {"-config", p}} {
		code, out, errOut := runCLI(context.Background(), map[string]string{"AWS_TOKEN": testToken}, append([]string{"agent", "--check"}, args...)...)
		if code != 0 || !strings.Contains(out, "TTL 42s") {
			t.Errorf("%q: %d %q %q", args, code, out, errOut)
		}
	}
}

// --check runs the checks of a start (token, region, credentials), not
// only the configuration's, and prints the configuration as applied, as
// TOML that loads back unchanged, never the token.
func TestAgentCheckIsAStart(t *testing.T) {
	awsTestEnv(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	token := newToken()
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_TOKEN": "file://" + tokenFile}
	conf := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(conf, []byte("ttl_seconds = 60\nregions = [\"eu-west-1\", \"eu-central-1\"]\n[[ttl_policies]]\npattern = \"prod/*\"\nttl_seconds = 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(context.Background(), env, "agent", "--check", "-c", conf, "--listen-addr", "0.0.0.0:2773", "--prefetch", "prod/db")
	if code != 0 {
		t.Fatalf("--check: %d %q %q", code, out, errOut)
	}
	for _, want := range []string{
		"configuration OK: API 0.0.0.0:2773, admin 127.0.0.1:2774, TTL 60s, cache_size 1000, max_conn 800\n",
		"warning: the API listens beyond loopback (0.0.0.0:2773)",
		"# token: AWS_TOKEN (file " + tokenFile + "), 64 bytes (never shown)\n",
		"# region: eu-west-1, from the configuration\n",
		"# AWS credentials: resolved at start from EnvConfigCredentials\n",
		`prefetch = ["prod/db"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, token) {
		t.Fatal("--check printed the token")
	}
	// The printed configuration loads back to the same configuration.
	_, printed, _ := strings.Cut(out, "flags):\n")
	again := filepath.Join(dir, "again.toml")
	if err := os.WriteFile(again, []byte(printed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out2, errOut := runCLI(context.Background(), env, "agent", "--check", "-c", again)
	if _, printed2, _ := strings.Cut(out2, "flags):\n"); code != 0 || printed2 != printed {
		t.Errorf("round trip: %d %q\n%s\n---\n%s", code, errOut, printed, printed2)
	}

	// What fails a start fails --check: no token, a bad one, no region.
	for _, c := range []struct {
		env   map[string]string
		unset string
		want  string
	}{
		{nil, "", "no SSRF token variable is set"},
		{map[string]string{"AWS_TOKEN": testToken + " "}, "", "the token has leading or trailing spaces"},
		{env, "AWS_REGION", "region: no AWS region found"},
	} {
		if c.unset != "" {
			t.Setenv(c.unset, "")
		}
		code, out, errOut := runCLI(context.Background(), c.env, "agent", "--check")
		if code != exitUsage || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("--check %v: %d %q %q, want %q", c.env, code, out, errOut, c.want)
		}
	}
}

// credentials_file_path, from the AWS agent's configuration: --check
// passes (and says so) while the file is missing, as a start does.
func TestAgentCredentialsFile(t *testing.T) {
	awsTestEnv(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	conf := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(conf, []byte("region = \"us-east-1\"\ncredentials_file_path = \""+creds+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_TOKEN": testToken}
	code, out, errOut := runCLI(context.Background(), env, "agent", "--check", "-c", conf)
	if code != 0 || !strings.Contains(out, "# AWS credentials: credentials_file_path "+creds+", profile default: not loaded yet") {
		t.Errorf("missing credentials file: %d %q %q", code, out, errOut)
	}
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = secret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(context.Background(), env, "agent", "--check", "-c", conf)
	if code != 0 || !strings.Contains(out, "profile default (loaded; re-read when it changes)") || strings.Contains(out+errOut, "secret-from-file") {
		t.Errorf("credentials file: %d %q %q", code, out, errOut)
	}
}

// log_to_file, from the AWS agent's configuration: the log goes to
// log_file, not stderr.
func TestAgentLogToFile(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "logs", "agent.log")
	conf := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(conf, []byte("log_to_file = true\nlog_file = \""+logFile+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(context.Background(), nil, "agent", "--dev", "-c", conf, "--port", "0", "--admin-addr", "off", "--dev-exit-after", "200ms")
	if code != 0 || !strings.Contains(out, "dev mode") || strings.Contains(errOut, "level=") {
		t.Errorf("agent with log_to_file: %d %q %q", code, out, errOut)
	}
	b, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(b), "secretcache agent listening") || !strings.Contains(string(b), "secretcache agent stopped") {
		t.Errorf("log file: %q %v", b, err)
	}
}

// mainProcess starts the command as a process (the test binary
// re-executed as main, see TestMain) in dir, and returns it with a reader
// of its stdout.
func mainProcess(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *bufio.Reader, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SECRETCACHE_TEST_RUN_MAIN=1"), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return cmd, bufio.NewReader(stdout), &errb
}

// The first line of stdout is the AWS agent's "listening on" line, which
// its integration harness waits for, in production and dev mode alike.
func TestListeningLine(t *testing.T) {
	awsTestEnv(t)
	line := regexp.MustCompile(`^Agent/` + regexp.QuoteMeta(secretcache.Version) + ` listening on http://(127\.0\.0\.1:\d+)\n$`)
	for _, args := range [][]string{
		{"agent", "--port", "0", "--admin-addr", "off"},
		{"agent", "--dev", "--port", "0", "--admin-addr", "off"},
	} {
		_, stdout, errb := mainProcess(t, ".", []string{"AWS_TOKEN=" + testToken}, args...)
		first, err := stdout.ReadString('\n')
		m := line.FindStringSubmatch(first)
		if err != nil || m == nil {
			t.Errorf("%q: first line %q (%v); stderr %s", args, first, err, errb.String())
			continue
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		resp, err := http.Get("http://" + m[1] + "/ping")
		if err != nil {
			t.Errorf("%q: ping %s: %v", args, m[1], err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%q: ping: %d", args, resp.StatusCode)
		}
	}
}

// The dev banner's get command works exactly as printed, from where the
// quick start runs it: go run in the repository's root.
func TestDevBannerCommandWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command with go run")
	}
	root, _ := filepath.Abs("../..")
	_, stdout, errb := mainProcess(t, root, nil, "agent", "--dev", "--port", "0", "--admin-addr", "off")
	var try string
	deadline := time.Now().Add(20 * time.Second)
	for try == "" && time.Now().Before(deadline) {
		l, err := stdout.ReadString('\n')
		if err != nil {
			t.Fatalf("banner ended: %v; stderr %s", err, errb.String())
		}
		if strings.HasPrefix(l, "  AWS_TOKEN=") {
			try = strings.TrimSpace(l)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if !regexp.MustCompile(`^AWS_TOKEN=[0-9a-f]{64} go run \./cmd/secretcache get demo/db --agent-url http://127\.0\.0\.1:\d+$`).MatchString(try) {
		t.Fatalf("Try line %q", try)
	}
	sh := needShell(t)
	cmd := exec.Command(sh, "-c", try)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECRETCACHE_") && !strings.HasPrefix(kv, "AWS_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("%s: %v\n%s", try, err, ee.Stderr)
	}
	if err != nil || string(out) != demoSecrets["demo/db"] {
		t.Errorf("%s: %q %v", try, out, err)
	}
}

// The command printed for this program is one the shell runs here.
func TestCommandFor(t *testing.T) {
	bin := t.TempDir()
	exe := filepath.Join(bin, "secretcache")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	found := func(string) (string, error) { return exe, nil }
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	other := func(string) (string, error) { return "/bin/sh", nil }
	goBuild := filepath.Join(os.TempDir(), "go-build123", "b001", "exe", "secretcache")
	for _, c := range []struct {
		exe  string
		look func(string) (string, error)
		want string
	}{
		{exe, found, "secretcache"},
		{exe, notFound, exe},
		{exe, other, exe},
		{"/opt/my tools/secretcache", notFound, "'/opt/my tools/secretcache'"},
		{goBuild, notFound, "go run github.com/secretcache/secretcache/cmd/secretcache"}, // not in the repository's root
	} {
		if got := commandFor(c.exe, c.look); got != c.want {
			t.Errorf("commandFor(%q) = %q, want %q", c.exe, got, c.want)
		}
	}
}

// startEmulator runs "emulator" in-process on a free port with a seed and
// returns its export line and its stderr.
func startEmulator(t *testing.T, extra ...string) (export string, stderr *syncBuffer) {
	t.Helper()
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(seed, []byte(`{"svc/db": {"password": "pw-not-logged"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	stderr = &syncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"emulator", "--addr", "127.0.0.1:0", "--seed", seed, "--region", "eu-west-1"}, extra...)
	go func() { done <- runWith(ctx, nil, &out, stderr, args...) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "export ") {
				return l, stderr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator banner: %q %q", out.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// --verbose logs each request: operation, region, secret id, status;
// never a value.
func TestEmulatorVerbose(t *testing.T) {
	export, stderr := startEmulator(t, "--verbose")
	url := regexp.MustCompile(`AWS_ENDPOINT_URL=(\S+)`).FindStringSubmatch(export)[1]
	for _, body := range []string{`{"SecretId": "svc/db"}`, `{"SecretId": "svc/none"}`} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	logs := stderr.String()
	for _, want := range []string{
		"level=INFO msg=request op=GetSecretValue region=eu-west-1 status=200 ",
		"secret=svc/db\n",
		"status=400 ", "secret=svc/none\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("verbose logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "pw-not-logged") {
		t.Errorf("a value in the logs:\n%s", logs)
	}
}

// The printed export line works as printed for the AWS CLI (v1 reads
// AWS_DEFAULT_REGION only) and boto3.
func TestEmulatorExportLine(t *testing.T) {
	export, _ := startEmulator(t)
	for _, want := range []string{"AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1", "AWS_ENDPOINT_URL=http://", "AWS_ENDPOINT_URL_SECRETS_MANAGER=http://"} {
		if !strings.Contains(export, want) {
			t.Errorf("export line %q lacks %s", export, want)
		}
	}
	sh := needShell(t)
	home := t.TempDir() // no ~/.aws
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home, "PATH="+os.Getenv("PATH")+string(os.PathListSeparator)+filepath.Join(os.Getenv("HOME"), ".pyenv", "shims"))
	for _, tool := range []struct{ bin, script string }{
		{"aws", "aws secretsmanager get-secret-value --secret-id svc/db --query SecretString --output text"},
		{"python3", `python3 -c 'import boto3; print(boto3.client("secretsmanager").get_secret_value(SecretId="svc/db")["SecretString"])'`},
	} {
		cmd := exec.Command(sh, "-c", export+"; "+tool.script)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil && (strings.Contains(string(out), "not found") || strings.Contains(string(out), "No module named")) {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s is required under CI=true: %s", tool.bin, out)
			} else {
				t.Logf("skipping %s: %s", tool.bin, out)
			}
			continue
		}
		if err != nil || strings.TrimSpace(string(out)) != `{"password":"pw-not-logged"}` {
			t.Errorf("%s with the export line: %v\n%s", tool.bin, err, out)
		}
	}
}

// --check refuses the regions the AWS source would refuse at start (over
// 32 characters, upper case), naming the flag or key and what is accepted.
func TestAgentCheckRegionRule(t *testing.T) {
	awsTestEnv(t)
	long := strings.Repeat("r", 33)
	conf := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(conf, []byte("region = \""+long+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const accepted = "must be an AWS region name such as us-east-1: 1 to 32 lowercase letters, digits and single hyphens"
	tok := map[string]string{"AWS_TOKEN": testToken}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{tok, []string{"--region", long}, "secretcache agent: --region " + long + " (region): " + accepted},
		{tok, []string{"--region", "US-EAST-1"}, "secretcache agent: --region US-EAST-1 (region): " + accepted},
		{tok, []string{"-c", conf}, "secretcache agent: " + conf + ": region = \"" + long + "\": " + accepted},
		{tok, []string{"--regions", "us-east-1,EU-WEST-1"}, "secretcache agent: --regions EU-WEST-1 (regions): must be a list of at most 16 AWS region names such as us-east-1, primary first (each 1 to 32 lowercase letters, digits and single hyphens)"},
		{map[string]string{"AWS_TOKEN": testToken, "SECRETCACHE_REGION": long}, nil, "secretcache agent: SECRETCACHE_REGION=" + long + " (region): " + accepted},
	} {
		code, out, errOut := runCLI(context.Background(), c.env, append([]string{"agent", "--check"}, c.args...)...)
		if code != exitUsage || out != "" || strings.TrimSpace(errOut) != c.want {
			t.Errorf("agent --check %q: exit %d, stdout %q\n stderr %q\n want %d and %q", c.args, code, out, errOut, exitUsage, c.want)
		}
	}
	code, out, errOut := runCLI(context.Background(), tok, "agent", "--check", "--region", strings.Repeat("r", 32))
	if code != 0 {
		t.Errorf("a 32-character region: exit %d %q %q", code, out, errOut)
	}
}
