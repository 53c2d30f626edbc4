package agent

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
)

func errorType(t *testing.T, body string) (string, string) {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return m["__type"], m["message"]
}

func TestBackendErrorsPassThrough(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", "v")
	cases := []struct {
		code   string
		status int
	}{
		{"AccessDeniedException", 400},
		{"DecryptionFailure", 400},
		{"ThrottlingException", 400},
		{"InternalServiceError", 500},
		{"ResourceNotFoundException", 400},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			e.srv.SetFault("", "GetSecretValue", smtest.Fault{ErrorCode: c.code})
			defer e.srv.ClearFaults()
			e.a.Cache().Clear()
			st, body := e.get("/v1/s")
			typ, msg := errorType(t, body)
			if st != c.status || typ != c.code || msg == "" {
				t.Errorf("fault %s: %d %s, want %d with __type %s", c.code, st, body, c.status, c.code)
			}
			if !strings.Contains(body, `", "message":"`) {
				t.Errorf("error body %s lacks the AWS agent's layout", body)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("request timeout", func(t *testing.T) {
		e := newEnv(t, envOpt{cfg: func(c *Config) { c.RequestTimeoutSeconds = 1 }})
		mustCreate(t, e.srv, "slow", "v")
		e.srv.SetFault("", "GetSecretValue", smtest.Fault{Blackhole: true})
		start := time.Now()
		st, body := e.get("/v1/slow")
		if st != 504 || body != `{"__type":"TimeoutError", "message":"Timeout"}` {
			t.Errorf("blackholed backend: %d %s, want 504 TimeoutError", st, body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("answered after %v, want about 1s", d)
		}
	})
	t.Run("fetch timeout", func(t *testing.T) {
		e := newEnv(t, envOpt{cfg: func(c *Config) { c.FetchTimeoutMS = 200 }})
		mustCreate(t, e.srv, "slow", "v")
		e.srv.SetFault("", "GetSecretValue", smtest.Fault{Latency: 3 * time.Second})
		st, body := e.get("/v1/slow")
		if st != 504 {
			t.Errorf("slow backend: %d %s, want 504", st, body)
		}
	})
}

func TestConnectionErrors(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", "v")
	e.srv.SetFault("", "GetSecretValue", smtest.Fault{Reset: true})
	st, body := e.get("/v1/s")
	if typ, _ := errorType(t, body); st != 502 || typ != "ConnectionError" {
		t.Errorf("connection reset: %d %s, want 502 ConnectionError", st, body)
	}
	// The backend gone entirely.
	e.srv.ClearFaults()
	e.srv.Close()
	st, body = e.get("/v1/other")
	if typ, _ := errorType(t, body); st != 502 || typ != "ConnectionError" {
		t.Errorf("backend down: %d %s, want 502 ConnectionError", st, body)
	}
}

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTransientErrorsServeStale(t *testing.T) {
	for _, ignore := range []bool{true, false} {
		t.Run(map[bool]string{true: "ignore_transient_errors=true", false: "ignore_transient_errors=false"}[ignore], func(t *testing.T) {
			clk := &fakeClock{t: time.Now()}
			e := newEnv(t, envOpt{
				cfg:  func(c *Config) { c.IgnoreTransientErrors = ignore; c.TTLSeconds = 60 },
				opts: []Option{WithCacheOptions(secretcache.WithClock(clk), secretcache.WithBackoff(time.Millisecond, time.Millisecond))},
			})
			mustCreate(t, e.srv, "s", "cached")
			if st, _ := e.get("/v1/s"); st != 200 {
				t.Fatal(st)
			}
			e.srv.SetFault("", "GetSecretValue", smtest.Fault{ErrorCode: "InternalServiceError"})
			clk.Add(61 * time.Second) // expired
			st, body := e.get("/v1/s")
			if ignore {
				if st != 200 || !strings.Contains(body, `"SecretString":"cached"`) {
					t.Errorf("expired + AWS failing: %d %s, want the stale value", st, body)
				}
				// refreshNow during the outage also falls back to the cached value.
				if st, body := e.get("/v1/s?refreshNow=true"); st != 200 || !strings.Contains(body, "cached") {
					t.Errorf("refreshNow + AWS failing: %d %s, want the cached value", st, body)
				}
				// Past max_stale_seconds the error shows.
				clk.Add(time.Duration(DefaultConfig().MaxStaleSeconds+1) * time.Second)
				if st, _ := e.get("/v1/s"); st != 500 {
					t.Errorf("past max staleness: %d, want 500", st)
				}
			} else if st != 500 {
				t.Errorf("expired + AWS failing, stale off: %d %s, want 500", st, body)
			}
			// A permanent error is never hidden by a stale value.
			e.srv.SetFault("", "GetSecretValue", smtest.Fault{ErrorCode: "AccessDeniedException"})
			clk.Add(time.Hour)
			if st, body := e.get("/v1/s"); st != 400 || !strings.Contains(body, "AccessDeniedException") {
				t.Errorf("access revoked: %d %s", st, body)
			}
		})
	}
}

func TestRefreshNowDuringOutageWithoutCache(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.srv.SetFault("", "GetSecretValue", smtest.Fault{ErrorCode: "ThrottlingException"})
	st, body := e.get("/v1/never-cached?refreshNow=true")
	if typ, _ := errorType(t, body); st != 400 || typ != "ThrottlingException" {
		t.Errorf("refreshNow, nothing cached, throttled: %d %s", st, body)
	}
}

func TestRefreshAheadKeepsServing(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	e := newEnv(t, envOpt{
		cfg:  func(c *Config) { c.TTLSeconds = 100; c.RefreshAhead = 0.5 },
		opts: []Option{WithCacheOptions(secretcache.WithClock(clk), secretcache.WithBatchWindow(0))},
	})
	mustCreate(t, e.srv, "s", "v1")
	e.get("/v1/s")
	if _, err := e.srv.PutSecretValue("", "s", "v2"); err != nil {
		t.Fatal(err)
	}
	clk.Add(60 * time.Second) // inside the refresh-ahead window
	st, body := e.get("/v1/s")
	if st != 200 || !strings.Contains(body, `"v1"`) {
		t.Fatalf("refresh-ahead read: %d %s, want the cached v1 at once", st, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = e.get("/v1/s")
		if strings.Contains(body, `"v2"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background refresh never stored v2: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientGoneDoesNotBreakCoalescedFetch(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	e := newEnv(t, envOpt{source: func(srv *smtest.Server) secretcache.Source {
		src.inner = awsSource(t, srv)
		return src
	}})
	mustCreate(t, e.srv, "s", "v")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := newReq(ctx, e.base+"/v1/s")
	if _, err := e.c.Do(req); err == nil {
		t.Fatal("expected the client to give up")
	}
	close(src.gate)
	if st, body := e.get("/v1/s"); st != 200 {
		t.Errorf("after an abandoned request: %d %s", st, body)
	}
}
