package httpsecret_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/httpsecret"
)

// keySource serves one secret whose value the test changes.
type keySource struct {
	mu      sync.Mutex
	value   string
	version int
	calls   atomic.Int64
}

func (k *keySource) set(v string) {
	k.mu.Lock()
	k.value, k.version = v, k.version+1
	k.mu.Unlock()
}

func (k *keySource) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	k.calls.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprint(k.version), String: k.value}, nil
}

// api accepts one key at a time, in the header it is told, and echoes the
// request body.
type api struct {
	mu       sync.Mutex
	header   string
	prefix   string
	key      string
	requests atomic.Int64
	hits     atomic.Int64 // requests that carried the header at all
}

func (a *api) accept(key string) { a.mu.Lock(); a.key = key; a.mu.Unlock() }

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	got := r.Header.Get(a.header)
	if got != "" {
		a.hits.Add(1)
	}
	a.mu.Lock()
	want := a.prefix + a.key
	a.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "unauthorized")
		return
	}
	body, _ := io.ReadAll(r.Body)
	_, _ = w.Write(body)
}

func setup(t *testing.T, header, prefix string, opts ...httpsecret.Option) (*keySource, *api, *httptest.Server, *httpsecret.Transport, *secretcache.Cache) {
	t.Helper()
	src := &keySource{}
	src.set("key-1")
	c, err := secretcache.New(src, secretcache.WithTTL(time.Hour), secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	a := &api{header: header, prefix: prefix, key: "key-1"}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	tr, err := httpsecret.New(c, "prod/api-key/svc", append([]httpsecret.Option{httpsecret.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "prod/api-key/svc"); err != nil { // warm
		t.Fatal(err)
	}
	return src, a, srv, tr, c
}

func do(t *testing.T, cl *http.Client, method, url, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBearerAndRetryAfterRotation(t *testing.T) {
	src, a, srv, tr, _ := setup(t, "Authorization", "Bearer ")
	cl := tr.Client()
	if code, _ := do(t, cl, "GET", srv.URL, ""); code != 200 {
		t.Fatal(code)
	}
	// The key rotates; the API takes only the new one; the cache still has
	// the old one (1 h TTL).
	src.set("key-2")
	a.accept("key-2")
	code, body := do(t, cl, "POST", srv.URL, "payload")
	if code != 200 || body != "payload" {
		t.Fatalf("%d %q", code, body)
	}
	if refreshes, retries := tr.Stats(); refreshes != 1 || retries != 1 {
		t.Fatal(refreshes, retries)
	}
	if a.requests.Load() != 3 {
		t.Fatal(a.requests.Load())
	}
	// Next requests use the refreshed key at once.
	if code, _ := do(t, cl, "GET", srv.URL, ""); code != 200 || a.requests.Load() != 4 {
		t.Fatal(code)
	}
}

func TestHeaderAndField(t *testing.T) {
	src, a, srv, _, c := setup(t, "X-Api-Key", "")
	src.set(`{"api_key":"key-1","other":1}`)
	if _, err := c.Refresh(context.Background(), "prod/api-key/svc"); err != nil {
		t.Fatal(err)
	}
	tr, err := httpsecret.New(c, "prod/api-key/svc", httpsecret.WithHeader("x-api-key"), httpsecret.WithField("api_key"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, tr.Client(), "GET", srv.URL, ""); code != 200 {
		t.Fatal(code)
	}
	a.accept("key-2")
	src.set(`{"api_key":"key-2"}`)
	if code, _ := do(t, tr.Client(), "GET", srv.URL, ""); code != 200 {
		t.Fatal(code)
	}
	tr2, _ := httpsecret.New(c, "prod/api-key/svc", httpsecret.WithField("nope"))
	_, err = tr2.Client().Get(srv.URL)
	if !errors.Is(err, secretcache.ErrKeyMissing) {
		t.Fatal(err)
	}
	tr3, _ := httpsecret.New(c, "prod/api-key/svc", httpsecret.WithScheme("Token"))
	a.header, a.prefix = "Authorization", "Token "
	if code, _ := do(t, tr3.Client(), "GET", srv.URL, ""); code != 401 {
		t.Fatal(code) // the whole JSON is not the key
	}
	tr4, _ := httpsecret.New(c, "prod/api-key/svc", httpsecret.WithScheme("Token"), httpsecret.WithField("api_key"))
	if code, _ := do(t, tr4.Client(), "GET", srv.URL, ""); code != 200 {
		t.Fatal(code)
	}
}

func TestNoRetryWhenBodyCannotBeReplayed(t *testing.T) {
	src, a, srv, tr, _ := setup(t, "Authorization", "Bearer ")
	src.set("key-2")
	a.accept("key-2")
	req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || a.requests.Load() != 1 {
		t.Fatal(resp.StatusCode, a.requests.Load())
	}
	if refreshes, _ := tr.Stats(); refreshes != 0 {
		t.Fatal("refreshed for a request it cannot retry")
	}
}

func TestNoRetryWhenKeyUnchanged(t *testing.T) {
	src, a, srv, tr, _ := setup(t, "Authorization", "Bearer ", httpsecret.WithRefreshInterval(time.Hour))
	a.accept("something-else")
	calls := src.calls.Load()
	for range 20 {
		if code, _ := do(t, tr.Client(), "GET", srv.URL, ""); code != 401 {
			t.Fatal(code)
		}
	}
	if got := src.calls.Load() - calls; got != 1 {
		t.Fatalf("%d refreshes for 20 401s", got)
	}
	if a.requests.Load() != 20 {
		t.Fatal("retried with the same key", a.requests.Load())
	}
}

func TestCallerRequestUntouched(t *testing.T) {
	_, _, srv, tr, _ := setup(t, "Authorization", "Bearer ")
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("X-Mine", "1")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.Header.Get("Authorization") != "" || len(req.Header) != 1 {
		t.Fatal(req.Header)
	}
}

func TestHostsAndRedirects(t *testing.T) {
	_, a, srv, _, c := setup(t, "Authorization", "Bearer ")
	other := &api{header: "Authorization", prefix: "Bearer ", key: "key-1"}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherSrv.URL, http.StatusFound)
	}))
	defer redirect.Close()

	tr, _ := httpsecret.New(c, "prod/api-key/svc")
	// A redirect to another host does not carry the key.
	if code, _ := do(t, tr.Client(), "GET", redirect.URL, ""); code != 401 || other.hits.Load() != 0 {
		t.Fatalf("%d, key sent to the redirect target %d times", code, other.hits.Load())
	}
	// With WithHosts only the listed host gets it.
	host := strings.TrimPrefix(srv.URL, "http://")
	tr2, _ := httpsecret.New(c, "prod/api-key/svc", httpsecret.WithHosts(host))
	if code, _ := do(t, tr2.Client(), "GET", srv.URL, ""); code != 200 {
		t.Fatal(code)
	}
	if code, _ := do(t, tr2.Client(), "GET", otherSrv.URL, ""); code != 401 || other.hits.Load() != 0 {
		t.Fatal(code)
	}
	_ = a
}

func TestBadInput(t *testing.T) {
	src := &keySource{}
	src.set("line1\r\nX-Injected: yes")
	c, _ := secretcache.New(src, secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	defer c.Close()
	if _, err := httpsecret.New(nil, "id"); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	for _, id := range []string{"", "a b", strings.Repeat("x", 3000)} {
		if _, err := httpsecret.New(c, id); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Fatal(err)
		}
	}
	for _, o := range []httpsecret.Option{nil, httpsecret.WithField(""), httpsecret.WithHeader("bad header"), httpsecret.WithHeader(""),
		httpsecret.WithScheme("a b"), httpsecret.WithBase(nil), httpsecret.WithHosts(), httpsecret.WithHosts(""),
		httpsecret.WithRefreshInterval(-1), httpsecret.WithLogger(nil)} {
		if _, err := httpsecret.New(c, "id", o); err == nil {
			t.Fatal("bad option accepted")
		}
	}
	tr, _ := httpsecret.New(c, "id")
	if _, err := tr.RoundTrip(nil); err == nil {
		t.Fatal("nil request")
	}
	body := &trackBody{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/", body)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, secretcache.ErrInvalidRequest) || strings.Contains(err.Error(), "Injected") {
		t.Fatal(err)
	}
	if !body.closed {
		t.Fatal("body not closed on error")
	}
	src.set(strings.Repeat("k", httpsecret.MaxValue+1))
	_, _ = c.Refresh(context.Background(), "id")
	req, _ = http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, secretcache.ErrInvalidRequest) || strings.Contains(err.Error(), "kkkk") {
		t.Fatal(err)
	}
}

var quiet = httpsecret.WithLogger(slog.New(slog.DiscardHandler))

type trackBody struct {
	io.Reader
	closed bool
}

func (b *trackBody) Close() error { b.closed = true; return nil }

func TestConcurrentRetries(t *testing.T) {
	src, a, srv, tr, _ := setup(t, "Authorization", "Bearer ")
	src.set("key-2")
	a.accept("key-2")
	cl := tr.Client()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 16 {
		wg.Go(func() {
			req, _ := http.NewRequest("PUT", srv.URL, bytes.NewReader([]byte(fmt.Sprint(i))))
			resp, err := cl.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != fmt.Sprint(i) {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d failed", failed.Load())
	}
	if src.calls.Load() > 3 {
		t.Fatalf("%d secret fetches for one rotation", src.calls.Load())
	}
}

// fakeNet is a base transport that records what it is sent (URL and
// Authorization header) and answers redirects from a table.
type fakeNet struct {
	mu        sync.Mutex
	got       []string
	redirects map[string]string
}

func (f *fakeNet) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.got = append(f.got, req.URL.String()+" "+req.Header.Get("Authorization"))
	loc := f.redirects[req.URL.String()]
	f.mu.Unlock()
	if req.Body != nil {
		_ = req.Body.Close()
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: req}
	if loc != "" {
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", loc)
	}
	return resp, nil
}

func (f *fakeNet) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.got
	f.got = nil
	return out
}

// The credential never goes in clear after a redirect from https, even to
// the same host, and never over plain http to a host other than loopback
// unless WithInsecureHTTP allows it.
func TestPlainHTTP(t *testing.T) {
	_, _, _, _, c := setup(t, "Authorization", "Bearer ")
	fn := &fakeNet{redirects: map[string]string{
		"https://api.example.com/down":   "http://api.example.com/next",
		"https://api.example.com/same":   "https://api.example.com/next",
		"http://127.0.0.1:8080/down":     "http://127.0.0.1:8080/next",
		"http://api.example.com/up":      "https://api.example.com/next",
		"https://api.example.com/twice":  "https://api.example.com/hop",
		"https://api.example.com/hop":    "http://api.example.com/next",
		"https://api.example.com/toloop": "http://127.0.0.1:8080/next",
	}}
	const key = "Bearer key-1"
	for _, tc := range []struct {
		name string
		opts []httpsecret.Option
		url  string
		want []string // what was sent, each "URL Authorization"
	}{
		{"downgrade, same host", nil, "https://api.example.com/down",
			[]string{"https://api.example.com/down " + key, "http://api.example.com/next "}},
		{"downgrade, same host, WithHosts", []httpsecret.Option{httpsecret.WithHosts("api.example.com")}, "https://api.example.com/down",
			[]string{"https://api.example.com/down " + key, "http://api.example.com/next "}},
		{"downgrade, same host, WithInsecureHTTP", []httpsecret.Option{httpsecret.WithInsecureHTTP()}, "https://api.example.com/down",
			[]string{"https://api.example.com/down " + key, "http://api.example.com/next "}},
		{"downgrade on the second hop", []httpsecret.Option{httpsecret.WithInsecureHTTP()}, "https://api.example.com/twice",
			[]string{"https://api.example.com/twice " + key, "https://api.example.com/hop " + key, "http://api.example.com/next "}},
		{"downgrade to loopback", []httpsecret.Option{httpsecret.WithHosts("api.example.com", "127.0.0.1")}, "https://api.example.com/toloop",
			[]string{"https://api.example.com/toloop " + key, "http://127.0.0.1:8080/next "}},
		{"https to https", nil, "https://api.example.com/same",
			[]string{"https://api.example.com/same " + key, "https://api.example.com/next " + key}},
		{"loopback http", nil, "http://127.0.0.1:8080/down",
			[]string{"http://127.0.0.1:8080/down " + key, "http://127.0.0.1:8080/next " + key}},
		{"localhost http", nil, "http://LocalHost:9/x", []string{"http://LocalHost:9/x " + key}},
		{"::1 http", nil, "http://[::1]:9/x", []string{"http://[::1]:9/x " + key}},
		{"http allowed", []httpsecret.Option{httpsecret.WithInsecureHTTP()}, "http://api.example.com/up",
			[]string{"http://api.example.com/up " + key, "https://api.example.com/next " + key}},
		{"http to an unlisted host", []httpsecret.Option{httpsecret.WithHosts("other.example.com")}, "http://api.example.com/x",
			[]string{"http://api.example.com/x "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := httpsecret.New(c, "prod/api-key/svc", append([]httpsecret.Option{httpsecret.WithBase(fn), quiet}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if code, _ := do(t, tr.Client(), "GET", tc.url, ""); code != 200 {
				t.Fatal(code)
			}
			if got := fn.sent(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	// Plain http to another host without WithInsecureHTTP: an error, and
	// nothing sent.
	for _, opts := range [][]httpsecret.Option{nil, {httpsecret.WithHosts("api.example.com")}} {
		tr, _ := httpsecret.New(c, "prod/api-key/svc", append([]httpsecret.Option{httpsecret.WithBase(fn), quiet}, opts...)...)
		body := &trackBody{Reader: strings.NewReader("x")}
		req, _ := http.NewRequest("POST", "http://api.example.com/x", body)
		_, err := tr.RoundTrip(req)
		if !errors.Is(err, httpsecret.ErrPlainHTTP) || !errors.Is(err, secretcache.ErrInvalidRequest) || strings.Contains(err.Error(), "key-1") {
			t.Fatalf("plain http: %v", err)
		}
		if !body.closed || len(fn.sent()) != 0 {
			t.Fatal("body not closed, or the request went out")
		}
	}
}
