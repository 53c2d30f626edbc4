package agent

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/secretcache/secretcache/smtest"
)

// benchSecret is a typical database secret (the agent's answer is about
// 420 bytes).
const benchSecret = `{"engine":"postgres","host":"db.internal.example.com","port":5432,"username":"app_user","password":"Zq7#vR2!mK9$wX4@pL6","dbname":"app"}`

// startBenchAgent runs an agent on awssm and smtest with the secret cached.
func startBenchAgent(b *testing.B) (base string, body []byte) {
	b.Helper()
	srv := smtest.NewServer()
	b.Cleanup(srv.Close)
	if _, err := srv.CreateSecret("", "bench/db", benchSecret); err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	cfg.AdminAddr = "off"
	cfg.Prefetch = []string{"bench/db"}
	a, err := New(context.Background(), cfg, WithToken(testToken), WithAWSConfig(srv.AWSConfig("")),
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	for !a.Ready() {
		time.Sleep(time.Millisecond)
	}
	base = "http://" + a.Addr()
	req, _ := newReq(context.Background(), base+"/secretsmanager/get?secretId=bench/db")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("warm-up: %d %s", resp.StatusCode, body)
	}
	return base, body
}

// startBareServer runs a plain net/http server answering every request
// with body and the same headers as the agent: the reference.
func startBareServer(b *testing.B, body []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	n := strconv.Itoa(len(body))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = ctJSON
		h["Cache-Control"] = noStore
		h["Content-Length"] = []string{n}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func benchGet(b *testing.B, url string, wantLen int) {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
		buf := make([]byte, 4096)
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.ReadFull(resp.Body, buf)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || (wantLen >= 0 && n != wantLen) {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
}

// BenchmarkLoopback compares cached GETs of the agent with a bare net/http
// server that answers the same bytes, in the same run, over loopback with
// keep-alive connections. Throughput ratio = bare ns/op / agent ns/op.
func BenchmarkLoopback(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		_, body := startBenchAgent(b)
		bare := startBareServer(b, body)
		benchGet(b, bare+"/secretsmanager/get?secretId=bench/db", len(body))
	})
	b.Run("agent", func(b *testing.B) {
		base, body := startBenchAgent(b)
		benchGet(b, base+"/secretsmanager/get?secretId=bench/db", len(body))
	})
	b.Run("agent-path", func(b *testing.B) {
		base, body := startBenchAgent(b)
		benchGet(b, base+"/v1/bench/db", len(body))
	})
	b.Run("agent-field", func(b *testing.B) {
		base, _ := startBenchAgent(b)
		benchGet(b, base+"/v1/bench/db?field=password", -1)
	})
}

// BenchmarkHandler measures the agent's own work per cached request,
// without the network: token check, parsing, cache read, JSON.
func BenchmarkHandler(b *testing.B) {
	srv := smtest.NewServer()
	b.Cleanup(srv.Close)
	if _, err := srv.CreateSecret("", "bench/db", benchSecret); err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	a, err := New(context.Background(), cfg, WithToken(testToken), WithAWSConfig(srv.AWSConfig("")),
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	h := a.Handler()
	req, _ := http.NewRequest(http.MethodGet, "/secretsmanager/get?secretId=bench/db", nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	req.RequestURI = req.URL.RequestURI()
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != 200 {
		b.Fatalf("status %d", w.status)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkWrk drives the agent and the bare server with wrk (1 thread, 32
// connections, -wrk.seconds each), when wrk is installed, and reports
// requests per second. The load generator runs outside the process, so a
// CPU profile of this benchmark is the server's alone:
//
//	go test -run '^$' -bench 'Wrk/agent' -benchtime 1x -cpuprofile cpu.out ./agent
//
// internal/cmd/agentbench is the measurement of record (the built binary,
// rounds, medians); this one is for profiling.
func BenchmarkWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk not installed")
	}
	run := func(b *testing.B, url string) {
		b.ResetTimer()
		var rps float64
		cpu0 := cpuTime()
		for range b.N {
			out, err := exec.Command(wrk, "-t1", "-c32", "-d"+strconv.Itoa(*wrkSeconds)+"s",
				"-H", "X-Aws-Parameters-Secrets-Token: "+testToken, url).CombinedOutput()
			if err != nil {
				b.Fatalf("wrk: %v\n%s", err, out)
			}
			if bytes.Contains(out, []byte("Non-2xx")) {
				b.Fatalf("wrk: errors:\n%s", out)
			}
			_, after, _ := bytes.Cut(out, []byte("Requests/sec:"))
			f := bytes.Fields(after)
			if len(f) == 0 {
				b.Fatalf("wrk: no Requests/sec:\n%s", out)
			}
			v, err := strconv.ParseFloat(string(f[0]), 64)
			if err != nil {
				b.Fatal(err)
			}
			rps += v
		}
		b.ReportMetric(rps/float64(b.N), "req/s")
		// CPU the process spent per request: the server's cost, whatever
		// share of the machine it got.
		b.ReportMetric(float64(cpuTime()-cpu0)/1e3/(rps*float64(*wrkSeconds)), "cpu-µs/req")
	}
	b.Run("bare", func(b *testing.B) {
		_, body := startBenchAgent(b)
		run(b, startBareServer(b, body)+"/secretsmanager/get?secretId=bench/db")
	})
	b.Run("agent", func(b *testing.B) {
		base, _ := startBenchAgent(b)
		run(b, base+"/secretsmanager/get?secretId=bench/db")
	})
}

var wrkSeconds = flag.Int("wrk.seconds", 5, "seconds of each wrk run of BenchmarkWrk")

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
