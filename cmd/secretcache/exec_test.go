//go:build unix

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/smtest"
)

var (
	helperOnce sync.Once
	helperPath string
	helperErr  error
)

// execHelper builds the child program of the exec tests (the one of
// internal/execenv's tests) once.
func execHelper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exec-helper")
		if err != nil {
			helperErr = err
			return
		}
		helperPath = filepath.Join(dir, "helper")
		out, err := exec.Command("go", "build", "-o", helperPath, "../../internal/execenv/testdata/helper").CombinedOutput()
		if err != nil {
			helperErr = fmt.Errorf("building the helper: %v\n%s", err, out)
		}
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return helperPath
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func waitLog(t *testing.T, path, substr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := readLog(path)
		if strings.Count(s, substr) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d lines with %q in the helper's log:\n%s", n, substr, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecDevEnvironment(t *testing.T) {
	h := execHelper(t)
	log := filepath.Join(t.TempDir(), "events")
	t.Setenv("T_INHERITED", "yes")
	code, out, errs := runCLI(context.Background(), nil, "exec", "--dev", "--env", "T_PW=demo/db#password",
		"--env", "T_KEY=demo/api-key", "--env", "T_PORT=demo/db#port", "--", h, "-log", log, "-exit", "4")
	if code != 4 {
		t.Fatalf("exit %d; want the child's 4; stdout %q stderr %q", code, out, errs)
	}
	if got := readLog(log); !strings.Contains(got, "env=T_INHERITED=yes,T_KEY=demo-api-key-0123456789,T_PORT=5432,T_PW=demo-password-not-secret\n") {
		t.Errorf("the child saw %q", got)
	}
	// --only-declared: nothing of the parent's environment.
	os.Remove(log)
	code, _, errs = runCLI(context.Background(), nil, "exec", "--dev", "--only-declared", "--env", "T_KEY=demo/api-key",
		"--", h, "-log", log, "-env-prefix", "", "-exit", "0")
	if code != 0 || !strings.HasSuffix(readLog(log), " env=T_KEY=demo-api-key-0123456789\n") {
		t.Errorf("--only-declared: exit %d, child saw %q, stderr %q", code, readLog(log), errs)
	}
	for _, v := range []string{"demo-api-key-0123456789", "demo-password-not-secret"} {
		if strings.Contains(errs, v) {
			t.Errorf("a value on stderr: %s", errs)
		}
	}
}

// A missing secret or field: a clear error naming the variable and the
// secret, get's exit code, and the program never started.
func TestExecMissingSecretNeverStarts(t *testing.T) {
	h := execHelper(t)
	log := filepath.Join(t.TempDir(), "events")
	for _, tc := range []struct {
		env  []string
		code int
		want string
	}{
		{[]string{"T_PW=demo/db#password", "T_X=demo/nope"}, exitNotFound, "$T_X (secret demo/nope): "},
		{[]string{"T_PW=demo/db#nokey"}, exitField, `$T_PW (secret demo/db, field nokey): field "demo/db": JSON key missing: no key "nokey"; the program was not started`},
		{[]string{"T_PW=demo/api-key#k"}, exitField, "$T_PW (secret demo/api-key, field k)"},
	} {
		args := []string{"exec", "--dev"}
		for _, e := range tc.env {
			args = append(args, "--env", e)
		}
		code, _, errs := runCLI(context.Background(), nil, append(args, "--", h, "-log", log)...)
		if code != tc.code || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.env, code, errs, tc.code, tc.want)
		}
		if strings.Contains(errs, "demo-password-not-secret") {
			t.Errorf("a value in %q", errs)
		}
		if _, err := os.Stat(log); err == nil {
			t.Fatalf("the program started: %s", readLog(log))
		}
	}
}

func TestExecUsage(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "exec.toml")
	os.WriteFile(cfg, []byte("[exec]\nsignal = \"SIGHUP\"\nbogus = 1\n"), 0o600)
	badDur := filepath.Join(t.TempDir(), "dur.toml")
	os.WriteFile(badDur, []byte("[exec]\ndebounce = \"soon\"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--env", "bad", "--", "true"}, `secretcache exec: --env bad: want NAME=ID[#FIELD]`},
		{[]string{"--env", "1A=x", "--", "true"}, `variable name "1A": want letters, digits and _`},
		{[]string{"--env", "A=x#", "--", "true"}, "A: empty field after #"},
		{[]string{"--env", "A=x", "--env", "A=y", "--", "true"}, "--env A: declared twice"},
		{[]string{"--env", "A=x", "true"}, "put the command after --"},
		{[]string{"--env", "A=x", "--"}, "no command"},
		{[]string{"--", "true"}, "no --env"},
		{[]string{"--env", "A=x", "--signal", "KILL", "--", "true"}, "--signal KILL: want SIGTERM, SIGHUP"},
		{[]string{"--env", "A=x", "--on-change", "reload", "--", "true"}, "--on-change reload: want restart or signal"},
		{[]string{"--env", "A=x", "--kill-timeout", "0s", "--", "true"}, "--kill-timeout 0s: must be positive"},
		{[]string{"--env", "A=x", "--interval", "10ms", "--", "true"}, "--interval 10ms: must be at least 1s"},
		{[]string{"--env", "A=x", "--direct", "--dev", "--", "true"}, "--direct and --dev: choose one source"},
		{[]string{"--env", "A=x", "--dev-secrets", "f", "--", "true"}, "--dev-secrets needs --dev"},
		{[]string{"--config", cfg, "--", "true"}, "unknown keys exec.bogus"},
		{[]string{"--config", badDur, "--", "true"}, `"soon": want a duration`},
		{[]string{"--env", "A=x", "--", "true"}, "no SSRF token variable is set"},
	} {
		code, _, errs := runCLI(context.Background(), nil, append([]string{"exec"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) || strings.Count(errs, "secretcache exec:") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	code, _, errs := runCLI(context.Background(), nil, "exec", "--dev", "--env", "A=demo/api-key", "--", "/nonexistent/prog")
	if code != 127 || !strings.Contains(errs, "/nonexistent/prog") || strings.Count(errs, "/nonexistent/prog") != 1 {
		t.Errorf("missing program: %d %q", code, errs)
	}
}

func TestExecConfigFile(t *testing.T) {
	h := execHelper(t)
	log := filepath.Join(t.TempDir(), "events")
	cfg := filepath.Join(t.TempDir(), "exec.toml")
	os.WriteFile(cfg, []byte("[exec]\nonly_declared = true\ndebounce = \"0s\"\n[exec.env]\nT_B = \"demo/db#username\"\nT_A = \"demo/api-key\"\n"), 0o600)
	code, _, errs := runCLI(context.Background(), nil, "exec", "--dev", "--config", cfg, "--", h, "-log", log, "-env-prefix", "", "-exit", "0")
	if code != 0 || !strings.HasSuffix(readLog(log), " env=T_A=demo-api-key-0123456789,T_B=app\n") {
		t.Errorf("exit %d, child saw %q, stderr %q", code, readLog(log), errs)
	}
	// --env adds to [exec.env] (and wins for a name both declare): the file's
	// variables are never dropped because a flag declares others.
	log2 := filepath.Join(t.TempDir(), "events")
	code, _, errs = runCLI(context.Background(), nil, "exec", "--dev", "--config", cfg, "--env", "T_A=demo/db#username",
		"--env", "T_C=demo/db#username", "--", h, "-log", log2, "-env-prefix", "", "-exit", "0")
	if code != 0 || !strings.HasSuffix(readLog(log2), " env=T_A=app,T_B=app,T_C=app\n") {
		t.Errorf("with --env: exit %d, child saw %q, stderr %q", code, readLog(log2), errs)
	}
	// A key that is not a variable name is refused, not split at its '='.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[exec.env]\n\"A=B\" = \"x\"\n"), 0o600)
	if code, _, errs := runCLI(context.Background(), nil, "exec", "--dev", "--config", bad, "--", "true"); code != exitUsage || !strings.Contains(errs, `key "A=B"`) {
		t.Errorf("key with '=': exit %d, %q", code, errs)
	}
}

// Through a running agent: a new value restarts the program once with the
// new environment; a new version with the same value, or a change of a key
// nobody reads, restarts nothing. The program's exit code is exec's.
func TestExecFollowsAgentRotation(t *testing.T) {
	h := execHelper(t)
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "app/db", `{"password":"pw-one","user":"u1"}`); err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.TTLSeconds = "127.0.0.1:0", "off", 1
	const token = "exec-test-token-0123456789"
	a, err := agent.New(context.Background(), cfg, agent.WithAWSConfig(srv.AWSConfig("")), agent.WithToken(token),
		agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(context.Background())
	defer stop()
	go a.Run(actx)
	for a.Addr() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	log := filepath.Join(t.TempDir(), "events")
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(context.Background(), map[string]string{"AWS_TOKEN": token}, &syncBuffer{}, &errb,
			"exec", "--agent-url", "http://"+a.Addr(), "--interval", "1s", "--debounce", "0s",
			"--env", "T_PW=app/db#password", "--", h, "-log", log)
	}()
	first := waitLog(t, log, "start", 1)
	if !strings.Contains(first, "env=T_PW=pw-one\n") {
		t.Fatalf("first start: %s", first)
	}
	if _, err := srv.PutSecretValue("", "app/db", `{"password":"pw-two","user":"u1"}`); err != nil {
		t.Fatal(err)
	}
	got := waitLog(t, log, "start", 2)
	if !strings.HasSuffix(got, "env=T_PW=pw-two\n") || !strings.Contains(got, "signal terminated") {
		t.Fatalf("after the rotation:\n%s", got)
	}
	// The same password in a new version, and a new user: no restart.
	if _, err := srv.PutSecretValue("", "app/db", `{"password":"pw-two","user":"u2"}`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond) // the agent's TTL, then exec's
	if n := strings.Count(readLog(log), "start"); n != 2 {
		t.Errorf("%d starts after a change that leaves the environment alone; want 2:\n%s", n, readLog(log))
	}
	if !strings.Contains(errb.String(), "variables=[T_PW]") {
		t.Errorf("exec did not log the change:\n%s", errb.String())
	}
	// The program ends by itself (SIGUSR1 makes the helper exit 7).
	lines := strings.Split(strings.TrimSpace(readLog(log)), "\n")
	var pid int
	for _, l := range lines {
		if strings.HasPrefix(l, "start pid=") {
			pid, _ = strconv.Atoi(strings.Fields(strings.TrimPrefix(l, "start pid="))[0])
		}
	}
	// The values are in the program's /proc/PID/environ, not exec's.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil && !strings.Contains(string(b), "T_PW=pw-two\x00") {
		t.Errorf("the program's environ lacks the value")
	}
	if b, err := os.ReadFile("/proc/self/environ"); err == nil && strings.Contains(string(b), "pw-") {
		t.Errorf("exec's own environ holds a value")
	}
	syscall.Kill(pid, syscall.SIGUSR1)
	select {
	case code := <-done:
		if code != 7 {
			t.Errorf("exec exited %d; want the program's 7", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not end with its program")
	}
	for _, v := range []string{"pw-one", "pw-two"} {
		if strings.Contains(errb.String(), v) {
			t.Errorf("a value in exec's log:\n%s", errb.String())
		}
	}
}

// As a process of its own, exec forwards the signals it gets and exits
// with the program's code (SIGUSR1 makes the helper exit 7).
func TestExecProcessForwardsSignals(t *testing.T) {
	h := execHelper(t)
	log := filepath.Join(t.TempDir(), "events")
	cmd, _, errb := mainProcess(t, t.TempDir(), nil, "exec", "--dev", "--env", "T_K=demo/api-key", "--", h, "-log", log)
	waitLog(t, log, "start", 1)
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, log, "signal hangup", 1)
	cmd.Process.Signal(syscall.SIGINT)
	waitLog(t, log, "signal interrupt", 1)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("exec did not exit after its program; stderr %s", errb.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d; want the program's 0; stderr %s", code, errb.String())
	}
	if strings.Contains(errb.String(), "demo-api-key") {
		t.Errorf("a value on stderr: %s", errb.String())
	}
}

// exec as PID 1 of a new PID namespace (a container) reaps orphans by
// default and still exits with its program's code: the helper leaves 3
// orphans, counts the zombies Z after 400ms and exits 40+Z.
func TestExecReapsAsPID1(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: needs root and unshare (euid %d, %v)", os.Geteuid(), err)
		}
		t.Skip("needs root and unshare")
	}
	h := execHelper(t)
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", os.Args[0],
		"exec", "--dev", "--env", "T_K=demo/api-key", "--", h, "-orphans", "3", "-sleep", "400ms")
	cmd.Env = append(os.Environ(), "SECRETCACHE_TEST_RUN_MAIN=1")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 40 {
		t.Errorf("exit %d (%v), want 40 (no zombie); output %s", code, err, out)
	}
}
