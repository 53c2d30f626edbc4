package agent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
)

// waitOpen waits until the API listener has n connections open.
func (e *env) waitOpen(n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.a.conns.open() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("open connections %d, want %d", e.a.conns.open(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawGet sends one GET on c and reads the answer.
func rawGet(c net.Conn, br *bufio.Reader, path string, withToken bool) (int, string, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if withToken {
		req += tokHdr + "\r\n"
	}
	req += "\r\n"
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestMaxConn: max_conn counts requests in progress, as the AWS agent's
// limit is meant: with max_conn 1 and one request waiting on AWS, a second
// gets 429 and its connection is closed, health checks still pass, and once
// the first is answered others are served, on new connections or kept-alive
// ones alike.
func TestMaxConn(t *testing.T) {
	src := &countingSource{}
	e := newEnv(t, envOpt{
		cfg: func(c *Config) { c.MaxConn = 1 },
		source: func(srv *smtest.Server) secretcache.Source {
			src.inner = awsSource(t, srv)
			return src
		},
	})
	mustCreate(t, e.srv, "s", "v")
	mustCreate(t, e.srv, "slow", "w")
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Fatal(st)
	}
	gate := make(chan struct{})
	src.mu.Lock()
	src.gate = gate
	src.mu.Unlock()

	// a waits on the backend.
	a, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ar := bufio.NewReader(a)
	aDone := make(chan error, 1)
	go func() {
		st, body, err := rawGet(a, ar, "/v1/slow", true)
		if err == nil && st != 200 {
			err = fmt.Errorf("%d %q", st, body)
		}
		aDone <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.a.api.inFlight.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first request is not in progress")
		}
		time.Sleep(time.Millisecond)
	}

	b, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	br := bufio.NewReader(b)
	st, body, err := rawGet(b, br, "/v1/s", true)
	if err != nil || st != 429 || body != "Connection limit exceeded" {
		t.Fatalf("second request: %d %q %v, want 429", st, body, err)
	}
	// The 429 closes the connection.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after a 429 the connection is still open: %v", err)
	}

	// Health checks get two more.
	c, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cr := bufio.NewReader(c)
	if st, body, err := rawGet(c, cr, "/ping", false); err != nil || st != 200 || body != "healthy" {
		t.Errorf("ping over max_conn: %d %q %v", st, body, err)
	}

	close(gate)
	if err := <-aDone; err != nil {
		t.Fatalf("first request: %v", err)
	}
	// Nothing in progress: the kept-alive connections and new ones are served.
	if st, _, err := rawGet(a, ar, "/v1/s", true); err != nil || st != 200 {
		t.Errorf("first connection again: %d %v", st, err)
	}
	if st, body := e.get("/v1/s"); st != 200 {
		t.Errorf("new connection: %d %s", st, body)
	}
	if e.a.Status().Requests.Rejected != 1 {
		t.Errorf("status counts %d 429s, want 1", e.a.Status().Requests.Rejected)
	}
}

// TestThousandConnections opens 1,000 connections at once (default max_conn
// 800) and sends a request on each: every answer is 200 or 429 (429 only if
// more than 800 are in progress at once), and the agent keeps serving.
func TestThousandConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", `{"user":"app","password":"pw"}`)
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Fatal(st)
	}
	e.c.CloseIdleConnections()
	e.waitOpen(0)
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", e.a.Addr())
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	e.waitOpen(n)
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	var firstErr atomic.Value
	for i, c := range conns {
		wg.Go(func() {
			<-start
			path := "/v1/s"
			if i%2 == 1 {
				path = "/secretsmanager/get?secretId=s&field=password"
			}
			st, _, err := rawGet(c, bufio.NewReader(c), path, true)
			switch {
			case err != nil:
				firstErr.CompareAndSwap(nil, fmt.Sprint(err))
				other.Add(1)
			case st == 200:
				ok.Add(1)
			case st == 429:
				limited.Add(1)
			default:
				firstErr.CompareAndSwap(nil, fmt.Sprint("status ", st))
				other.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("1000 connections: %d OK, %d 429, %d other", ok.Load(), limited.Load(), other.Load())
	if other.Load() != 0 {
		t.Errorf("%d answers neither 200 nor 429 (first: %v)", other.Load(), firstErr.Load())
	}
	if ok.Load() < 200 {
		t.Errorf("%d requests served, want at least the 200 over max_conn", ok.Load())
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	e.waitOpen(0)
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Errorf("after the storm: %d", st)
	}
}
