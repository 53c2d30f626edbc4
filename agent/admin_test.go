package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
)

func TestReadinessAfterPrefetch(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	e := newEnv(t, envOpt{
		cfg: func(c *Config) { c.Prefetch = []string{"a", "b", "missing"} },
		source: func(srv *smtest.Server) secretcache.Source {
			src.inner = awsSource(t, srv)
			return src
		},
	})
	mustCreate(t, e.srv, "a", "va")
	mustCreate(t, e.srv, "b", "vb")
	for _, get := range []func(string) (int, string){e.adminGet, func(p string) (int, string) {
		st, body, _ := e.do("GET", p)
		return st, body
	}} {
		if st, body := get("/ready"); st != 503 || body != "not ready" {
			t.Errorf("/ready during prefetch: %d %q", st, body)
		}
		if st, body := get("/ping"); st != 200 || body != "healthy" {
			t.Errorf("/ping during prefetch: %d %q", st, body)
		}
	}
	close(src.gate)
	e.waitReady()
	if st, body := e.adminGet("/ready"); st != 200 || body != "ready" {
		t.Errorf("/ready after prefetch: %d %q", st, body)
	}
	calls := e.srv.Calls("", "GetSecretValue")
	for _, id := range []string{"a", "b"} {
		if st, _ := e.get("/v1/" + id); st != 200 {
			t.Errorf("prefetched %s: %d", id, st)
		}
	}
	if n := e.srv.Calls("", "GetSecretValue"); n != calls {
		t.Errorf("prefetched secrets were fetched again: %d calls, was %d", n, calls)
	}
	st := e.a.Status().Prefetch
	if st.IDs != 3 || st.Fetched != 2 || st.Failed["missing"] != "not_found" || st.Attempts != 1 {
		t.Errorf("prefetch status %+v", st)
	}
}

func TestPrefetchRetriesTransientFailures(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.Prefetch = []string{"flaky"} }})
	mustCreate(t, e.srv, "flaky", "v")
	// Too late to fail the first round here, so drive Prefetch directly.
	e.waitReady()
	e.a.Cache().Clear()
	e.srv.SetFault("", "GetSecretValue", smtest.Fault{ErrorCode: "InternalServiceError", Count: 3})
	if err := e.a.Prefetch(context.Background()); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	if st := e.a.Status().Prefetch; st.Attempts != 2 || st.Fetched != 1 {
		t.Errorf("prefetch status %+v, want 2 rounds, 1 fetched", st)
	}
}

func TestPrefetchPrefix(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	for _, n := range []string{"app/a", "app/b", "app/c", "other/x"} {
		mustCreate(t, srv, n, "v-"+n)
	}
	e := newEnv(t, envOpt{
		cfg:  func(c *Config) { c.PrefetchPrefix = []string{"app/"}; c.Prefetch = []string{"other/x", "app/a"} },
		opts: []Option{WithAWSConfig(srv.AWSConfig(""))},
	})
	e.waitReady()
	if st := e.a.Status().Prefetch; st.IDs != 4 || st.Fetched != 4 || len(st.Failed) != 0 {
		t.Errorf("prefix prefetch: %+v", st)
	}
	if n := e.a.Cache().Stats().Entries; n != 4 {
		t.Errorf("%d entries cached, want 4", n)
	}
	if n := srv.Calls("", "BatchGetSecretValue"); n == 0 {
		t.Error("prefetch did not batch")
	}
}

func TestPrefetchPrefixNeedsLister(t *testing.T) {
	e := newEnv(t, envOpt{
		cfg:    func(c *Config) { c.PrefetchPrefix = []string{"app/"} },
		source: func(*smtest.Server) secretcache.Source { return namedSource{} },
	})
	e.waitReady()
	if st := e.a.Status().Prefetch; !strings.Contains(st.Error, "cannot list") {
		t.Errorf("prefix prefetch without a lister: %+v", st)
	}
}

// namedSource answers any id with a secret of that name.
type namedSource struct{}

func (namedSource) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	stage := ref.VersionStage
	if stage == "" {
		stage = "AWSCURRENT"
	}
	return &secretcache.Secret{Name: ref.ID, ARN: "arn:aws:secretsmanager:us-east-1:1:secret:" + ref.ID + "-abcdef",
		VersionID: "v-1", VersionStages: []string{stage}, String: "TOP-SECRET-VALUE",
		CreatedDate: time.Unix(1569534789, 46e6)}, nil
}

func TestStatusPage(t *testing.T) {
	e := newEnv(t, envOpt{source: func(*smtest.Server) secretcache.Source { return namedSource{} }})
	hostile := "<script>alert(1)</script>"
	for range 3 {
		if st, _ := e.get("/v1/" + hostile); st != 200 {
			t.Fatal(st)
		}
	}
	e.get("/v1/plain?versionStage=AWSPENDING")
	st, page := e.adminGet("/")
	if st != 200 {
		t.Fatal(st)
	}
	if strings.Contains(page, "TOP-SECRET-VALUE") {
		t.Error("the status page shows a secret value")
	}
	if strings.Contains(page, hostile) || !strings.Contains(page, "&lt;script&gt;") {
		t.Error("the status page does not escape secret names")
	}
	for _, want := range []string{"v-1", "AWSCURRENT", "AWSPENDING", "ready", "Cached secrets (2)"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if st, page2 := e.adminGet("/status"); st != 200 || !strings.Contains(page2, "Cached secrets") {
		t.Errorf("/status: %d", st)
	}

	st, js := e.adminGet("/status.json")
	if st != 200 || strings.Contains(js, "TOP-SECRET-VALUE") {
		t.Fatalf("/status.json: %d (or it shows a value)", st)
	}
	var s Status
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 2 {
		t.Fatalf("entries %+v", s.Entries)
	}
	for _, en := range s.Entries {
		switch en.ID {
		case hostile:
			if en.Misses != 1 || en.Hits != 2 || en.Version != "v-1" || en.VersionStage != "" {
				t.Errorf("entry %+v, want 1 miss 2 hits", en)
			}
		case "plain":
			if en.VersionStage != "AWSPENDING" || en.Misses != 1 {
				t.Errorf("entry %+v", en)
			}
		default:
			t.Errorf("unexpected entry %+v", en)
		}
	}
	if s.Requests.OK != 4 || !s.Ready || s.Stats.Hits != 2 {
		t.Errorf("status %+v", s)
	}
}

func TestAdminMethodsAndLimits(t *testing.T) {
	e := newEnv(t, envOpt{})
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		req, _ := http.NewRequest(m, e.admin+"/status", nil)
		resp, err := e.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("%s /status = %d", m, resp.StatusCode)
		}
	}
	if st, _ := e.adminGet("/status?x=" + strings.Repeat("y", MaxURLBytes)); st != 414 {
		t.Errorf("long admin URL: %d", st)
	}
	if st, _ := e.adminGet("/nope"); st != 404 {
		t.Errorf("unknown admin path: %d", st)
	}
}

func TestAdminOff(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.AdminAddr = "off" }})
	if e.a.AdminAddr() != "" {
		t.Errorf("admin listening at %s with admin_addr off", e.a.AdminAddr())
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	srv := smtest.NewServer()
	defer srv.Close()
	mustCreate(t, srv, "s", "v")
	src.inner = awsSource(t, srv)
	cfg := testConfig()
	a, err := New(context.Background(), cfg, WithToken(testToken), WithSource(src), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	base := "http://" + a.Addr()
	type result struct {
		st   int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := newReq(context.Background(), base+"/v1/s")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{st: resp.StatusCode, body: string(b)}
	}()
	for src.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel() // SIGTERM, in effect
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}
	// New connections are refused while draining.
	if _, err := http.Get(base + "/ping"); err == nil {
		t.Error("a new connection was accepted during the drain")
	}
	close(src.gate)
	r := <-res
	if r.err != nil || r.st != 200 || !strings.Contains(r.body, `"SecretString":"v"`) {
		t.Errorf("in-flight request: %d %q %v", r.st, r.body, r.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	if _, err := a.Cache().Get(context.Background(), "s"); err == nil {
		t.Error("the cache is still open after Serve returned")
	}
}

func TestListenErrors(t *testing.T) {
	e := newEnv(t, envOpt{})
	cfg := testConfig()
	cfg.ListenAddr = e.a.Addr() // taken
	a, err := New(context.Background(), cfg, WithToken(testToken), WithSource(namedSource{}), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), e.a.Addr()) {
		t.Errorf("Run on a taken port: %v", err)
	}
	cfg = testConfig()
	cfg.AdminAddr = e.a.AdminAddr()
	a, _ = New(context.Background(), cfg, WithToken(testToken), WithSource(namedSource{}), WithLogger(testLogger(t)))
	if err := a.Listen(); err == nil || !strings.Contains(err.Error(), "admin_addr") {
		t.Errorf("Listen on a taken admin port: %v", err)
	}
	a.Close()
}

func TestMonitoringEndpoints(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.Prefetch = []string{"m/one"} }})
	e.waitReady()
	mustCreate(t, e.srv, "m/two", "VALUE-TWO")
	for range 3 {
		e.get("/v1/m/two")
	}
	e.get("/v1/nope")
	e.do("GET", "/v1/m/two") // 403
	st, metrics := e.adminGet("/metrics")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	for _, want := range []string{
		`secretcache_reads_total{outcome="hit"} 2`,
		`secretcache_agent_requests_total{result="ok"} 3`,
		`secretcache_agent_requests_total{result="error"} 1`,
		`secretcache_agent_requests_total{result="bad_token"} 1`,
		`secretcache_agent_ready 1`,
		`secretcache_backend_call_duration_seconds_count{operation="GetSecretValue",outcome="success",region="us-east-1"}`,
		`secretcache_breaker_state{primary="true",region="us-east-1"} 0`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	st, health := e.adminGet("/health/secrets")
	var h map[string]any
	if err := json.Unmarshal([]byte(health), &h); err != nil || h["status"] == nil {
		t.Errorf("/health/secrets: %d %s", st, health)
	}
	if !strings.Contains(health, `"agent"`) || !strings.Contains(health, "still not cached") || st != 503 {
		t.Errorf("/health/secrets lacks the degraded agent component (failed prefetch of m/one): %d %s", st, health)
	}
	// Once the secret exists and is read, the agent component recovers.
	mustCreate(t, e.srv, "m/one", "v")
	if st, body := e.get("/v1/m/one?refreshNow=true"); st != 200 {
		t.Fatalf("m/one: %d %s", st, body)
	}
	if _, health := e.adminGet("/health/secrets"); strings.Contains(health, "still not cached") {
		t.Errorf("the agent component stays degraded after the secret was cached: %s", health)
	}
	if st, stats := e.adminGet("/secrets-cache-stats"); st != 200 || !strings.Contains(stats, "{") {
		t.Errorf("/secrets-cache-stats: %d %s", st, stats)
	}
	st, report := e.adminGet("/report")
	if st != 200 || !strings.Contains(report, "m/two") || !strings.Contains(report, "prefetch: 0 of 1") {
		t.Errorf("/report: %d %s", st, report)
	}
	for name, body := range map[string]string{"metrics": metrics, "health": health, "report": report} {
		if strings.Contains(body, "VALUE-TWO") {
			t.Errorf("%s shows a secret value", name)
		}
	}
	_, page := e.adminGet("/")
	if !strings.Contains(page, `href="/metrics"`) {
		t.Error("status page lacks the monitoring links")
	}
}

func TestAuditLog(t *testing.T) {
	var buf syncWriter
	e := newEnv(t, envOpt{
		cfg:  func(c *Config) { c.AuditLog = true },
		opts: []Option{WithLogger(slog.New(slog.NewJSONHandler(&buf, nil)))},
	})
	mustCreate(t, e.srv, "audited", "AUDIT-VALUE")
	e.get("/v1/audited")
	e.get("/v1/audited")
	logs := buf.String()
	if strings.Count(logs, `"audited"`) < 2 {
		t.Errorf("audit log lacks the reads: %s", logs)
	}
	if strings.Contains(logs, "AUDIT-VALUE") || strings.Contains(logs, testToken) {
		t.Error("the log shows a secret value or the token")
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// An admin listener beyond loopback (no token; secret names and metrics)
// is warned about as the API is.
func TestAdminBeyondLoopbackWarns(t *testing.T) {
	for _, tc := range []struct {
		admin string
		warn  bool
	}{{"0.0.0.0:0", true}, {"127.0.0.1:0", false}} {
		var buf syncWriter
		e := newEnv(t, envOpt{
			cfg:  func(c *Config) { c.AdminAddr = tc.admin },
			opts: []Option{WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))},
		})
		e.waitReady()
		logs := buf.String()
		if got := strings.Contains(logs, "admin listener listens beyond loopback"); got != tc.warn {
			t.Errorf("admin_addr %s: warning %v, want %v:\n%s", tc.admin, got, tc.warn, logs)
		}
		if strings.Contains(logs, "the API listens beyond loopback") {
			t.Errorf("API on loopback warned about:\n%s", logs)
		}
	}
}
