package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache/smtest"
)

// fakeRuntime is a fake of the Lambda Extensions API.
type fakeRuntime struct {
	mu         sync.Mutex
	name       string
	nextCalls  int
	firstNext  time.Time
	shutdown   chan struct{}
	registered chan struct{}
	initError  string
}

func (f *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "POST" && r.URL.Path == "/2020-01-01/extension/register":
		f.mu.Lock()
		f.name = r.Header.Get("Lambda-Extension-Name")
		f.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", "ext-id-1")
		_, _ = w.Write([]byte(`{"functionName":"f","functionVersion":"$LATEST","handler":"h"}`))
		close(f.registered)
	case r.Method == "GET" && r.URL.Path == "/2020-01-01/extension/event/next":
		if r.Header.Get("Lambda-Extension-Identifier") != "ext-id-1" {
			http.Error(w, "bad id", http.StatusForbidden)
			return
		}
		f.mu.Lock()
		f.nextCalls++
		n := f.nextCalls
		if n == 1 {
			f.firstNext = time.Now()
		}
		f.mu.Unlock()
		if n == 1 {
			_, _ = w.Write([]byte(`{"eventType":"INVOKE","deadlineMs":1,"requestId":"r1"}`))
			return
		}
		select {
		case <-f.shutdown:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(`{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}`))
	case r.Method == "POST" && r.URL.Path == "/2020-01-01/extension/init/error":
		f.mu.Lock()
		f.initError = r.Header.Get("Lambda-Extension-Function-Error-Type")
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func TestLambdaExtension(t *testing.T) {
	// The secrets live in an emulator reached through AWS_ENDPOINT_URL, as
	// a real Lambda would reach Secrets Manager.
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "fn/db", "v"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	rt := &fakeRuntime{shutdown: make(chan struct{}), registered: make(chan struct{})}
	hs := httptest.NewServer(rt)
	defer hs.Close()
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":                 strings.TrimPrefix(hs.URL, "http://"),
		"AWS_SESSION_TOKEN":                      "lambda-session-token",
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "1",
		"SECRETS_MANAGER_TTL":                    "60",
	}
	var out, errb syncBuffer
	done := make(chan int, 1)
	start := time.Now()
	c := &cli{stdout: &out, stderr: &errb, argv0: "/opt/extensions/my-secrets-ext",
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	go func() {
		done <- c.run(context.Background(), []string{"agent", "--port", "0", "--admin-addr", "off", "--prefetch", "fn/db"})
	}()
	select {
	case <-rt.registered:
	case code := <-done:
		t.Fatalf("exited %d before registering: %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no registration: %s", errb.String())
	}
	var name string
	var calls int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rt.mu.Lock()
		name, calls = rt.name, rt.nextCalls
		rt.mu.Unlock()
		if calls >= 2 {
			break
		}
	}
	if name != "my-secrets-ext" {
		t.Errorf("registered as %q, want the executable's name", name)
	}
	if calls != 2 {
		t.Errorf("%d next calls after ready, want 2 (INVOKE, then waiting)", calls)
	}
	if !strings.Contains(errb.String(), "prefetch done") {
		t.Errorf("next was called before the prefetch finished: %s", errb.String())
	}
	close(rt.shutdown)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after SHUTDOWN: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running after SHUTDOWN")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("took %v", d)
	}

	// A failure to start after registering is reported to Lambda.
	rt2 := &fakeRuntime{shutdown: make(chan struct{}), registered: make(chan struct{})}
	hs2 := httptest.NewServer(rt2)
	defer hs2.Close()
	env["AWS_LAMBDA_RUNTIME_API"] = strings.TrimPrefix(hs2.URL, "http://")
	if code, _, errOut := runCLI(context.Background(), env, "agent", "--listen-addr", "192.0.2.1:2773", "--admin-addr", "off"); code != exitError {
		t.Errorf("unbindable address: %d %q", code, errOut)
	}
	rt2.mu.Lock()
	if rt2.initError != "Extension.InitError" {
		t.Errorf("init error not reported: %q", rt2.initError)
	}
	rt2.mu.Unlock()

	// A runtime API that refuses registration stops the agent with an error.
	env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:1"
	if code, _, errOut := runCLI(context.Background(), env, "agent", "--port", "0", "--admin-addr", "off"); code != exitError || !strings.Contains(errOut, "register") {
		t.Errorf("unreachable runtime API: %d %q", code, errOut)
	}
}
