package render

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// Source is what a template reads secrets from. CacheSource adapts a
// *secretcache.Cache.
type Source interface {
	GetString(ctx context.Context, id string) (string, error)
	GetField(ctx context.Context, id, key string) (string, error)
}

// CacheSource returns c as a Source (its reads use the default stage).
func CacheSource(c *secretcache.Cache) Source { return cacheSource{c} }

type cacheSource struct{ c *secretcache.Cache }

func (s cacheSource) GetString(ctx context.Context, id string) (string, error) {
	return s.c.GetString(ctx, id)
}

func (s cacheSource) GetField(ctx context.Context, id, key string) (string, error) {
	return s.c.GetField(ctx, id, key)
}

// MaxTemplateBytes is the largest template Parse accepts.
const MaxTemplateBytes = 1 << 20

// Template is a parsed template. It is safe for concurrent use.
type Template struct {
	name string
	t    *template.Template
}

// ErrTemplate is the kind of every parse and execution error of a
// template (errors.Is); the secret errors of a read are joined to it, so
// that errors.Is(err, secretcache.ErrNotFound) also works.
var ErrTemplate = errors.New("render: template failed")

// Parse parses text as a template called name (used in errors: a file
// name, say). An empty or oversized text, a text that is not UTF-8, and a
// syntax error are refused.
func Parse(name, text string) (*Template, error) {
	switch {
	case text == "":
		return nil, fmt.Errorf("render: template %s is empty", clip.String(name, 256))
	case len(text) > MaxTemplateBytes:
		return nil, fmt.Errorf("render: template %s is %d bytes; at most %d are accepted", clip.String(name, 256), len(text), MaxTemplateBytes)
	case !utf8.ValidString(text):
		return nil, fmt.Errorf("render: template %s is not UTF-8 text", clip.String(name, 256))
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs(nil, nil, nil)).Parse(text)
	if err != nil {
		return nil, errors.Join(ErrTemplate, err)
	}
	return &Template{name: name, t: t}, nil
}

// Execute runs the template against src and returns the bytes to write.
func (t *Template) Execute(ctx context.Context, src Source) ([]byte, error) {
	if src == nil {
		return nil, errors.New("render: nil source")
	}
	var seen []string // values read, to keep them out of errors
	var readErr error
	t2, err := t.t.Clone()
	if err != nil {
		return nil, errors.Join(ErrTemplate, err)
	}
	secret := func(id string) (string, error) {
		v, err := src.GetString(ctx, id)
		if err != nil {
			readErr = err
			return "", err
		}
		seen = append(seen, v)
		return v, nil
	}
	t2.Funcs(funcs(secret, func(id, key string) (string, error) {
		v, err := src.GetField(ctx, id, key)
		if err != nil {
			readErr = err
			return "", err
		}
		seen = append(seen, v)
		return v, nil
	}, func(id string) (map[string]any, error) {
		v, err := secret(id)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if json.Unmarshal([]byte(v), &m) != nil || m == nil {
			readErr = &secretcache.Error{Op: "secretJSON", ID: id, Kind: secretcache.ErrNotJSON}
			return nil, readErr
		}
		for _, x := range m {
			if s, ok := x.(string); ok {
				seen = append(seen, s)
			}
		}
		return m, nil
	}))
	var buf bytes.Buffer
	if err := t2.Execute(&buf, nil); err != nil {
		msg := err.Error()
		for _, v := range seen {
			if len(v) >= 3 && (strings.Contains(msg, v) || strings.Contains(msg, strings.Trim(strconv.Quote(v), `"`))) {
				msg = fmt.Sprintf("template %s failed (the message of text/template is withheld: it quoted a secret value)", t.name)
				break
			}
		}
		e := &execError{msg: msg, read: readErr}
		return nil, e
	}
	return buf.Bytes(), nil
}

type execError struct {
	msg  string
	read error
}

func (e *execError) Error() string { return "render: " + strings.TrimPrefix(e.msg, "template: ") }

func (e *execError) Unwrap() []error {
	if e.read != nil {
		return []error{ErrTemplate, e.read}
	}
	return []error{ErrTemplate}
}

func funcs(secret func(string) (string, error), field func(string, string) (string, error), secretJSON func(string) (map[string]any, error)) template.FuncMap {
	return template.FuncMap{
		"secret":       secret,
		"secretField":  field,
		"secretJSON":   secretJSON,
		"base64Encode": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode": func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", errors.New("base64Decode: the text is not standard base64")
			}
			return string(b), nil
		},
		"shellQuote":       ShellQuote,
		"jsonQuote":        JSONQuote,
		"yamlQuote":        JSONQuote, // a JSON string is a YAML double-quoted scalar
		"propertiesEscape": PropertiesEscape,
	}
}

// ShellQuote quotes s as one word for a POSIX shell ('...').
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// JSONQuote returns s as a JSON string literal (with quotes), which is
// also a YAML double-quoted scalar. Invalid UTF-8 becomes U+FFFD.
func JSONQuote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// PropertiesEscape escapes s as the value of a Java .properties line:
// backslashes, separators, comment marks, a leading space, line breaks
// and non-ASCII characters (as \uXXXX, surrogate pairs above U+FFFF).
func PropertiesEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\', r == '=', r == ':', r == '#', r == '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == ' ' && i == 0:
			b.WriteString(`\ `)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
