package agent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/smtest"
)

// dialMany opens n connections to addr and closes them at the end of the test.
func dialMany(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	return conns
}

// timedGet reads path on a new connection and fails the test unless it is
// answered 200 within limit.
func (e *env) timedGet(path string, limit time.Duration) {
	e.t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", e.base+path, nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	start := time.Now()
	resp, err := c.Do(req)
	took := time.Since(start)
	if err != nil {
		e.t.Fatalf("GET %s: %v after %s", path, err, took)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || took > limit {
		e.t.Fatalf("GET %s = %d %q after %s, want 200 within %s", path, resp.StatusCode, clip.String(string(b), 100), took, limit)
	}
	e.t.Logf("GET %s answered 200 in %s", path, took)
}

// TestSlowHeadersHoldNoSlot: 900 clients that never finish their headers
// (slowloris), against max_conn 800, do not keep a normal client out.
func TestSlowHeadersHoldNoSlot(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", "v")
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Fatal(st)
	}
	e.c.CloseIdleConnections()
	conns := dialMany(t, e.a.Addr(), 900)
	for i, c := range conns {
		if _, err := io.WriteString(c, "GET /v1/s HTTP/1.1\r\nHost: 127.0.0.1\r\n"+tokHdr+"\r\n"); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
	}
	e.waitOpen(900)
	e.timedGet("/v1/s", time.Second)
	e.timedGet("/ping", time.Second)
}

// TestIdleConnectionsHoldNoSlot: 800 kept-alive connections that went idle
// (max_conn 800) do not keep a new client out; the oldest idle connection
// is closed to make room.
func TestIdleConnectionsHoldNoSlot(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", "v")
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Fatal(st)
	}
	e.c.CloseIdleConnections()
	e.waitOpen(0)
	conns := dialMany(t, e.a.Addr(), 800)
	readers := make([]*bufio.Reader, len(conns))
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i, c := range conns {
		readers[i] = bufio.NewReader(c)
		wg.Go(func() {
			if st, body, err := rawGet(c, readers[i], "/v1/s", true); err != nil || st != 200 {
				errs <- fmt.Errorf("idle conn %d: %d %q %v", i, st, body, err)
			}
		})
		if i == 399 {
			wg.Wait() // the first half is older
			e.waitTick()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.waitOpen(800)
	e.timedGet("/v1/s", time.Second)
	// One of the older half was closed to keep max_conn connections open.
	closed := -1
	deadline := time.Now().Add(5 * time.Second)
	for closed < 0 && time.Now().Before(deadline) {
		for i, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := readers[i].Peek(1); err == io.EOF {
				closed = i
				break
			}
		}
	}
	if closed < 0 || closed >= 400 {
		t.Errorf("closed idle connection %d, want one of the 400 oldest", closed)
	}
}

// shortTimeouts makes the tracker's bounds short enough for tests.
func shortTimeouts(a *Agent) {
	a.conns.tick = 20 * time.Millisecond
	a.conns.headerTimeout = 300 * time.Millisecond
	a.conns.idleTimeout = 600 * time.Millisecond
	a.conns.reqTimeout = 500 * time.Millisecond
}

// waitClosed waits until the server closes c, and fails after limit.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still open after %s", what, limit)
		}
		return time.Since(start)
	}
}

func TestHeaderTimeout(t *testing.T) {
	e := newEnv(t, envOpt{tune: shortTimeouts})
	mustCreate(t, e.srv, "s", "v")
	// Connected, nothing sent.
	silent := dialMany(t, e.a.Addr(), 1)[0]
	// Headers begun, never finished.
	slow := dialMany(t, e.a.Addr(), 1)[0]
	if _, err := io.WriteString(slow, "GET /v1/s HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	// Kept alive after a request, then a second request begun and stalled.
	kept := dialMany(t, e.a.Addr(), 1)[0]
	if st, _, err := rawGet(kept, bufio.NewReader(kept), "/v1/s", true); err != nil || st != 200 {
		t.Fatal(st, err)
	}
	if _, err := io.WriteString(kept, "GET /v1/s HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn net.Conn
		what string
	}{{silent, "silent connection"}, {slow, "unfinished headers"}, {kept, "unfinished second request"}} {
		waitClosed(t, c.conn, 3*time.Second, c.what)
	}
	if n := e.a.conns.closed[closedHeaderTimeout].Load(); n != 3 {
		t.Errorf("%d connections closed for the header timeout, want 3", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, envOpt{tune: shortTimeouts})
	mustCreate(t, e.srv, "s", "v")
	c := dialMany(t, e.a.Addr(), 1)[0]
	br := bufio.NewReader(c)
	// Requests more often than the idle timeout keep it open.
	var last time.Time
	for range 4 {
		if st, _, err := rawGet(c, br, "/v1/s", true); err != nil || st != 200 {
			t.Fatal(st, err)
		}
		last = time.Now()
		time.Sleep(200 * time.Millisecond)
	}
	waitClosed(t, c, 3*time.Second, "idle connection")
	if idle := time.Since(last); idle < 500*time.Millisecond {
		t.Errorf("idle connection closed after %s idle, before the idle timeout of 600ms", idle)
	}
	if n := e.a.conns.closed[closedIdleTimeout].Load(); n != 1 {
		t.Errorf("%d connections closed for the idle timeout, want 1", n)
	}
}

// TestStuckRequestClosed: a request that outlives the tracker's bound (here
// one waiting on a backend that never answers) has its connection closed
// and its context cancelled, so it frees its max_conn slot.
func TestStuckRequestClosed(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	defer close(src.gate)
	e := newEnv(t, envOpt{
		tune: shortTimeouts,
		source: func(srv *smtest.Server) secretcache.Source {
			src.inner = awsSource(t, srv)
			return src
		},
	})
	mustCreate(t, e.srv, "s", "v")
	c := dialMany(t, e.a.Addr(), 1)[0]
	if _, err := io.WriteString(c, "GET /v1/s HTTP/1.1\r\nHost: 127.0.0.1\r\n"+tokHdr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c, 5*time.Second, "stuck request")
	if n := e.a.conns.closed[closedRequestTimeout].Load(); n != 1 {
		t.Errorf("%d connections closed for the request bound, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.a.api.inFlight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stuck request is still in progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHardConnectionLimit: past twice max_conn plus 64 connections, the
// oldest that have not sent a whole request are closed, and clients are
// still served.
func TestHardConnectionLimit(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.MaxConn = 8 }})
	mustCreate(t, e.srv, "s", "v")
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Fatal(st)
	}
	e.c.CloseIdleConnections()
	e.waitOpen(0)
	hard := e.a.conns.hard // 80
	old := dialMany(t, e.a.Addr(), 10)
	e.waitOpen(10)
	e.waitTick() // so that the clock separates them from the next ones
	dialMany(t, e.a.Addr(), hard)
	e.waitOpen(hard)
	for i, c := range old {
		waitClosed(t, c, 5*time.Second, fmt.Sprintf("old connection %d", i))
	}
	e.timedGet("/v1/s", time.Second)
	if n := e.a.conns.closed[closedOverHardLimit].Load(); n < 10 {
		t.Errorf("%d connections closed over the hard limit, want at least 10", n)
	}
}

// waitTick waits until the tracker's clock has moved.
func (e *env) waitTick() {
	e.t.Helper()
	start := e.a.conns.now.Load()
	deadline := time.Now().Add(10 * time.Second)
	for e.a.conns.now.Load() == start {
		if time.Now().After(deadline) {
			e.t.Fatal("the connection tracker's clock does not move")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBodyClosesConnection: a request carrying a body the client never
// finishes gets its answer at once and its connection closed, on both
// listeners; before, net/http held the connection waiting for the body,
// an open connection no limit counted.
func TestBodyClosesConnection(t *testing.T) {
	e := newEnv(t, envOpt{})
	for name, addr := range map[string]string{"API": e.a.Addr(), "admin": e.a.AdminAddr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer to a request with an unfinished body: %v", name, err)
		}
		if !resp.Close {
			t.Errorf("%s: %d without Connection: close", name, resp.StatusCode)
		}
		resp.Body.Close()
		waitClosed(t, c, 2*time.Second, name+" connection with an unfinished body")
	}
}

// TestIdleSweepSparesRequestUnderWay: a kept-alive connection whose next
// request has begun to arrive is not idle, so a newcomer over max_conn
// does not close it.
func TestIdleSweepSparesRequestUnderWay(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.MaxConn = 2 }})
	mustCreate(t, e.srv, "s", "v")
	e.c.CloseIdleConnections()
	e.waitOpen(0)
	c, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if st, _, err := rawGet(c, br, "/v1/s", true); st != 200 || err != nil {
		t.Fatal(st, err)
	}
	e.waitTick() // it has been idle longest
	if _, err := io.WriteString(c, "GET /v1/s HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tc := e.a.conns.find(c.LocalAddr().String()); tc == nil || tc.reqAt.Load() == 0; tc = e.a.conns.find(c.LocalAddr().String()) {
		if time.Now().After(deadline) {
			t.Fatal("the request's first bytes were not seen")
		}
		time.Sleep(2 * time.Millisecond)
	}
	others := dialMany(t, e.a.Addr(), 3) // over max_conn open
	_ = others
	e.waitOpen(4)
	if _, err := io.WriteString(c, tokHdr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request under way was cut: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("request under way: %d", resp.StatusCode)
	}
}

// find returns the tracked connection whose remote address is addr.
func (t *connTracker) find(addr string) *trackedConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		if c.RemoteAddr().String() == addr {
			return c
		}
	}
	return nil
}
