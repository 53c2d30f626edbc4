package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("t", MaxTokenBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	names := DefaultSSRFEnvVariables
	cases := []struct {
		env        map[string]string
		want, fail string
	}{
		{map[string]string{"AWS_TOKEN": "abc123"}, "abc123", ""},
		{map[string]string{"AWS_SESSION_TOKEN": "123abc"}, "123abc", ""},
		{map[string]string{"AWS_CONTAINER_AUTHORIZATION_TOKEN": "cta"}, "cta", ""},
		{map[string]string{"AWS_TOKEN": "first", "AWS_SESSION_TOKEN": "second"}, "first", ""},
		{map[string]string{"AWS_TOKEN": "file://" + file}, "file-token", ""},
		{map[string]string{}, "", "no SSRF token variable is set"},
		{map[string]string{"AWS_TOKEN": ""}, "", "AWS_TOKEN: the token is empty"},
		{map[string]string{"AWS_TOKEN": "file:///no/such/file"}, "", "no such file"},
		{map[string]string{"AWS_TOKEN": "file://"}, "", "names no file"},
		{map[string]string{"AWS_TOKEN": "file://" + empty}, "", "empty"},
		{map[string]string{"AWS_TOKEN": "file://" + big}, "", "over"},
		{map[string]string{"AWS_TOKEN": "a\nb"}, "", "control"},
	}
	for _, c := range cases {
		got, err := ResolveToken(names, lookupOf(c.env))
		if c.fail != "" {
			if err == nil || !strings.Contains(err.Error(), c.fail) {
				t.Errorf("%v: %q %v, want error %q", c.env, got, err, c.fail)
			}
			if err != nil && c.env["AWS_TOKEN"] != "" && !strings.HasPrefix(c.env["AWS_TOKEN"], "file://") && strings.Contains(err.Error(), c.env["AWS_TOKEN"]) {
				t.Errorf("error %q shows the token", err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: %q %v, want %q", c.env, got, err, c.want)
		}
	}
	if _, err := ResolveToken(nil, lookupOf(nil)); !errors.Is(err, ErrNoToken) {
		t.Errorf("no names: %v", err)
	}
	if os.Getuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable")
		_ = os.WriteFile(unreadable, []byte("x"), 0o200)
		if _, err := ResolveToken(names, lookupOf(map[string]string{"AWS_TOKEN": "file://" + unreadable})); err == nil {
			t.Error("unreadable token file accepted")
		}
	}
}

func TestNewRequiresToken(t *testing.T) {
	cfg := testConfig()
	cfg.SSRFEnvVariables = []string{"SECRETCACHE_TEST_NO_SUCH_VAR"}
	_, err := New(context.Background(), cfg, WithSource(namedSource{}), WithLogger(testLogger(t)),
		WithLookupEnv(lookupOf(nil)))
	if err == nil || !strings.Contains(err.Error(), "SECRETCACHE_TEST_NO_SUCH_VAR") {
		t.Errorf("New without a token: %v", err)
	}
	for _, bad := range []string{"", "a\x00b"} {
		if _, err := New(context.Background(), cfg, WithSource(namedSource{}), WithToken(bad)); err == nil {
			t.Errorf("WithToken(%q) accepted", bad)
		}
	}
	// The token from the environment works end to end.
	a, err := New(context.Background(), cfg, WithSource(namedSource{}), WithLogger(testLogger(t)),
		WithLookupEnv(lookupOf(map[string]string{"SECRETCACHE_TEST_NO_SUCH_VAR": "env-token"})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for tok, want := range map[string]int{"env-token": 200, "other": 403} {
		rec := &recorder{h: http.Header{}}
		req, _ := http.NewRequest("GET", "/v1/s", nil)
		req.Header.Set("X-Vault-Token", tok)
		a.Handler().ServeHTTP(rec, req)
		if rec.status != want {
			t.Errorf("token %q: %d, want %d", tok, rec.status, want)
		}
	}
	if t1, t2 := NewToken(), NewToken(); len(t1) != 64 || t1 == t2 {
		t.Error("NewToken is not 64 random hex digits")
	}
}

type recorder struct {
	h      http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}

func TestOptionsRejectNil(t *testing.T) {
	cfg := testConfig()
	for _, o := range []Option{nil, WithSource(nil), WithLogger(nil), WithLookupEnv(nil)} {
		if _, err := New(context.Background(), cfg, WithToken("t"), o); err == nil {
			t.Error("a nil option was accepted")
		}
	}
	bad := testConfig()
	bad.TTLSeconds = -1
	bad.PathPrefix = "x"
	if _, err := New(context.Background(), bad, WithToken("t"), WithSource(namedSource{})); err == nil {
		t.Error("an invalid config was accepted")
	}
}
