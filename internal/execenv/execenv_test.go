//go:build unix

package execenv_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secretcache/secretcache/internal/execenv"
)

var helperBin string

func TestMain(m *testing.M) {
	// Re-executed inside a new PID namespace, the test binary is the
	// supervisor: PID 1, with the helper as its child.
	if os.Getenv("EXECENV_SUPERVISE") == "1" {
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		s, err := execenv.New(os.Args[1], os.Args[1:], os.Environ(), execenv.WithReaper(os.Getenv("EXECENV_REAP") != "0"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		code, err := s.Run(context.Background(), nil, sigs)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "execenv-helper")
	if err != nil {
		panic(err)
	}
	helperBin = filepath.Join(dir, "helper")
	out, err := exec.Command("go", "build", "-o", helperBin, "./testdata/helper").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the helper: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeTimers hands every timer the supervisor asks for to the test, which
// fires it by hand.
type fakeTimers struct{ reqs chan timerReq }

type timerReq struct {
	d time.Duration
	c chan time.Time
}

func newFakeTimers() *fakeTimers { return &fakeTimers{reqs: make(chan timerReq, 16)} }

func (f *fakeTimers) after(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.reqs <- timerReq{d, c}
	return c
}

func (f *fakeTimers) next(t *testing.T) timerReq {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no timer asked for in 10s")
		return timerReq{}
	}
}

func (f *fakeTimers) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case r := <-f.reqs:
		t.Fatalf("unexpected timer of %v", r.d)
	case <-time.After(within):
	}
}

type run struct {
	s       *execenv.Supervisor
	log     string
	changes chan []string
	sigs    chan os.Signal
	cancel  context.CancelFunc
	done    chan result
	logs    *lockedWriter
}

type result struct {
	code int
	err  error
}

// start runs the helper under a supervisor with env and the helper flags.
func start(t *testing.T, env []string, helperArgs []string, opts ...execenv.Option) *run {
	t.Helper()
	r := &run{log: filepath.Join(t.TempDir(), "events"), changes: make(chan []string), sigs: make(chan os.Signal, 1),
		done: make(chan result, 1), logs: &lockedWriter{b: &bytes.Buffer{}}}
	args := append([]string{"helper", "-log", r.log}, helperArgs...)
	opts = append([]execenv.Option{execenv.WithStdio(nil, nil, nil),
		execenv.WithLogger(slog.New(slog.NewTextHandler(r.logs, nil)))}, opts...)
	s, err := execenv.New(helperBin, args, env, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		code, err := s.Run(ctx, r.changes, r.sigs)
		r.done <- result{code, err}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("the supervisor did not end")
		}
	})
	return r
}

// wait waits until the helper's event log has n lines containing substr
// and returns the log.
func (r *run) wait(t *testing.T, substr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(r.log)
		if strings.Count(string(b), substr) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d lines with %q in the helper's log:\n%s", n, substr, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *run) result(t *testing.T) result {
	t.Helper()
	select {
	case res := <-r.done:
		r.done <- res
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return result{}
	}
}

func TestChildSeesEnvironmentAndExitCode(t *testing.T) {
	r := start(t, []string{"T_DB=pw1", "T_KEY=k", "OTHER=x"}, []string{"-exit", "3"})
	res := r.result(t)
	if res.code != 3 || res.err != nil {
		t.Fatalf("Run = %d, %v; want 3, nil", res.code, res.err)
	}
	log := r.wait(t, "start", 1)
	if !strings.Contains(log, "env=T_DB=pw1,T_KEY=k\n") {
		t.Errorf("helper saw %q", log)
	}
	if !strings.Contains(log, "pid=") || strings.Contains(log, "pgid=1\n") {
		t.Errorf("log %q", log)
	}
}

func TestRestartOnlyOnRealChange(t *testing.T) {
	ft := newFakeTimers()
	r := start(t, []string{"T_A=1", "T_B=2"}, nil,
		execenv.WithDebounce(2*time.Second), execenv.WithSplay(time.Minute),
		execenv.WithTimers(ft.after, func(n int64) int64 {
			if n != int64(time.Minute) {
				t.Errorf("splay drawn in [0, %v)", time.Duration(n))
			}
			return int64(7 * time.Second)
		}))
	r.wait(t, "start", 1)
	// The same environment in another order: nothing.
	r.changes <- []string{"T_B=2", "T_A=1"}
	ft.none(t, 100*time.Millisecond)
	// Three changes in a row: each starts the debounce again; only the
	// last timer acts, with the last environment.
	r.changes <- []string{"T_A=1", "T_B=3"}
	first := ft.next(t)
	r.changes <- []string{"T_A=1", "T_B=4"}
	second := ft.next(t)
	r.changes <- []string{"T_A=1", "T_B=5"}
	last := ft.next(t)
	// Polls that find the same pending environment do not restart the
	// wait (else a splay longer than the poll would never end).
	r.changes <- []string{"T_B=5", "T_A=1"}
	r.changes <- []string{"T_A=1", "T_B=5"}
	ft.none(t, 100*time.Millisecond)
	for _, tr := range []timerReq{first, second, last} {
		if tr.d != 9*time.Second {
			t.Errorf("waits %v; want debounce 2s + splay 7s", tr.d)
		}
	}
	first.c <- time.Now()
	second.c <- time.Now()
	ft.none(t, 100*time.Millisecond)
	if got := r.s.ChangeSignals(); got != 0 {
		t.Fatalf("stale timers sent %d signals", got)
	}
	last.c <- time.Now()
	kill := ft.next(t) // the kill timeout, never fired: the helper exits on SIGTERM
	if kill.d != 10*time.Second {
		t.Errorf("kill timeout %v; want the 10s default", kill.d)
	}
	log := r.wait(t, "start", 2)
	if !strings.Contains(log, "signal terminated") || !strings.HasSuffix(log, "env=T_A=1,T_B=5\n") {
		t.Errorf("helper log:\n%s", log)
	}
	if got := r.s.Restarts(); got != 1 {
		t.Errorf("Restarts = %d; want 1", got)
	}
	// A change back and forth before the timer fires restarts nothing.
	r.changes <- []string{"T_A=1", "T_B=6"}
	pendingTimer := ft.next(t)
	r.changes <- []string{"T_B=5", "T_A=1"}
	pendingTimer.c <- time.Now()
	ft.none(t, 100*time.Millisecond)
	if got := r.s.Restarts(); got != 1 {
		t.Errorf("Restarts = %d after a reverted change; want 1", got)
	}
	// The values are the single digits 5 and 6 (a pid such as 6075 is not one).
	if regexp.MustCompile(`=[56]([^0-9]|$)`).MatchString(r.logs.String()) {
		t.Errorf("a value in the log:\n%s", r.logs)
	}
	if !strings.Contains(r.logs.String(), "variables=[T_B]") {
		t.Errorf("the log does not name the changed variable:\n%s", r.logs)
	}
}

func TestKillTimeoutThenSIGKILL(t *testing.T) {
	ft := newFakeTimers()
	r := start(t, []string{"T_A=1"}, []string{"-ignore-term"},
		execenv.WithDebounce(0), execenv.WithKillTimeout(3*time.Second), execenv.WithTimers(ft.after, nil))
	r.wait(t, "start", 1)
	r.changes <- []string{"T_A=2"}
	ft.next(t).c <- time.Now()
	kill := ft.next(t)
	if kill.d != 3*time.Second {
		t.Errorf("kill timeout %v", kill.d)
	}
	r.wait(t, "signal terminated", 1) // ignored by the helper
	kill.c <- time.Now()
	log := r.wait(t, "start", 2)
	if !strings.HasSuffix(log, "env=T_A=2\n") || r.s.Restarts() != 1 {
		t.Errorf("after SIGKILL: restarts %d, log:\n%s", r.s.Restarts(), log)
	}
	// ctx ends: SIGTERM (ignored), then SIGKILL after the kill timeout; the
	// code is 128+9, as a shell reports it.
	r.cancel()
	ft.next(t).c <- time.Now()
	if res := r.result(t); res.code != 137 {
		t.Errorf("code after SIGKILL %d; want 137", res.code)
	}
}

func TestSignalOnlyMode(t *testing.T) {
	ft := newFakeTimers()
	r := start(t, []string{"T_A=1"}, nil, execenv.WithMode(execenv.SignalOnly), execenv.WithSignal(syscall.SIGHUP),
		execenv.WithDebounce(0), execenv.WithTimers(ft.after, nil))
	r.wait(t, "start", 1)
	r.changes <- []string{"T_A=2"}
	ft.next(t).c <- time.Now()
	r.wait(t, "signal hangup", 1)
	// The same new environment again: already signalled, nothing.
	r.changes <- []string{"T_A=2"}
	ft.none(t, 100*time.Millisecond)
	if r.s.Restarts() != 0 || r.s.ChangeSignals() != 1 {
		t.Errorf("restarts %d, signals %d; want 0, 1", r.s.Restarts(), r.s.ChangeSignals())
	}
}

func TestForwardsSignals(t *testing.T) {
	r := start(t, nil, nil)
	r.wait(t, "start", 1)
	r.sigs <- syscall.SIGHUP
	r.wait(t, "signal hangup", 1)
	r.sigs <- syscall.SIGUSR1 // the helper exits 7 on it
	if res := r.result(t); res.code != 7 || res.err != nil {
		t.Errorf("Run = %d, %v; want the child's 7", res.code, res.err)
	}
}

func TestStopSignalEndsRestarts(t *testing.T) {
	ft := newFakeTimers()
	r := start(t, []string{"T_A=1"}, []string{"-ignore-term"}, execenv.WithDebounce(0), execenv.WithTimers(ft.after, nil))
	r.wait(t, "start", 1)
	r.changes <- []string{"T_A=2"}
	pending := ft.next(t)
	r.sigs <- syscall.SIGTERM // forwarded, ignored by the helper; cancels the pending restart
	r.wait(t, "signal terminated", 1)
	pending.c <- time.Now()
	r.sigs <- syscall.SIGINT
	if res := r.result(t); res.code != 0 {
		t.Errorf("code %d", res.code)
	}
	if r.s.Restarts() != 0 || r.s.ChangeSignals() != 0 {
		t.Errorf("restarts %d signals %d after a stop signal", r.s.Restarts(), r.s.ChangeSignals())
	}
}

func TestStartFailure(t *testing.T) {
	s, err := execenv.New(filepath.Join(t.TempDir(), "nope"), []string{"nope"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.Run(context.Background(), nil, nil)
	if code != 127 || err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Run = %d, %v; want 127 and an error naming the program", code, err)
	}
	if _, err := s.Run(context.Background(), nil, nil); err == nil {
		t.Error("a second Run was accepted")
	}
}

func TestBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		path string
		args []string
		opt  execenv.Option
	}{
		"empty path":        {"", []string{"x"}, nil},
		"no args":           {"/bin/true", nil, nil},
		"nil option":        {"/bin/true", []string{"true"}, nil},
		"zero signal":       {"/bin/true", []string{"true"}, execenv.WithSignal(0)},
		"zero kill":         {"/bin/true", []string{"true"}, execenv.WithKillTimeout(0)},
		"negative debounce": {"/bin/true", []string{"true"}, execenv.WithDebounce(-1)},
		"negative splay":    {"/bin/true", []string{"true"}, execenv.WithSplay(-1)},
		"bad mode":          {"/bin/true", []string{"true"}, execenv.WithMode(9)},
		"nil logger":        {"/bin/true", []string{"true"}, execenv.WithLogger(nil)},
	} {
		opts := []execenv.Option{tc.opt}
		if _, err := execenv.New(tc.path, tc.args, nil, opts...); err == nil || !strings.HasPrefix(err.Error(), "execenv: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// As PID 1 of a new PID namespace the supervisor reaps the orphans the
// kernel re-parents to it, and still reports its child's own exit code.
// The helper leaves 3 orphans, waits, counts zombies Z and exits 40+Z.
func TestReapsZombiesAsPID1(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: needs root and unshare (euid %d, %v)", os.Geteuid(), err)
		}
		t.Skip("needs root and unshare")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reap string
		want int
	}{{"1", 40}, {"0", 43}} {
		cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", self, helperBin, "-orphans", "3", "-sleep", "400ms")
		cmd.Env = append(os.Environ(), "EXECENV_SUPERVISE=1", "EXECENV_REAP="+tc.reap)
		out, err := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if code != tc.want {
			t.Errorf("reaper %s: exit %d (%v), want %d; output %s", tc.reap, code, err, tc.want, out)
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A restart leaves nothing of the old program's group running on the old
// values: a worker that ignores SIGTERM is killed once the program exits.
func TestRestartKillsTheOldGroup(t *testing.T) {
	ft := newFakeTimers()
	r := start(t, []string{"T_A=1"}, []string{"-straggler"}, execenv.WithDebounce(0), execenv.WithTimers(ft.after, nil))
	log := r.wait(t, "start", 1)
	var pid int
	for _, line := range strings.Split(log, "\n") {
		if _, err := fmt.Sscanf(line, "straggler pid=%d", &pid); err == nil {
			break
		}
	}
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("no straggler running (log %q)", log)
	}
	r.changes <- []string{"T_A=2"}
	ft.next(t).c <- time.Now() // the debounce
	ft.next(t)                 // the kill timeout, never fired: the program exits on SIGTERM
	r.wait(t, "start", 2)
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the old program's worker %d still runs after the restart", pid)
		}
	}
}
