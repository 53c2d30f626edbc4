package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache/smtest"
)

func TestTemplateConfig(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.Parse([]byte(`
[[template]]
source = "/etc/app/db.tmpl"
destination = "/run/app/db.properties"
perms = "0640"
owner = "1000:1000"
command = ["systemctl", "reload", "app"]
command_timeout_seconds = 10

[[template]]
source = "/etc/app/env.tmpl"
destination = "/run/app/env"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Templates) != 2 || cfg.Templates[0].Perms != "0640" || len(cfg.Templates[0].Command) != 3 || cfg.Templates[0].CommandTimeoutSeconds != 10 {
		t.Errorf("parsed %+v", cfg.Templates)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"template = \"x\"", "template"},
		{"[[template]]\nsource = \"a\"\nbogus = 1", "template[0].bogus"},
		{"[[template]]\nsource = \"a\"\nperms = \"0999\"", "template[0].perms"},
		{"[[template]]\nsource = \"a\"\nperms = 600", "template[0].perms"},
		{"[[template]]\nsource = \"a\"\nowner = \"root\"", "template[0].owner"},
		{"[[template]]\nsource = \"a\"\nowner = \"4294967295\"", "4294967294"},
		{"[[template]]\nsource = \"a\"\nowner = \"0:99999999999\"", "template[0].owner"},
		{"[[template]]\nsource = \"\"", "template[0].source"},
		{"[[template]]\nsource = \"a\"\ncommand_timeout_seconds = 99999", "template[0].command_timeout_seconds"},
		{"[[template]]\nsource = \"a\"\ncommand = [\"\"]", "template[0].command"},
	} {
		c := DefaultConfig()
		if err := c.Parse([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want an error naming %s", tc.doc, err, tc.want)
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{"[[template]]\nsource = \"a\"", "template[0]: needs both source and destination"},
		{"[[template]]\nsource = \"a\"\ndestination = \"d\"\n[[template]]\nsource = \"b\"\ndestination = \"d\"", "template[1].destination"},
	} {
		c := DefaultConfig()
		if err := c.Parse([]byte(tc.doc)); err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: Validate %v; want %s", tc.doc, err, tc.want)
		}
	}
	var many strings.Builder
	for i := range MaxTemplates + 1 {
		fmt.Fprintf(&many, "[[template]]\nsource = \"s\"\ndestination = \"d%d\"\n", i)
	}
	c := DefaultConfig()
	if err := c.Parse([]byte(many.String())); err == nil {
		t.Error("too many templates accepted")
	}
}

// The agent renders its templates at start and again after a rotation; a
// template that is broken at start fails New; a missing key at run time
// keeps the file and is logged, without the value.
func TestAgentRendersTemplates(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "app/db", `{"password":"tmpl-pw-1"}`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "db.tmpl")
	os.WriteFile(src, []byte(`password={{ secretField "app/db" "password" }}`+"\n"), 0o600)
	dest := filepath.Join(dir, "out", "db.properties")
	cfg := testConfig()
	cfg.TTLSeconds = 1
	cfg.Templates = []TemplateConfig{{Source: src, Destination: dest, Perms: "0640"}}
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	a, err := New(context.Background(), cfg, append(defaultSource(srv), WithLogger(log), WithToken("template-test-token-0123"))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFile := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(dest)
			if string(b) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %q; want %q\nlog:\n%s", dest, b, want, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFile("password=tmpl-pw-1\n")
	if fi, _ := os.Stat(dest); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := srv.PutSecretValue("", "app/db", `{"password":"tmpl-pw-2"}`); err != nil {
		t.Fatal(err)
	}
	waitFile("password=tmpl-pw-2\n")
	if _, err := srv.PutSecretValue("", "app/db", `{"other":"tmpl-pw-3"}`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "template: render failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failure logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := os.ReadFile(dest); string(b) != "password=tmpl-pw-2\n" {
		t.Errorf("a failed render changed the file: %q", b)
	}
	if strings.Contains(logs.String(), "tmpl-pw-") {
		t.Errorf("a value in the log:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "template: wrote"); n != 2 {
		t.Errorf("%d writes logged; want 2:\n%s", n, logs.String())
	}

	// A broken template fails the start.
	os.WriteFile(src, []byte(`{{ secretField "app/db" `), 0o600)
	if _, err := New(context.Background(), cfg, append(defaultSource(srv), WithToken("template-test-token-0123"))...); err == nil || !strings.Contains(err.Error(), "template[0]") {
		t.Errorf("broken template: %v", err)
	}
	cfg.Templates[0].Source = filepath.Join(dir, "none")
	if _, err := New(context.Background(), cfg, append(defaultSource(srv), WithToken("template-test-token-0123"))...); err == nil || !strings.Contains(err.Error(), "template[0].source") {
		t.Errorf("missing template: %v", err)
	}
}

// A command that fails after its file was written is logged as such (not
// as a failed render) and run again on the next passes until it succeeds.
func TestAgentRetriesAFailedTemplateCommand(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "app/cmd", "cmd-secret-value"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "t.tmpl")
	os.WriteFile(src, []byte(`v={{ secret "app/cmd" }}`), 0o600)
	dest := filepath.Join(dir, "out")
	flag, done := filepath.Join(dir, "flag"), filepath.Join(dir, "done")
	cfg := testConfig()
	cfg.TTLSeconds = 1 // a pass every second
	cfg.Templates = []TemplateConfig{{Source: src, Destination: dest,
		Command: []string{"sh", "-c", "test -f " + flag + " || exit 3; echo x >> " + done}}}
	var logs lockedBuf
	a, err := New(context.Background(), cfg, append(defaultSource(srv), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithToken("template-test-token-0123"))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan error, 1)
	go func() { finished <- a.Run(ctx) }()
	defer func() { cancel(); <-finished }()
	waitLog := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q logged:\n%s", s, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLog("its command failed")
	if b, _ := os.ReadFile(dest); string(b) != "v=cmd-secret-value" {
		t.Errorf("file %q", b)
	}
	os.WriteFile(flag, nil, 0o600)
	waitLog("template: the command succeeded")
	time.Sleep(1500 * time.Millisecond) // another pass: no further run
	l := logs.String()
	if b, _ := os.ReadFile(done); string(b) != "x\n" {
		t.Errorf("the command succeeded %q times; want once", b)
	}
	if strings.Contains(l, "render failed") || strings.Count(l, "its command failed") != 1 || strings.Contains(l, "cmd-secret-value") {
		t.Errorf("log:\n%s", l)
	}
}
