package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

const testToken = "xyzzy-test-token"

// env is an agent serving in front of an smtest server.
type env struct {
	t     *testing.T
	srv   *smtest.Server
	a     *Agent
	base  string // http://api
	admin string // http://admin
	c     *http.Client
	done  chan error
}

type envOpt struct {
	cfg    func(*Config)
	opts   []Option
	source func(*smtest.Server) secretcache.Source
	tune   func(*Agent) // after New, before Serve
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.PrefetchJitterSeconds = 0
	cfg.ShutdownSeconds = 5
	return cfg
}

func newEnv(t *testing.T, eo envOpt) *env {
	t.Helper()
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	cfg := testConfig()
	if eo.cfg != nil {
		eo.cfg(&cfg)
	}
	opts := []Option{WithToken(testToken), WithLogger(testLogger(t))}
	if eo.source != nil {
		opts = append(opts, WithSource(eo.source(srv)))
	} else {
		opts = append(opts, defaultSource(srv)...)
	}
	opts = append(opts, eo.opts...)
	a, err := New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if eo.tune != nil {
		eo.tune(a)
	}
	if err := a.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, srv: srv, a: a, base: "http://" + a.Addr(), done: make(chan error, 1),
		c: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if a.AdminAddr() != "" {
		e.admin = "http://" + a.AdminAddr()
	}
	go func() { e.done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
		e.c.CloseIdleConnections()
	})
	return e
}

// defaultSource is the source tests use: awssm through the real SDK
// against smtest, as in production.
func defaultSource(srv *smtest.Server) []Option {
	return []Option{WithAWSConfig(srv.AWSConfig(""))}
}

// awsSource is an awssm source on srv, for tests that wrap it.
func awsSource(t testing.TB, srv *smtest.Server) secretcache.Source {
	t.Helper()
	src, err := awssm.New(srv.AWSConfig(""), awssm.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// do sends a request with the given headers ("Name: value" strings; the
// token header is added unless a header list is given explicitly with nil
// meaning "no headers at all").
func (e *env) do(method, path string, headers ...string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := e.c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) get(path string) (int, string) {
	e.t.Helper()
	st, body, _ := e.do("GET", path, "X-Aws-Parameters-Secrets-Token: "+testToken)
	return st, body
}

func (e *env) adminGet(path string) (int, string) {
	e.t.Helper()
	resp, err := e.c.Get(e.admin + path)
	if err != nil {
		e.t.Fatalf("admin GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !e.a.Ready() {
		if time.Now().After(deadline) {
			e.t.Fatal("agent not ready after 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countingSource counts fetches and can block them.
type countingSource struct {
	inner secretcache.Source
	mu    sync.Mutex
	n     int
	gate  chan struct{}
}

func (s *countingSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.mu.Lock()
	s.n++
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, secretcache.NewError(secretcache.ErrUnavailable, ref.ID, ctx.Err())
		}
	}
	return s.inner.Fetch(ctx, ref)
}

func (s *countingSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func newReq(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	return req, nil
}

// lockedBuf is a log sink that tests read while the agent writes.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
