package render

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
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
	text string // the source, to tell its literals in errors
	t    *template.Template
}

// ErrTemplate is the kind of every parse and execution error of a
// template (errors.Is). An execution error also wraps the read error of the
// secret that could not be read, so that errors.Is(err,
// secretcache.ErrNotFound) and errors.As(err, **secretcache.Error) work,
// and secretcache.ErrKeyMissing when a map key was missing.
var ErrTemplate = errors.New("render: template failed")

// templateError is a one-line parse or execution error of a template.
type templateError struct {
	msg   string
	cause error // a parse error of text/template (template source only); nil for execution
	read  error // the read error of a secret, if one failed
	key   bool  // a missing map key
}

func (e *templateError) Error() string { return "render: " + e.msg }

func (e *templateError) Unwrap() []error {
	errs := []error{ErrTemplate}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	if e.read != nil {
		errs = append(errs, e.read)
	}
	if e.key {
		errs = append(errs, secretcache.ErrKeyMissing)
	}
	return errs
}

// Parse parses text as a template called name (used in errors: a file
// name, say). An empty or oversized text, a text that is not UTF-8, and a
// syntax error are refused.
func Parse(name, text string) (*Template, error) {
	switch {
	case text == "":
		return nil, fmt.Errorf("render: template %s is empty", clip.String(name, 256))
	case len(text) > MaxTemplateBytes:
		return nil, fmt.Errorf("render: template %s is over 1 MiB (%d bytes); at most %d bytes are accepted", clip.String(name, 256), MaxTemplateBytes, MaxTemplateBytes)
	case !utf8.ValidString(text):
		return nil, fmt.Errorf("render: template %s is not UTF-8 text", clip.String(name, 256))
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs(nil, nil, nil, nil)).Parse(text)
	if err != nil {
		return nil, &templateError{msg: strings.TrimPrefix(err.Error(), "template: "), cause: err}
	}
	return &Template{name: name, text: text, t: t}, nil
}

// Execute runs the template against src and returns the bytes to write.
//
// An error never holds a value read, nor anything derived from one: when
// the execution fails after a secret was read, the message keeps only the
// template's location and the failing action's source text, and the error
// of one of this package's functions when every id and key it names is a
// literal of the template; otherwise it says "template execution failed".
func (t *Template) Execute(ctx context.Context, src Source) ([]byte, error) {
	if src == nil {
		return nil, errors.New("render: nil source")
	}
	var (
		read    bool  // a value was read
		readErr error // the read that failed
		ourErr  error // the error of one of our functions
		literal bool  // ourErr names only literals of the template
	)
	t2, err := t.t.Clone()
	if err != nil {
		return nil, &templateError{msg: strings.TrimPrefix(err.Error(), "template: ")}
	}
	fail := func(err error, names ...string) error {
		ourErr, literal = err, t.literals(names...)
		return err
	}
	secret := func(id string) (string, error) {
		v, err := src.GetString(ctx, id)
		if err != nil {
			readErr = err
			return "", fail(err, id)
		}
		read = true
		return v, nil
	}
	field := func(id, key string) (string, error) {
		v, err := src.GetField(ctx, id, key)
		if err != nil {
			readErr = err
			return "", fail(err, id, key)
		}
		read = true
		return v, nil
	}
	secretJSON := func(id string) (map[string]any, error) {
		v, err := secret(id)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(v))
		d.UseNumber() // 123456789 stays 123456789, not 1.23456789e+08
		if d.Decode(&m) != nil || m == nil || !atEOF(d) {
			readErr = &secretcache.Error{Op: "secretJSON", ID: id, Kind: secretcache.ErrNotJSON}
			return nil, fail(readErr, id)
		}
		return m, nil
	}
	index := func(item any, keys ...any) (any, error) {
		v, err := checkedIndex(item, keys...)
		if err != nil {
			var names []string
			for _, k := range keys {
				s, ok := k.(string)
				if !ok {
					ourErr, literal = err, false // a number may come from a value
					return nil, err
				}
				names = append(names, s)
			}
			return nil, fail(err, names...)
		}
		return v, nil
	}
	t2.Funcs(funcs(secret, field, secretJSON, index))
	var buf bytes.Buffer
	if err := t2.Execute(&buf, nil); err != nil {
		e := &templateError{read: readErr, key: errors.Is(err, secretcache.ErrKeyMissing)}
		msg := strings.TrimPrefix(err.Error(), "template: ")
		loc, action, rest := splitExecError(msg)
		if strings.HasPrefix(rest, "map has no entry for key ") {
			e.key = true
		}
		if !read {
			e.msg = msg // nothing was read: the message holds no value
			return nil, e
		}
		if loc == "" {
			loc = clip.String(t.name, 256)
		}
		var safe *safeError
		switch {
		case ourErr != nil && literal && errors.Is(err, ourErr):
			e.msg = loc + action + ": " + strings.TrimPrefix(ourErr.Error(), "render: ")
		case errors.As(err, &safe):
			e.msg = loc + action + ": " + safe.Error()
		case e.key && t.missingFieldOK(rest):
			e.msg = loc + action + ": " + rest
		default:
			e.msg = loc + action + ": template execution failed (the message of text/template is withheld: it may quote a secret value)"
		}
		return nil, e
	}
	return buf.Bytes(), nil
}

// literals reports whether every s is a string literal of the template's
// source ("s" or `s`).
func (t *Template) literals(ss ...string) bool {
	for _, s := range ss {
		if !strings.Contains(t.text, strconv.Quote(s)) && (strings.Contains(s, "`") || !strings.Contains(t.text, "`"+s+"`")) {
			return false
		}
	}
	return true
}

// missingFieldOK reports whether rest is text/template's message for a
// missing map key whose name is a field (.name) of the template's source.
func (t *Template) missingFieldOK(rest string) bool {
	q, ok := strings.CutPrefix(rest, "map has no entry for key ")
	if !ok {
		return false
	}
	key, err := strconv.Unquote(q)
	return err == nil && key != "" && !strings.ContainsAny(key, " \t\n\"`.") && strings.Contains(t.text, "."+key)
}

// splitExecError splits an execution error of text/template, without its
// "template: " prefix, into "NAME:LINE:COL" (with an " at <ACTION>" of the
// template's source when present) and the rest. The parts returned are
// template source only: when the shape is not the expected one, the
// location is the text before the first ": " that follows a digit, or "".
func splitExecError(msg string) (loc, action, rest string) {
	i := strings.Index(msg, ": executing ")
	if i < 0 {
		return "", "", ""
	}
	loc = msg[:i]
	after := msg[i:]
	j := strings.Index(after, " at <")
	if j < 0 {
		return loc, "", ""
	}
	ctx := after[j+len(" at <"):]
	k := strings.Index(ctx, ">: ")
	if k < 0 {
		return loc, "", ""
	}
	return loc, " at <" + ctx[:k] + ">", ctx[k+len(">: "):]
}

// checkedIndex is the template's index: like text/template's builtin, but
// a missing map key is an error naming the key (never a value), and an
// index out of range of a slice, an array or a string is an error.
func checkedIndex(item any, keys ...any) (any, error) {
	v := reflect.ValueOf(item)
	if !v.IsValid() {
		return nil, errors.New("index of untyped nil")
	}
	for _, k := range keys {
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil, errors.New("index of nil")
			}
			v = v.Elem()
		}
		kv := reflect.ValueOf(k)
		switch v.Kind() {
		case reflect.Map:
			if !kv.IsValid() || !kv.Type().AssignableTo(v.Type().Key()) {
				if kv.IsValid() && kv.Type().ConvertibleTo(v.Type().Key()) && kv.Kind() == v.Type().Key().Kind() {
					kv = kv.Convert(v.Type().Key())
				} else {
					return nil, fmt.Errorf("index: a key of type %s does not fit a map of %s", typeName(kv), v.Type())
				}
			}
			x := v.MapIndex(kv)
			if !x.IsValid() {
				if s, ok := k.(string); ok {
					return nil, &keyError{key: s}
				}
				return nil, &keyError{key: "(not a string)"}
			}
			v = x
		case reflect.Slice, reflect.Array, reflect.String:
			n, ok := intIndex(kv)
			if !ok {
				return nil, fmt.Errorf("index: cannot index a %s with a %s", v.Kind(), typeName(kv))
			}
			if n < 0 || n >= int64(v.Len()) {
				return nil, fmt.Errorf("index: %d out of range", n)
			}
			v = v.Index(int(n))
		case reflect.Invalid:
			return nil, errors.New("index of nil")
		default:
			return nil, fmt.Errorf("index: can't index item of type %s", v.Type())
		}
	}
	if !v.IsValid() || !v.CanInterface() {
		return nil, nil
	}
	return v.Interface(), nil
}

func typeName(v reflect.Value) string {
	if !v.IsValid() {
		return "nil"
	}
	return v.Type().String()
}

func intIndex(v reflect.Value) (int64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u > math.MaxInt64 {
			return -1, true
		}
		return int64(u), true
	}
	return 0, false
}

func atEOF(d *json.Decoder) bool {
	_, err := d.Token()
	return err == io.EOF
}

// safeError is an error of this package's functions whose message is
// fixed (it holds no input).
type safeError struct{ msg string }

func (e *safeError) Error() string { return e.msg }

var (
	errBase64 = &safeError{"base64Decode: the text is not standard base64"}
)

// keyError is a missing map key of index.
type keyError struct{ key string }

func (e *keyError) Error() string {
	return fmt.Sprintf("index: no key %s", strconv.Quote(clip.String(e.key, 128)))
}

func (e *keyError) Unwrap() error { return secretcache.ErrKeyMissing }

func funcs(secret func(string) (string, error), field func(string, string) (string, error), secretJSON func(string) (map[string]any, error), index func(any, ...any) (any, error)) template.FuncMap {
	if index == nil {
		index = checkedIndex
	}
	return template.FuncMap{
		"secret":       secret,
		"secretField":  field,
		"secretJSON":   secretJSON,
		"index":        index,
		"base64Encode": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode": func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", errBase64
			}
			return string(b), nil
		},
		"shellQuote":       ShellQuote,
		"jsonQuote":        JSONQuote,
		"yamlQuote":        YAMLQuote,
		"propertiesEscape": PropertiesEscape,
	}
}

// ShellQuote quotes s as one word for a POSIX shell ('...').
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// JSONQuote returns s as a JSON string literal (with quotes). Text that is
// not UTF-8 is an error (it is not replaced), whose message holds no part
// of s.
func JSONQuote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errJSONUTF8
	}
	b, _ := json.Marshal(s) // a valid string always marshals
	return string(b), nil
}

var (
	errJSONUTF8       = &safeError{"jsonQuote: the value is not UTF-8 text"}
	errYAMLUTF8       = &safeError{"yamlQuote: the value is not UTF-8 text"}
	errPropertiesUTF8 = &safeError{"propertiesEscape: the value is not UTF-8 text"}
)

// YAMLQuote returns s as a YAML double-quoted scalar (with quotes), the
// same text for YAML 1.1 and 1.2 parsers: '"' and '\\' are escaped, and so
// is every character outside YAML's printable set (C0 controls, DEL, C1
// controls, U+FFFE, U+FFFF), plus U+0085, U+00A0, U+2028, U+2029 and U+FEFF,
// which parsers fold, trim or refuse: as \t, \n, \r, \xXX or \uXXXX. Text that is not UTF-8 is an error whose message holds no
// part of s.
func YAMLQuote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errYAMLUTF8
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"', r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r <= 0xa0:
			fmt.Fprintf(&b, `\x%02X`, r)
		case r == 0x2028, r == 0x2029, r == 0xfeff, r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// PropertiesEscape escapes s as the value of a Java .properties line:
// backslashes, separators, comment marks, a leading space, line breaks
// and non-ASCII characters (as \uXXXX, surrogate pairs above U+FFFF).
// Text that is not UTF-8 is an error whose message holds no part of s.
func PropertiesEscape(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errPropertiesUTF8
	}
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
	return b.String(), nil
}
