package render_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/render"
)

func execErr(t *testing.T, src render.Source, text string) error {
	t.Helper()
	tm, err := render.Parse("t.tmpl", text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	out, err := tm.Execute(context.Background(), src)
	if err == nil {
		t.Fatalf("%s: rendered %q; want an error", text, out)
	}
	return err
}

// Once a secret was read, an error carries nothing derived from a value:
// not a short value, not a nested or non-string JSON value, not a
// transformed (base64) value.
func TestExecErrorsHoldNothingDerivedFromValues(t *testing.T) {
	const long = "s3cr3t-long-value"
	src := mapSource(t, map[string]string{
		"a":    long,
		"s":    "xy",
		"j":    `{"n":{"deep":"nested-val"},"num":987654321,"arr":["elem-val"]}`,
		"json": `{"k":"kv"}`,
	})
	b64 := base64.StdEncoding.EncodeToString([]byte(long))
	for _, tc := range []struct {
		text   string
		values []string
	}{
		{`{{ secret "a" | base64Encode | secretField "b" }}`, []string{long, b64, b64[:8]}},
		{`{{ secret "s" | secret }}`, []string{`"xy"`, "xy:"}},
		{`{{ secret "s" | printf "%s-zz" | secret }}`, []string{"xy-zz"}},
		{`{{ (secretJSON "j").n | printf "%v" | secret }}`, []string{"nested-val"}},
		{`{{ (secretJSON "j").num | printf "%v" | secret }}`, []string{"987654321"}},
		{`{{ index (secretJSON "j").arr 0 | secret }}`, []string{"elem-val"}},
		{`{{ (secretJSON "j").n.deep.x }}`, []string{"nested-val"}},
		{`{{ secret "s" | base64Decode }}`, []string{"xy"}},
		{`{{ (secretJSON "json").k | printf "%d" | secret }}`, []string{"kv"}},
		{`{{ index (secretJSON "json") (secret "s") }}`, []string{`"xy"`}},
	} {
		err := execErr(t, src, tc.text)
		msg := err.Error()
		for _, v := range tc.values {
			if strings.Contains(msg, v) {
				t.Errorf("%s: the error holds %q: %s", tc.text, v, msg)
			}
		}
		if strings.Contains(msg, "\n") || strings.Count(msg, "render:") != 1 || !strings.Contains(msg, "t.tmpl:1:") {
			t.Errorf("%s: want one line with one prefix and the location: %q", tc.text, msg)
		}
		if !errors.Is(err, render.ErrTemplate) {
			t.Errorf("%s: %v is not ErrTemplate", tc.text, err)
		}
	}
	// Our own error naming literal ids and keys is kept.
	err := execErr(t, src, `{{ secret "a" }}{{ secretField "json" "nokey" }}`)
	if !strings.Contains(err.Error(), `"json"`) || !strings.Contains(err.Error(), "nokey") || !errors.Is(err, secretcache.ErrKeyMissing) {
		t.Errorf("literal key: %v", err)
	}
}

func TestSecretJSONNumbersAndCheckedIndex(t *testing.T) {
	src := mapSource(t, map[string]string{"j": `{"n":123456789,"f":1.5,"big":12345678901234567890,"arr":["a","b"],"m":{"x":"1"}}`})
	for _, tc := range []struct{ text, want string }{
		{`{{ (secretJSON "j").n }}`, "123456789"},
		{`{{ (secretJSON "j").big }}`, "12345678901234567890"},
		{`{{ (secretJSON "j").f }}`, "1.5"},
		{`{{ index (secretJSON "j") "n" }}`, "123456789"},
		{`{{ index (secretJSON "j") "arr" 1 }}`, "b"},
		{`{{ index (secretJSON "j") "m" "x" }}`, "1"},
		{`{{ index "abc" 1 }}`, "98"},
	} {
		tm, err := render.Parse("t", tc.text)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tm.Execute(context.Background(), src)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{`{{ index (secretJSON "j") "nokey" }}`, `no key "nokey"`},
		{`{{ index (secretJSON "j") "m" "nokey" }}`, `no key "nokey"`},
	} {
		err := execErr(t, src, tc.text)
		if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, secretcache.ErrKeyMissing) {
			t.Errorf("%s: %v; want %s and ErrKeyMissing", tc.text, err, tc.want)
		}
	}
	for _, text := range []string{
		`{{ index (secretJSON "j") "arr" 2 }}`,
		`{{ index (secretJSON "j") "arr" -1 }}`,
		`{{ index (secretJSON "j") "n" "x" }}`,
		`{{ index nil 1 }}`,
	} {
		if err := execErr(t, src, text); errors.Is(err, secretcache.ErrKeyMissing) {
			t.Errorf("%s: %v is not a missing key", text, err)
		}
	}
}

func TestQuotingFunctions(t *testing.T) {
	for in, want := range map[string]string{
		"plain":              `"plain"`,
		`a"b\c`:              `"a\"b\\c"`,
		"t\tn\nr\r":          `"t\tn\nr\r"`,
		"\x00\x1b\x7f":       `"\x00\x1B\x7F"`,
		"\u0080\u0085\u009f": `"\x80\x85\x9F"`,
		"nb\u00a0sp":         `"nb\xA0sp"`,
		"\u2028\u2029\ufeff": `"\u2028\u2029\uFEFF"`,
		"\ufffe\uffff":       `"\uFFFE\uFFFF"`,
		"é😀\ue000":           "\"é😀\ue000\"",
		"":                   `""`,
	} {
		got, err := render.YAMLQuote(in)
		if err != nil || got != want {
			t.Errorf("YAMLQuote(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	const bad = "pw-\xff-value"
	for name, f := range map[string]func(string) (string, error){
		"yamlQuote": render.YAMLQuote, "jsonQuote": render.JSONQuote, "propertiesEscape": render.PropertiesEscape,
	} {
		got, err := f(bad)
		if err == nil || got != "" || strings.Contains(err.Error(), "pw-") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s of invalid UTF-8: %q, %v", name, got, err)
		}
	}
	src := mapSource(t, map[string]string{"bin": "pw-\xff-value"})
	err := execErr(t, src, `{{ secret "bin" | yamlQuote }}`)
	if !strings.Contains(err.Error(), "yamlQuote: the value is not UTF-8") || strings.Contains(err.Error(), "pw-") {
		t.Errorf("template: %v", err)
	}
}

func TestParseErrorsOneLine(t *testing.T) {
	_, err := render.Parse("x", "{{ secret ")
	if err == nil || strings.Contains(err.Error(), "\n") || !errors.Is(err, render.ErrTemplate) || strings.Count(err.Error(), "render:") != 1 {
		t.Errorf("syntax: %q", err)
	}
	_, err = render.Parse("x", strings.Repeat("x", 2<<20))
	if err == nil || !strings.Contains(err.Error(), "over 1 MiB") || strings.Contains(err.Error(), "2097152") {
		t.Errorf("oversized: %v", err)
	}
}

func TestParseOwnerRange(t *testing.T) {
	for _, s := range []string{"4294967295", "0:4294967295", "99999999999", "1:99999999999999999999999", "-1", "+5", "", "1:", ":1"} {
		if _, _, err := render.ParseOwner(s); err == nil {
			t.Errorf("ParseOwner(%q) accepted", s)
		}
	}
	if u, g, err := render.ParseOwner("4294967294:0"); err != nil || u != 4294967294 || g != 0 {
		t.Errorf("max: %d %d %v", u, g, err)
	}
	if _, err := render.WriteFile(filepath.Join(t.TempDir(), "f"), nil, render.WithOwner(1<<32-1, 0)); err == nil {
		t.Error("WithOwner(4294967295) accepted")
	}
}

func TestCreatedDirectoriesGetTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	base := t.TempDir()
	dest := filepath.Join(base, "a", "b", "f")
	if _, err := render.WriteFile(dest, []byte("x"), render.WithOwner(4321, 8765)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), filepath.Join(base, "a", "b")} {
		if o := ownerOf(t, d); !strings.Contains(o, "4321:8765") {
			t.Errorf("%s owned %s; want 4321:8765", d, o)
		}
	}
	if o := ownerOf(t, base); strings.Contains(o, "4321") {
		t.Errorf("an existing directory was chowned: %s", o)
	}
}

// The command runs for its own timeout, not the read context's deadline.
func TestCommandOutlivesReadDeadline(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	tm, _ := render.Parse("t", `{{ secret "k" }}`)
	src := mapSource(t, map[string]string{"k": "v"})
	f := &render.File{Template: tm, Dest: filepath.Join(dir, "out"), CommandTimeout: 5 * time.Second,
		Command: []string{"sh", "-c", "sleep 0.3; touch " + marker}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if changed, err := f.Render(ctx, src); err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the command did not finish: %v", err)
	}
	// The timeout reported is the command's.
	os.Remove(f.Dest)
	f.Command, f.CommandTimeout = []string{"sleep", "5"}, 150*time.Millisecond
	_, err := f.Render(context.Background(), src)
	var ce *render.CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "timed out after 150ms") {
		t.Errorf("slow command: %v", err)
	}
	// Stop ends it early.
	os.Remove(f.Dest)
	stop := make(chan struct{})
	f.Stop, f.CommandTimeout = stop, 10*time.Second
	time.AfterFunc(100*time.Millisecond, func() { close(stop) })
	start := time.Now()
	_, err = f.Render(context.Background(), src)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("stopped command: %v after %v", err, time.Since(start))
	}
	// So does an explicit cancellation.
	os.Remove(f.Dest)
	f.Stop = nil
	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, ccancel)
	start = time.Now()
	if _, err = f.Render(cctx, src); !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled command: %v after %v", err, time.Since(start))
	}
}
