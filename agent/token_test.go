package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadTokenRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	file := write("token", "file-token-0123456\n", 0o600)
	crlf := write("crlf", "crlf-token-0123456\r\n", 0o600)
	bare := write("bare", "bare-token-0123456", 0o640)
	spaced := write("spaced", "  file-token-0123456\n", 0o600)
	twoLines := write("two-lines", "file-token-0123456\n\n", 0o600)
	empty := write("empty", "\n", 0o600)
	short := write("short", "short\n", 0o600)
	big := write("big", strings.Repeat("t", MaxTokenBytes+1), 0o600)
	worldWritable := write("world-writable", "file-token-0123456\n", 0o666)
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o777) // past the umask
	inOpenDir := filepath.Join(open, "token")
	if err := os.WriteFile(inOpenDir, []byte("file-token-0123456"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := DefaultConfig().SSRFEnvVariables
	tok := "abc123-0123456789"
	cases := []struct {
		env        map[string]string
		want, fail string
	}{
		{map[string]string{"AWS_TOKEN": tok}, tok, ""},
		{map[string]string{"AWS_SESSION_TOKEN": "session-token-0123"}, "session-token-0123", ""},
		{map[string]string{"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token-01"}, "container-token-01", ""},
		{map[string]string{"AWS_TOKEN": "first-token-012345", "AWS_SESSION_TOKEN": "second-token-01234"}, "first-token-012345", ""},
		{map[string]string{"AWS_TOKEN": "with inner space 0123"}, "with inner space 0123", ""},
		{map[string]string{"AWS_TOKEN": file}, "file-token-0123456", ""},
		{map[string]string{"AWS_TOKEN": crlf}, "crlf-token-0123456", ""},
		{map[string]string{"AWS_TOKEN": bare}, "bare-token-0123456", ""},
		{map[string]string{}, "", "no SSRF token variable is set: set one of AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN"},
		{map[string]string{"AWS_TOKEN": ""}, "", "AWS_TOKEN: the token is empty; a token must be 1 to 4096 bytes"},
		{map[string]string{"AWS_TOKEN": "abc123"}, "abc123", ""}, // short: accepted with a warning, as the AWS agent accepts it
		{map[string]string{"AWS_TOKEN": " " + tok}, "", "AWS_TOKEN: the token has leading or trailing spaces"},
		{map[string]string{"AWS_TOKEN": tok + " "}, "", "leading or trailing spaces"},
		{map[string]string{"AWS_TOKEN": tok + "\n"}, "", "control characters"},
		{map[string]string{"AWS_TOKEN": "a\nb-0123456789012"}, "", "control"},
		{map[string]string{"AWS_TOKEN": "t\u00e9l\u00e9phone-0123456789"}, "", "non-ASCII"},
		{map[string]string{"AWS_TOKEN": "file:///no/such/file"}, "", "token file: open /no/such/file: no such file"},
		{map[string]string{"AWS_TOKEN": "file://"}, "", "names no file"},
		{map[string]string{"AWS_TOKEN": empty}, "", "is empty"},
		{map[string]string{"AWS_TOKEN": short}, "short", ""},
		{map[string]string{"AWS_TOKEN": spaced}, "", "leading or trailing spaces"},
		{map[string]string{"AWS_TOKEN": twoLines}, "", "control characters"},
		{map[string]string{"AWS_TOKEN": big}, "", "the token is 4097 bytes"},
		{map[string]string{"AWS_TOKEN": worldWritable}, "", "is writable by every user (mode 0666), so any local user could change it; refused: run chmod o-w"},
		// A Kubernetes emptyDir is writable by every user; the file decides.
		{map[string]string{"AWS_TOKEN": "file://" + inOpenDir}, "file-token-0123456", ""},
		{map[string]string{"AWS_TOKEN": "file://" + dir}, "", "is not a regular file"},
	}
	for _, c := range cases {
		got, err := resolveToken(names, lookupOf(c.env))
		if c.fail != "" {
			if err == nil || !strings.Contains(err.Error(), c.fail) {
				t.Errorf("%q: %q %v, want error %q", c.env, got, err, c.fail)
			}
			if v := c.env["AWS_TOKEN"]; err != nil && len(v) > 2 && !strings.HasPrefix(v, "file://") && strings.Contains(err.Error(), strings.TrimSpace(v)) {
				t.Errorf("error %q shows the token", err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q %v, want %q", c.env, got, err, c.want)
		}
	}
	if _, err := resolveToken(nil, lookupOf(nil)); !errors.Is(err, ErrNoToken) {
		t.Errorf("no names: %v", err)
	}
	if os.Getuid() != 0 {
		unreadable := write("unreadable", "file-token-0123456", 0o200)
		if _, err := resolveToken(names, lookupOf(map[string]string{"AWS_TOKEN": unreadable})); err == nil {
			t.Error("unreadable token file accepted")
		}
	}
}

// A token file owned by another user (not root) is refused: its owner
// could change the token at any time.
func TestTokenFileOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("file-token-0123456"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err := resolveToken([]string{"T"}, lookupOf(map[string]string{"T": "file://" + p}))
	if err == nil || !strings.Contains(err.Error(), "is owned by uid 4242, not by root or by the user the agent runs as") {
		t.Errorf("token file of uid 4242: %v", err)
	}
	if err := os.Chown(p, 0, 4242); err != nil { // root's, another group: fine
		t.Fatal(err)
	}
	if _, err := resolveToken([]string{"T"}, lookupOf(map[string]string{"T": "file://" + p})); err != nil {
		t.Errorf("root's token file: %v", err)
	}
}

// Who else may read a token file is logged: a warning when every user may,
// an info record for its group (the usual layout), nothing for 0600.
func TestTokenFileModesLogged(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		want string
	}{
		{0o600, ""},
		{0o640, "level=INFO msg=\"token file is readable by its group: every member can call the agent\""},
		{0o644, "level=WARN msg=\"token file is readable by every user"},
		{0o660, "level=WARN msg=\"token file is writable by its group"},
	} {
		p := filepath.Join(dir, fmt.Sprintf("token-%o", c.mode))
		if err := os.WriteFile(p, []byte("file-token-0123456\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(p, c.mode)
		var logs strings.Builder
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		tok, src, err := LoadToken([]string{"T"}, lookupOf(map[string]string{"T": "file://" + p}), log)
		if err != nil || tok != "file-token-0123456" || src.Var != "T" || src.File != p || src.Bytes != 18 {
			t.Errorf("%o: %q %+v %v", c.mode, tok, src, err)
		}
		if c.want == "" && logs.Len() > 0 || !strings.Contains(logs.String(), c.want) {
			t.Errorf("%o: logs %q, want %q", c.mode, logs.String(), c.want)
		}
		if strings.Contains(logs.String(), tok) || strings.Contains(src.String(), tok) {
			t.Errorf("%o: the token is logged", c.mode)
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
	for _, bad := range []string{"", "a\x00b-0123456789012", " spaced-token-0123456", strings.Repeat("t", MaxTokenBytes+1)} {
		if _, err := New(context.Background(), cfg, WithSource(namedSource{}), WithToken(bad)); err == nil {
			t.Errorf("WithToken(%q) accepted", bad)
		}
	}
	// The token from the environment works end to end.
	a, err := New(context.Background(), cfg, WithSource(namedSource{}), WithLogger(testLogger(t)),
		WithLookupEnv(lookupOf(map[string]string{"SECRETCACHE_TEST_NO_SUCH_VAR": "env-token-0123456"})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for tok, want := range map[string]int{"env-token-0123456": 200, "other": 403} {
		rec := &recorder{h: http.Header{}}
		req, _ := http.NewRequest("GET", "/v1/s", nil)
		req.Header.Set("X-Vault-Token", tok)
		a.Handler().ServeHTTP(rec, req)
		if rec.status != want {
			t.Errorf("token %q: %d, want %d", tok, rec.status, want)
		}
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
		if _, err := New(context.Background(), cfg, WithToken(testToken), o); err == nil {
			t.Error("a nil option was accepted")
		}
	}
	bad := testConfig()
	bad.TTLSeconds = -1
	bad.PathPrefix = "x"
	if _, err := New(context.Background(), bad, WithToken(testToken), WithSource(namedSource{})); err == nil {
		t.Error("an invalid config was accepted")
	}
}

// A short token works, as in the AWS agent, but draws a warning that names
// the variable and never the token.
func TestShortTokenWarns(t *testing.T) {
	for tok, warn := range map[string]bool{"abc": true, "0123456789abcde": true, "0123456789abcdef": false} {
		var logs strings.Builder
		log := slog.New(slog.NewTextHandler(&logs, nil))
		got, _, err := LoadToken([]string{"T"}, lookupOf(map[string]string{"T": tok}), log)
		if err != nil || got != tok {
			t.Fatalf("%q: %q %v", tok, got, err)
		}
		if warned := strings.Contains(logs.String(), "level=WARN msg=\"secretcache agent: the SSRF token is short"); warned != warn {
			t.Errorf("%q: warned %v, want %v: %s", tok, warned, warn, logs.String())
		}
		if strings.Contains(logs.String(), "="+tok) {
			t.Errorf("%q: the token is logged: %s", tok, logs.String())
		}
	}
}

// resolveToken is LoadToken without the source and the logs.
func resolveToken(names []string, lookup func(string) (string, bool)) (string, error) {
	tok, _, err := LoadToken(names, lookup, nil)
	return tok, err
}
