package agent

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of an interpreter, skipping the test if it is
// missing (failing under CI=true).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// TestClientExamples runs the Python and Node snippets of examples/ against
// a live agent.
func TestClientExamples(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "demo/db", `{"username":"app","password":"pw \"quoted\" é","port":5432}`)
	mustCreate(t, e.srv, "demo/api-key", "key-123")
	if _, err := e.srv.CreateBinarySecret("", "demo/bin", []byte{0, 1, 0xfe}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clients := []struct{ tool, script string }{
		{"python3", "../examples/python/get_secret.py"},
		{"node", "../examples/node/get-secret.mjs"},
	}
	cases := []struct {
		args         []string
		token        string
		wantOut      string
		wantCode     int
		wantErrMatch string
	}{
		{[]string{"demo/api-key"}, testToken, "key-123", 0, ""},
		{[]string{"demo/db", "password"}, testToken, `pw "quoted" é`, 0, ""},
		{[]string{"demo/db", "port"}, "file://" + tokFile, "5432", 0, ""},
		{[]string{"demo/bin"}, testToken, "\x00\x01\xfe", 0, ""},
		{[]string{"demo/missing"}, testToken, "", 3, "ResourceNotFoundException"},
		{[]string{"demo/db", "nokey"}, testToken, "", 1, CodeFieldNotFound},
		{[]string{"demo/api-key"}, "wrong-token", "", 1, "403"},
	}
	for _, cl := range clients {
		t.Run(cl.tool, func(t *testing.T) {
			tool := needTool(t, cl.tool)
			for _, c := range cases {
				cmd := exec.Command(tool, append([]string{cl.script}, c.args...)...)
				cmd.Env = append(os.Environ(), "SECRETCACHE_AGENT_URL="+e.base, "AWS_TOKEN="+c.token,
					"HTTP_PROXY=http://127.0.0.1:1", "http_proxy=http://127.0.0.1:1")
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				done := make(chan error, 1)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				go func() { done <- cmd.Wait() }()
				var err error
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("%s %v hangs", cl.tool, c.args)
				}
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if code != c.wantCode || out.String() != c.wantOut || !strings.Contains(errb.String(), c.wantErrMatch) {
					t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
						cl.tool, c.args, code, out.String(), errb.String(), c.wantCode, c.wantOut, c.wantErrMatch)
				}
				if strings.Contains(errb.String(), "pw ") || strings.Contains(errb.String(), "key-123") {
					t.Errorf("%s %v printed a value on stderr: %q", cl.tool, c.args, errb.String())
				}
			}
		})
	}
}
