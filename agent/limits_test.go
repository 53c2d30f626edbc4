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
)

func (e *env) waitConns(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.a.api.conns.Load() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("open connections %d, want %d", e.a.api.conns.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawGet sends one GET on c and reads the answer.
func rawGet(c net.Conn, br *bufio.Reader, path string, withToken bool) (int, string, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: agent\r\n"
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

func TestMaxConn(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.MaxConn = 1 }})
	mustCreate(t, e.srv, "s", "v")
	e.c.Transport.(*http.Transport).DisableKeepAlives = true

	a, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ar := bufio.NewReader(a)
	if st, body, err := rawGet(a, ar, "/v1/s", true); err != nil || st != 200 {
		t.Fatalf("first connection: %d %s %v", st, body, err)
	}
	e.waitConns(1)

	b, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e.waitConns(2)
	st, body, err := rawGet(b, bufio.NewReader(b), "/v1/s", true)
	if err != nil || st != 429 || body != "Connection limit exceeded" {
		t.Fatalf("second connection: %d %q %v, want 429", st, body, err)
	}
	// The 429 closes the connection, freeing its slot.
	e.waitConns(1)

	// Health checks get two extra connections.
	c, err := net.Dial("tcp", e.a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, body, err := rawGet(c, bufio.NewReader(c), "/ping", false); err != nil || st != 200 || body != "healthy" {
		t.Errorf("ping over max_conn: %d %q %v", st, body, err)
	}

	// The first connection still works, and once it is closed others do.
	if st, _, err := rawGet(a, ar, "/v1/s", true); err != nil || st != 429 && st != 200 {
		t.Errorf("first connection again: %d %v", st, err)
	}
	a.Close()
	c.Close()
	e.waitConns(0)
	if st, body := e.get("/v1/s"); st != 200 {
		t.Errorf("after closing: %d %s", st, body)
	}
	if e.a.Status().Requests.Rejected == 0 {
		t.Error("status does not count the 429")
	}
}

// TestThousandConnections opens 1,000 connections at once (default max_conn
// 800) and sends a request on each: every answer is 200 or 429, and the
// agent keeps serving.
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
	e.waitConns(0)
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
	e.waitConns(n)
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
	if limited.Load() == 0 {
		t.Error("no 429 with 1000 connections over max_conn 800")
	}
	if ok.Load() < 1 {
		t.Error("no request served")
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	e.waitConns(0)
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Errorf("after the storm: %d", st)
	}
}
