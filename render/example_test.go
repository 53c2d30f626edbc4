package render_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/render"
)

// exampleCache is a cache over two fixed secrets (a real program puts an
// awssm source under it).
func exampleCache() *secretcache.Cache {
	values := map[string]string{
		"prod/db":      `{"username":"app","password":"s3cr3t"}`,
		"prod/api-key": "k-123",
	}
	c, _ := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		v, ok := values[ref.ID]
		if !ok {
			return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: v}, nil
	}))
	return c
}

func ExampleParse() {
	_, err := render.Parse("broken.tmpl", `{{ secret "x" `)
	fmt.Println(err != nil)
	// Output: true
}

func ExampleTemplate_Execute() {
	c := exampleCache()
	defer c.Close()
	t, _ := render.Parse("db.properties", `db.user={{ secretField "prod/db" "username" }}
db.password={{ (secretJSON "prod/db").password | propertiesEscape }}
api.key={{ secret "prod/api-key" }}
`)
	out, _ := t.Execute(context.Background(), render.CacheSource(c))
	fmt.Print(string(out))
	_, err := t2(c)
	fmt.Println(err)
	// Output:
	// db.user=app
	// db.password=s3cr3t
	// api.key=k-123
	// render: missing.tmpl:1:3: executing "missing.tmpl" at <secretField "prod/db" "port">: error calling secretField: secretcache: field "prod/db": JSON key missing: no key "port"
}

func t2(c *secretcache.Cache) ([]byte, error) {
	t, _ := render.Parse("missing.tmpl", `{{ secretField "prod/db" "port" }}`)
	return t.Execute(context.Background(), render.CacheSource(c))
}

func ExampleCacheSource() {
	c := exampleCache()
	defer c.Close()
	v, _ := render.CacheSource(c).GetField(context.Background(), "prod/db", "username")
	fmt.Println(v)
	// Output: app
}

func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "render")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "secrets", "app.env")
	first, _ := render.WriteFile(path, []byte("TOKEN=x\n"))
	again, _ := render.WriteFile(path, []byte("TOKEN=x\n"))
	fi, _ := os.Stat(path)
	fmt.Println(first, again, fi.Mode())
	// Output: true false -rw-------
}

func ExampleWithMode() {
	dir, _ := os.MkdirTemp("", "render")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "nginx.key")
	_, _ = render.WriteFile(path, []byte("key"), render.WithMode(0o640), render.WithDirMode(0o750), render.WithOwner(-1, -1))
	fi, _ := os.Stat(path)
	fmt.Println(fi.Mode())
	// Output: -rw-r-----
}

func ExampleFile_Render() {
	c := exampleCache()
	defer c.Close()
	dir, _ := os.MkdirTemp("", "render")
	defer os.RemoveAll(dir)
	t, _ := render.Parse("app.env", "API_KEY={{ secret \"prod/api-key\" | shellQuote }}\n")
	f := &render.File{Template: t, Dest: filepath.Join(dir, "app.env"), Command: []string{"true"}}
	changed, err := f.Render(context.Background(), render.CacheSource(c))
	fmt.Println(changed, err)
	changed, err = f.Render(context.Background(), render.CacheSource(c))
	fmt.Println(changed, err)
	// Output:
	// true <nil>
	// false <nil>
}

func ExampleShellQuote() {
	fmt.Println(render.ShellQuote("it's"))
	// Output: 'it'\''s'
}

func ExampleJSONQuote() {
	fmt.Println(render.JSONQuote(`a "b"`))
	fmt.Println(render.JSONQuote("\xff"))
	// Output:
	// "a \"b\"" <nil>
	//  jsonQuote: the value is not UTF-8 text
}

func ExampleYAMLQuote() {
	fmt.Println(render.YAMLQuote("a \"b\"\u0085\u2028"))
	// Output: "a \"b\"\x85\u2028" <nil>
}

func ExamplePropertiesEscape() {
	fmt.Println(render.PropertiesEscape("a=b:c é"))
	// Output: a\=b\:c \u00e9 <nil>
}

func ExampleParseMode() {
	m, err := render.ParseMode("0640")
	fmt.Println(m, err)
	_, err = render.ParseMode("0999")
	fmt.Println(err)
	// Output:
	// -rw-r----- <nil>
	// want octal permission bits such as 0600 or 0640
}

func ExampleParseOwner() {
	fmt.Println(render.ParseOwner("1000:33"))
	fmt.Println(render.ParseOwner("1000"))
	fmt.Println(render.ParseOwner("www-data"))
	// Output:
	// 1000 33 <nil>
	// 1000 -1 <nil>
	// 0 0 want UID or UID:GID, numbers
}

// A command that failed after its file was written is a *CommandError
// (the file changed); RunCommand runs it again.
func ExampleFile_RunCommand() {
	c := exampleCache()
	defer c.Close()
	dir, _ := os.MkdirTemp("", "render")
	defer os.RemoveAll(dir)
	t, _ := render.Parse("app.env", "API_KEY={{ secret \"prod/api-key\" }}\n")
	f := &render.File{Template: t, Dest: filepath.Join(dir, "app.env"), Command: []string{"false"}}
	changed, err := f.Render(context.Background(), render.CacheSource(c))
	var ce *render.CommandError
	fmt.Println(changed, errors.As(err, &ce))
	f.Command = []string{"true"}
	fmt.Println(f.RunCommand(context.Background()))
	// Output:
	// true true
	// <nil>
}
