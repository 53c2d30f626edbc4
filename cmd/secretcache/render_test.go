package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderOneShot(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "db.tmpl")
	os.WriteFile(tmpl, []byte(`user={{ secretField "demo/db" "username" }}
pw={{ (secretJSON "demo/db").password | propertiesEscape }}
`), 0o600)
	out := filepath.Join(dir, "run", "secrets", "db.properties")
	marker := filepath.Join(dir, "reloaded")
	args := []string{"render", "--dev", "--template", tmpl, "--out", out, "--", "sh", "-c", "echo x >> " + marker}
	code, _, errs := runCLI(context.Background(), nil, args...)
	if code != 0 || errs != "secretcache render: wrote "+out+"\n" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	b, _ := os.ReadFile(out)
	fi, _ := os.Stat(out)
	di, _ := os.Stat(filepath.Dir(out))
	if string(b) != "user=app\npw=demo-password-not-secret\n" || fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("wrote %q, mode %v, dir %v", b, fi.Mode(), di.Mode())
	}
	code, _, errs = runCLI(context.Background(), nil, args...)
	if code != 0 || !strings.HasSuffix(errs, " unchanged\n") {
		t.Errorf("again: exit %d, stderr %q", code, errs)
	}
	if m, _ := os.ReadFile(marker); string(m) != "x\n" {
		t.Errorf("the command ran %q; want once, after the change", m)
	}
	// A missing key: get's exit code, the file stays, no value printed.
	os.WriteFile(tmpl, []byte(`{{ secretField "demo/db" "nokey" }}`), 0o600)
	code, _, errs = runCLI(context.Background(), nil, args...)
	if code != exitField || !strings.Contains(errs, `no key "nokey"`) || strings.Contains(errs, "demo-password") {
		t.Errorf("missing key: exit %d, stderr %q", code, errs)
	}
	if b2, _ := os.ReadFile(out); string(b2) != string(b) {
		t.Error("a failed render changed the file")
	}
	os.WriteFile(tmpl, []byte(`{{ secret "demo/nope" }}`), 0o600)
	if code, _, errs = runCLI(context.Background(), nil, args...); code != exitNotFound {
		t.Errorf("missing secret: exit %d, %q", code, errs)
	}
	os.WriteFile(tmpl, []byte(`{{ secret `), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dev", "--template", tmpl, "--out", out}, "unclosed action"},
		{[]string{"--dev", "--template", filepath.Join(dir, "none"), "--out", out}, "no such file"},
		{[]string{"--dev", "--out", out}, "--template and --out are both needed"},
		{[]string{"--dev", "--template", tmpl, "--out", out, "--mode", "0999"}, "--mode 0999: want octal permission bits"},
		{[]string{"--dev", "--template", tmpl, "--out", out, "--owner", "root"}, "--owner root: want UID or UID:GID"},
		{[]string{"--dev", "--template", tmpl, "--out", out, "--"}, "no command after --"},
		{[]string{"--dev", "--template", tmpl, "--out", out, "extra"}, "unexpected argument"},
	} {
		code, _, errs := runCLI(context.Background(), nil, append([]string{"render"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) || strings.Count(errs, "render:") != 1 {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// Only a secret that could not be read exits with get's codes; a template
// error exits 2 (6 for a missing key), a write or command error 1.
func TestRenderExitCodes(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "t.tmpl")
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, []byte("x"), 0o600)
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		text, out string
		command   []string
		want      int
	}{
		{`{{ secret "demo/db" | len | printf "%s" | secret }}`, out, nil, exitNotFound},
		{`{{ secret 1 }}`, out, nil, exitUsage},
		{`{{ (secretJSON "demo/db").username.x }}`, out, nil, exitUsage},
		{`{{ index (secretJSON "demo/db") "nokey" }}`, out, nil, exitField},
		{`{{ (secretJSON "demo/db").nokey }}`, out, nil, exitField},
		{`{{ secretField "demo/db" "nokey" }}`, out, nil, exitField},
		{`{{ secret "demo/db" }}`, dir, nil, exitError},                                  // a directory
		{`{{ secret "demo/db" }}`, filepath.Join(blocker, "sub", "out"), nil, exitError}, // mkdir fails
		{`{{ secret "demo/db" }}`, filepath.Join(dir, "out2"), []string{"false"}, exitError},
	} {
		os.WriteFile(tmpl, []byte(tc.text), 0o600)
		args := []string{"render", "--dev", "--template", tmpl, "--out", tc.out}
		if tc.command != nil {
			args = append(append(args, "--"), tc.command...)
		}
		code, _, errs := runCLI(context.Background(), nil, args...)
		if code != tc.want || strings.Contains(errs, "demo-password") || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s > %s %v: exit %d, %q; want %d", tc.text, tc.out, tc.command, code, errs, tc.want)
		}
	}
}
