// Command agentbench measures the agent's throughput from outside, as a
// user would: wrk against "secretcache agent --dev" and against a bare
// net/http server (./bareserver: token check, the same body bytes, no
// timeouts, no middleware), alternated round by round in one run on the
// same machine, so that the ratio agent/bare survives a noisy machine.
//
//	go run ./internal/cmd/agentbench                   # 6 rounds x 5 s, wrk -t1 -c32
//	go run ./internal/cmd/agentbench -before /tmp/old  # also an older secretcache binary
//	go run ./internal/cmd/agentbench -quick            # 1 round x 1 s (smoke test)
//
// It builds ./cmd/secretcache and ./internal/cmd/agentbench/bareserver
// into a temporary directory (or uses -agent and -bare), starts each on a
// random loopback port with a random token, reads demo/db through the agent
// and gives those bytes to the bare server, checks that both answer them
// and refuse a wrong token, warms each up for a second, then runs the
// rounds (the order of the servers flips every round) and prints each
// round's requests per second, p99 latency and server CPU time per request
// (user + system from /proc/PID/stat, at 10 ms resolution), the median
// ratio agent/bare of req/s and of CPU per request, and the median p99s.
// All traffic stays on 127.0.0.1.
//
// wrk must be on PATH (Debian: apt-get install wrk) or given with -wrk.
// Exit status: 0 done, 1 a failure (a build, a server that does not start,
// wrong bytes, non-2xx answers, wrk missing), 2 bad flags, 3 the median
// ratio is below -min-ratio.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const tokenHeader = "X-Aws-Parameters-Secrets-Token"

type settings struct {
	rounds, conns, threads int
	duration, warmup       time.Duration
	secret                 string
	agentBin, beforeBin    string
	bareBin, wrk           string
	minRatio               float64
}

func parseFlags(args []string, stderr io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("agentbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&s.rounds, "rounds", 6, "rounds; each runs wrk once against every server (1 to 100)")
	fs.DurationVar(&s.duration, "duration", 5*time.Second, "wrk `duration` of one run (1s to 10m, whole seconds)")
	fs.IntVar(&s.conns, "connections", 32, "wrk connections (1 to 10000)")
	fs.IntVar(&s.threads, "threads", 1, "wrk threads (1 to connections)")
	fs.StringVar(&s.secret, "secret", "demo/db", "secret `id` read (one of the --dev demo secrets)")
	fs.StringVar(&s.agentBin, "agent", "", "secretcache `binary` to measure (default: build ./cmd/secretcache)")
	fs.StringVar(&s.beforeBin, "before", "", "an older secretcache `binary`, measured in the same rounds")
	fs.StringVar(&s.bareBin, "bare", "", "reference server `binary` (default: build ./internal/cmd/agentbench/bareserver)")
	fs.StringVar(&s.wrk, "wrk", "wrk", "wrk `command`")
	fs.Float64Var(&s.minRatio, "min-ratio", 0, "exit 3 when the median agent/bare ratio is below this")
	quick := fs.Bool("quick", false, "1 round of 1 s, a short warm-up (a smoke test, not a measurement)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	s.warmup = time.Second
	if *quick {
		s.rounds, s.duration, s.warmup = 1, time.Second, 0
	}
	switch {
	case s.rounds < 1 || s.rounds > 100:
		return s, errors.New("-rounds must be from 1 to 100")
	case s.duration < time.Second || s.duration > 10*time.Minute || s.duration%time.Second != 0:
		return s, errors.New("-duration must be whole seconds from 1s to 10m")
	case s.conns < 1 || s.conns > 10000:
		return s, errors.New("-connections must be from 1 to 10000")
	case s.threads < 1 || s.threads > s.conns:
		return s, errors.New("-threads must be from 1 to -connections")
	case s.secret == "" || strings.ContainsAny(s.secret, " &?#%\x00"):
		return s, errors.New("-secret must be a plain secret name")
	case s.minRatio < 0 || s.minRatio > 10:
		return s, errors.New("-min-ratio must be from 0 to 10")
	}
	return s, nil
}

// server is one process under test.
type server struct {
	name string
	url  string // the request wrk sends
	cmd  *exec.Cmd
	logs *tailBuffer
	done chan struct{}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	s, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "agentbench: %v\n", err)
		}
		return 2
	}
	if err := bench(ctx, s, stdout, stderr); err != nil {
		var low lowRatioError
		if errors.As(err, &low) {
			fmt.Fprintf(stderr, "agentbench: %v\n", err)
			return 3
		}
		fmt.Fprintf(stderr, "agentbench: %v\n", err)
		return 1
	}
	return 0
}

type lowRatioError struct{ median, min float64 }

func (e lowRatioError) Error() string {
	return fmt.Sprintf("median ratio %.3f is below -min-ratio %.3f", e.median, e.min)
}

func bench(ctx context.Context, s settings, stdout, stderr io.Writer) error {
	wrk, err := exec.LookPath(s.wrk)
	if err != nil {
		return fmt.Errorf("wrk not found (Debian: apt-get install wrk): %w", err)
	}
	dir, err := os.MkdirTemp("", "agentbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if s.agentBin == "" {
		s.agentBin = filepath.Join(dir, "secretcache")
		if err := build(ctx, s.agentBin, "github.com/secretcache/secretcache/cmd/secretcache"); err != nil {
			return err
		}
	}
	if s.bareBin == "" {
		s.bareBin = filepath.Join(dir, "bareserver")
		if err := build(ctx, s.bareBin, "github.com/secretcache/secretcache/internal/cmd/agentbench/bareserver"); err != nil {
			return err
		}
	}
	token := newToken()
	var servers []*server
	defer func() {
		for _, sv := range servers {
			sv.stop()
		}
	}()
	agent, err := startAgent(ctx, "agent", s.agentBin, token, s.secret)
	if err != nil {
		return err
	}
	servers = append(servers, agent)
	body, err := fetch(ctx, agent.url, token)
	if err != nil {
		return fmt.Errorf("agent: reading %s: %w", s.secret, err)
	}
	bodyFile := filepath.Join(dir, "body.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		return err
	}
	bare, err := startBare(ctx, s.bareBin, token, bodyFile, agent.url)
	if err != nil {
		return err
	}
	servers = append([]*server{bare}, servers...)
	if got, err := fetch(ctx, bare.url, token); err != nil || !bytes.Equal(got, body) {
		return fmt.Errorf("bare server: answer differs from the agent's (%d bytes against %d, %v)", len(got), len(body), err)
	}
	if s.beforeBin != "" {
		before, err := startAgent(ctx, "before", s.beforeBin, token, s.secret)
		if err != nil {
			return err
		}
		servers = append(servers, before)
		b, err := fetch(ctx, before.url, token)
		if err != nil {
			return fmt.Errorf("before: reading %s: %w", s.secret, err)
		}
		// Another emulator: the same value, other ARN suffix and version.
		if d := len(b) - len(body); d < -8 || d > 8 {
			return fmt.Errorf("before: a %d-byte answer, the agent's is %d bytes", len(b), len(body))
		}
	}
	for _, sv := range servers {
		if err := refusesBadToken(ctx, sv.url); err != nil {
			return fmt.Errorf("%s: %w", sv.name, err)
		}
	}
	fmt.Fprintf(stdout, "agentbench: wrk -t%d -c%d -d%s --latency, %d rounds; %s: %d-byte answer\n",
		s.threads, s.conns, s.duration, s.rounds, s.secret, len(body))
	fmt.Fprintf(stdout, "load average at start: %s\n", loadAvg())
	if s.warmup > 0 {
		for _, sv := range servers {
			if _, err := runWrk(ctx, wrk, s, s.warmup, sv.url, token); err != nil {
				return fmt.Errorf("%s: warm-up: %w", sv.name, err)
			}
		}
	}
	results := make([][]wrkResult, len(servers)) // [server][round]
	for round := range s.rounds {
		order := make([]int, len(servers))
		for i := range order {
			order[i] = i
		}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			cpu0 := cpuTime(servers[i].cmd.Process.Pid)
			r, err := runWrk(ctx, wrk, s, s.duration, servers[i].url, token)
			if err != nil {
				return fmt.Errorf("%s: round %d: %w", servers[i].name, round+1, err)
			}
			if cpu1 := cpuTime(servers[i].cmd.Process.Pid); cpu0 >= 0 && cpu1 > cpu0 && r.requests > 0 {
				r.cpuPerReq = (cpu1 - cpu0) / time.Duration(r.requests)
			}
			results[i] = append(results[i], r)
		}
	}
	for _, sv := range servers {
		select {
		case <-sv.done:
			return fmt.Errorf("%s exited during the run:\n%s", sv.name, sv.logs)
		default:
		}
	}
	median := report(stdout, servers, results)
	fmt.Fprintf(stdout, "load average at end: %s\n", loadAvg())
	if s.minRatio > 0 && median < s.minRatio {
		return lowRatioError{median, s.minRatio}
	}
	return nil
}

// report prints the rounds and the medians, and returns the median ratio
// of the agent (servers[1]) to the bare server (servers[0]).
func report(w io.Writer, servers []*server, results [][]wrkResult) float64 {
	var head strings.Builder
	head.WriteString("| round | bare req/s | bare p99 | bare CPU/req |")
	for _, sv := range servers[1:] {
		fmt.Fprintf(&head, " %s req/s | %s p99 | %s CPU/req | %s/bare |", sv.name, sv.name, sv.name, sv.name)
	}
	fmt.Fprintln(w, head.String())
	fmt.Fprintln(w, "|"+strings.Repeat("---|", 4+4*(len(servers)-1)))
	ratios := make([][]float64, len(servers))
	cpuRatios := make([][]float64, len(servers))
	p99s := make([][]float64, len(servers))
	cpus := make([][]float64, len(servers))
	for round := range results[0] {
		bare := results[0][round]
		fmt.Fprintf(w, "| %d | %.0f | %s | %s |", round+1, bare.rps, fmtLatency(bare.p99), fmtCPU(bare.cpuPerReq))
		p99s[0] = append(p99s[0], float64(bare.p99))
		cpus[0] = append(cpus[0], float64(bare.cpuPerReq))
		for i := 1; i < len(servers); i++ {
			r := results[i][round]
			ratio := r.rps / bare.rps
			ratios[i] = append(ratios[i], ratio)
			if r.cpuPerReq > 0 && bare.cpuPerReq > 0 {
				cpuRatios[i] = append(cpuRatios[i], float64(bare.cpuPerReq)/float64(r.cpuPerReq))
			}
			p99s[i] = append(p99s[i], float64(r.p99))
			cpus[i] = append(cpus[i], float64(r.cpuPerReq))
			fmt.Fprintf(w, " %.0f | %s | %s | %.3f |", r.rps, fmtLatency(r.p99), fmtCPU(r.cpuPerReq), ratio)
		}
		fmt.Fprintln(w)
	}
	var rps [][]float64
	for i := range servers {
		var v []float64
		for _, r := range results[i] {
			v = append(v, r.rps)
		}
		rps = append(rps, v)
	}
	fmt.Fprintf(w, "| **median** | **%.0f** | **%s** | **%s** |", medianOf(rps[0]), fmtLatency(time.Duration(medianOf(p99s[0]))),
		fmtCPU(time.Duration(medianOf(cpus[0]))))
	for i := 1; i < len(servers); i++ {
		fmt.Fprintf(w, " **%.0f** | **%s** | **%s** | **%.3f** |", medianOf(rps[i]), fmtLatency(time.Duration(medianOf(p99s[i]))),
			fmtCPU(time.Duration(medianOf(cpus[i]))), medianOf(ratios[i]))
	}
	fmt.Fprintln(w)
	for i := 1; i < len(servers); i++ {
		fmt.Fprintf(w, "median ratio %s/bare: %.3f (min %.3f, max %.3f)\n", servers[i].name,
			medianOf(ratios[i]), slices.Min(ratios[i]), slices.Max(ratios[i]))
		if len(cpuRatios[i]) > 0 {
			fmt.Fprintf(w, "median CPU-per-request ratio bare/%s: %.3f (min %.3f, max %.3f)\n", servers[i].name,
				medianOf(cpuRatios[i]), slices.Min(cpuRatios[i]), slices.Max(cpuRatios[i]))
		}
	}
	return medianOf(ratios[1])
}

func medianOf(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtLatency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6)
}

func fmtCPU(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/1e3)
}

// cpuTime returns the user and system CPU time of process pid so far, from
// /proc (in clock ticks of 10 ms), or -1 where there is no /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func build(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg.String())
	}
	return nil
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startAgent runs "BIN agent --dev" on random loopback ports and waits
// until it is ready.
func startAgent(ctx context.Context, name, bin, token, secret string) (*server, error) {
	sv, lines, err := start(ctx, name, bin, []string{"AWS_TOKEN=" + token},
		"agent", "--dev", "--listen-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	api, err := waitLine(lines, sv, "  API ", 30*time.Second)
	if err != nil {
		sv.stop()
		return nil, err
	}
	api = strings.TrimSpace(api)
	if !strings.HasPrefix(api, "http://127.0.0.1:") {
		sv.stop()
		return nil, fmt.Errorf("%s: API on %q, not on 127.0.0.1", name, api)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, err := get(ctx, api+"/ready", ""); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			sv.stop()
			return nil, fmt.Errorf("%s: not ready after 30 s:\n%s", name, sv.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sv.url = api + "/secretsmanager/get?secretId=" + secret
	return sv, nil
}

func startBare(ctx context.Context, bin, token, bodyFile, agentURL string) (*server, error) {
	sv, lines, err := start(ctx, "bare", bin, []string{"AWS_TOKEN=" + token}, "-body", bodyFile)
	if err != nil {
		return nil, err
	}
	base, err := waitLine(lines, sv, "listening ", 30*time.Second)
	if err != nil {
		sv.stop()
		return nil, err
	}
	_, path, _ := strings.Cut(strings.TrimPrefix(agentURL, "http://"), "/")
	sv.url = strings.TrimSpace(base) + "/" + path
	return sv, nil
}

// start runs bin with args, the environment plus env, and sends the lines
// of its stdout on the returned channel; stderr is kept for errors.
func start(ctx context.Context, name, bin string, env []string, args ...string) (*server, <-chan string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	sv := &server{name: name, cmd: cmd, logs: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stderr = sv.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody listens any more: keep draining
			}
		}
		close(lines)
		_ = cmd.Wait()
		close(sv.done)
	}()
	return sv, lines, nil
}

// waitLine returns the rest of the first stdout line that starts with prefix.
func waitLine(lines <-chan string, sv *server, prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", fmt.Errorf("%s exited before printing %q:\n%s", sv.name, prefix, sv.logs)
			}
			if rest, found := strings.CutPrefix(l, prefix); found {
				return rest, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s printed no %q line in %s:\n%s", sv.name, prefix, timeout, sv.logs)
		}
	}
}

func (sv *server) stop() {
	select {
	case <-sv.done:
		return
	default:
	}
	_ = sv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sv.done:
	case <-time.After(15 * time.Second):
		_ = sv.cmd.Process.Kill()
		<-sv.done
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(ctx context.Context, url, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set(tokenHeader, token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func fetch(ctx context.Context, url, token string) ([]byte, error) {
	code, b, err := get(ctx, url, token)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.200s", code, b)
	}
	return b, nil
}

func refusesBadToken(ctx context.Context, url string) error {
	code, _, err := get(ctx, url, "not-the-token")
	if err != nil {
		return err
	}
	if code != http.StatusForbidden {
		return fmt.Errorf("a wrong token got %d, want 403", code)
	}
	return nil
}

type wrkResult struct {
	rps       float64
	p99       time.Duration
	requests  int64
	cpuPerReq time.Duration // server CPU (user + system) per request; 0 if unknown
}

func runWrk(ctx context.Context, wrk string, s settings, d time.Duration, url, token string) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(s.threads), "-c", strconv.Itoa(s.conns),
		"-d", strconv.Itoa(int(d/time.Second))+"s", "--latency", "-H", tokenHeader+": "+token, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return parseWrk(string(out))
}

// parseWrk reads the requests per second and the 99th percentile latency
// of wrk's --latency output, and refuses a run with non-2xx answers or
// socket errors.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveP99 bool
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: bad Requests/sec %q", f[1])
			}
			r.rps = v
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: bad request count %q", f[0])
			}
			r.requests = n
		case len(f) == 2 && f[0] == "99%":
			d, err := parseLatency(f[1])
			if err != nil {
				return r, err
			}
			r.p99, haveP99 = d, true
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			return r, fmt.Errorf("wrk: %s", strings.TrimSpace(line))
		case strings.HasPrefix(strings.TrimSpace(line), "Socket errors:"):
			return r, fmt.Errorf("wrk: %s", strings.TrimSpace(line))
		}
	}
	if r.rps <= 0 || !haveP99 {
		return r, fmt.Errorf("wrk: no Requests/sec or 99%% latency in its output:\n%s", out)
	}
	return r, nil
}

// parseLatency reads wrk's latencies: 812.00us, 1.23ms, 2.01s, 1.00m.
func parseLatency(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				break
			}
			return time.Duration(math.Round(v * float64(u.unit))), nil
		}
	}
	return 0, fmt.Errorf("wrk: bad latency %q", s)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
