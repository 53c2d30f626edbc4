package render_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/render"
	"github.com/secretcache/secretcache/smtest"
)

// mapSource serves secrets from a map, through a real cache so that
// fields and errors are the core's.
func mapSource(t testing.TB, secrets map[string]string) render.Source {
	t.Helper()
	c, err := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		v, ok := secrets[ref.ID]
		if !ok {
			return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: v}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return render.CacheSource(c)
}

const dbJSON = `{"username":"app","password":"p@ss'w\"rd:=#","port":5432}`

func TestFunctions(t *testing.T) {
	src := mapSource(t, map[string]string{"prod/db": dbJSON, "prod/key": "k3y\nline"})
	for _, tc := range []struct{ tmpl, want string }{
		{`{{ secret "prod/key" }}`, "k3y\nline"},
		{`{{ secretField "prod/db" "username" }}:{{ secretField "prod/db" "port" }}`, "app:5432"},
		{`{{ (secretJSON "prod/db").username }}`, "app"},
		{`{{ secret "prod/key" | base64Encode }}`, "azN5CmxpbmU="},
		{`{{ "azN5" | base64Decode }}`, "k3y"},
		{`PW={{ secretField "prod/db" "password" | shellQuote }}`, `PW='p@ss'\''w"rd:=#'`},
		{`{"pw": {{ secretField "prod/db" "password" | jsonQuote }}}`, `{"pw": "p@ss'w\"rd:=#"}`},
		{`pw: {{ secretField "prod/db" "password" | yamlQuote }}`, `pw: "p@ss'w\"rd:=#"`},
		{`pw={{ secretField "prod/db" "password" | propertiesEscape }}`, `pw=p@ss'w"rd\:\=\#`},
		{`{{ " é\n😀" | propertiesEscape }}`, `\ \u00e9\n\ud83d\ude00`},
	} {
		tm, err := render.Parse("t", tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		got, err := tm.Execute(context.Background(), src)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestMissingSecretOrKeyFailsAndNamesNoValue(t *testing.T) {
	src := mapSource(t, map[string]string{"prod/db": dbJSON, "plain": "not-json-value"})
	for _, tc := range []struct {
		tmpl, want string
		kind       error
	}{
		{`{{ secret "nope" }}`, "nope", secretcache.ErrNotFound},
		{`{{ secretField "prod/db" "nokey" }}`, `"nokey"`, secretcache.ErrKeyMissing},
		{`{{ (secretJSON "prod/db").nokey }}`, `"nokey"`, nil},
		{`{{ secretJSON "plain" }}`, "plain", secretcache.ErrNotJSON},
		{`{{ secretField "plain" "k" }}`, "plain", secretcache.ErrNotJSON},
		{`{{ index (secretJSON "prod/db") "password" | printf "%d" | secret }}`, "", nil},
	} {
		tm, err := render.Parse("t.tmpl", tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		_, err = tm.Execute(context.Background(), src)
		if err == nil || !errors.Is(err, render.ErrTemplate) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v; want ErrTemplate naming %s", tc.tmpl, err, tc.want)
			continue
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%s: err %v is not %v", tc.tmpl, err, tc.kind)
		}
		for _, v := range []string{"p@ss", "not-json-value"} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("%s: the error quotes a value: %v", tc.tmpl, err)
			}
		}
		if strings.Count(err.Error(), "render:") != 1 {
			t.Errorf("doubled prefix: %v", err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"empty":     "",
		"syntax":    "{{ secret ",
		"unknown":   "{{ nosuchfunc }}",
		"not utf-8": "\xff{{ . }}",
		"oversized": strings.Repeat("x", render.MaxTemplateBytes+1),
	} {
		if _, err := render.Parse(name, text); err == nil || !strings.HasPrefix(err.Error(), "render: ") && !errors.Is(err, render.ErrTemplate) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	tm, _ := render.Parse("t", "x")
	if _, err := tm.Execute(context.Background(), nil); err == nil {
		t.Error("nil source accepted")
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "a", "b", "out.conf")
	changed, err := render.WriteFile(dest, []byte("one"))
	if err != nil || !changed {
		t.Fatalf("first write: %v, %v", changed, err)
	}
	fi, _ := os.Stat(dest)
	di, _ := os.Stat(filepath.Dir(dest))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes %v %v; want 0600 and 0700", fi.Mode(), di.Mode())
	}
	if changed, err = render.WriteFile(dest, []byte("one")); err != nil || changed {
		t.Errorf("same bytes: changed %v, %v", changed, err)
	}
	before, _ := os.Stat(dest)
	if changed, err = render.WriteFile(dest, []byte("one"), render.WithMode(0o640)); err != nil || !changed {
		t.Errorf("new mode: changed %v, %v", changed, err)
	}
	after, _ := os.Stat(dest)
	if after.Mode().Perm() != 0o640 || os.SameFile(before, after) {
		t.Errorf("mode %v, same inode %v: want a new 0640 file", after.Mode(), os.SameFile(before, after))
	}
	if os.Geteuid() == 0 {
		if _, err := render.WriteFile(dest, []byte("two"), render.WithOwner(1234, 5678)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ownerOf(t, dest), "1234:5678") {
			t.Errorf("owner %s", ownerOf(t, dest))
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(dest))
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	for name, tc := range map[string]struct {
		path string
		opt  render.WriteOption
	}{
		"empty path":     {"", nil},
		"a directory":    {dir, nil},
		"mode too wide":  {dest, render.WithMode(0o4755)},
		"dir mode wide":  {dest, render.WithDirMode(0o1777)},
		"negative owner": {dest, render.WithOwner(-2, 0)},
	} {
		var opts []render.WriteOption
		if tc.opt != nil {
			opts = append(opts, tc.opt)
		}
		if _, err := render.WriteFile(tc.path, []byte("x"), opts...); err == nil || !strings.HasPrefix(err.Error(), "render: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// A rotation through smtest rewrites the file once, atomically: a reader
// looping on the file sees only the old or the new content in full. A
// broken render afterwards leaves the file and reports.
func TestRotationRewritesOnceAtomically(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "app/db", `{"password":"old-pw-1"}`); err != nil {
		t.Fatal(err)
	}
	src, err := awssm.New(srv.AWSConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(src, secretcache.WithTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pad := strings.Repeat("#", 256<<10) // a large file, so a torn write would show
	tm, err := render.Parse("app.conf", pad+"\npassword={{ secretField \"app/db\" \"password\" }}\n")
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "conf", "app.conf")
	f := &render.File{Template: tm, Dest: dest}
	ctx := context.Background()
	if changed, err := f.Render(ctx, render.CacheSource(c)); err != nil || !changed {
		t.Fatalf("first render %v %v", changed, err)
	}
	oldWant, newWant := pad+"\npassword=old-pw-1\n", pad+"\npassword=new-pw-2\n"
	var stop atomic.Bool
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(dest)
			reads.Add(1)
			if err != nil || (string(b) != oldWant && string(b) != newWant) {
				bad.Add(1)
			}
		}
	}()
	changes := 0
	for i := range 20 {
		if i == 10 {
			if _, err := srv.PutSecretValue("", "app/db", `{"password":"new-pw-2"}`); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Refresh(ctx, "app/db"); err != nil { // what refresh-ahead does at the end of the TTL
				t.Fatal(err)
			}
		}
		changed, err := f.Render(ctx, render.CacheSource(c))
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			changes++
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if changes != 1 || bad.Load() != 0 {
		t.Errorf("%d rewrites (want 1), %d of %d reads saw a partial, empty or missing file", changes, bad.Load(), reads.Load())
	}
	fi, _ := os.Stat(dest)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	// A template that names a missing key: the file stays, the error says why.
	broken, _ := render.Parse("app.conf", `password={{ secretField "app/db" "nokey" }}`)
	f.Template = broken
	if changed, err := f.Render(ctx, render.CacheSource(c)); err == nil || changed {
		t.Errorf("broken render: changed %v, err %v", changed, err)
	} else if strings.Contains(err.Error(), "new-pw-2") {
		t.Errorf("the error holds the value: %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != newWant {
		t.Error("a failed render changed the file")
	}
}

func TestCommandAfterChange(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "reloaded")
	tm, _ := render.Parse("t", "v={{ secret \"k\" }}")
	src := mapSource(t, map[string]string{"k": "value-1"})
	f := &render.File{Template: tm, Dest: filepath.Join(dir, "out"), Command: []string{"sh", "-c", "echo x >> " + marker}}
	for range 3 {
		if _, err := f.Render(context.Background(), src); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(marker); !bytes.Equal(b, []byte("x\n")) {
		t.Errorf("the command ran %q; want once", b)
	}
	os.Remove(f.Dest)
	f.Command, f.CommandTimeout = []string{"sleep", "5"}, 100*time.Millisecond
	if _, err := f.Render(context.Background(), src); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("slow command: %v", err)
	}
	os.Remove(f.Dest)
	f.Command = []string{"false"}
	if _, err := f.Render(context.Background(), src); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("failing command: %v", err)
	}
}
