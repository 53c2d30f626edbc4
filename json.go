package secretcache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secretcache/secretcache/internal/clip"
)

// jsonFields is a secret's top-level JSON object, parsed once per version:
// string members as their text, other members as raw JSON.
type jsonFields struct {
	m   map[string]string
	err error
}

func parseFields(e *entry) *jsonFields {
	if e.binary() {
		return &jsonFields{err: ErrWrongType}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.val.data), &raw); err != nil || raw == nil {
		return &jsonFields{err: ErrNotJSON}
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		var str string
		if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &str) == nil {
			m[k] = str
		} else {
			m[k] = string(bytes.TrimSpace(v))
		}
	}
	return &jsonFields{m: m}
}

// GetField returns one top-level key of a JSON-object secret: a string member
// as its text, any other member as its JSON. It fails with ErrNotJSON when the
// value is not a JSON object, ErrKeyMissing when the key is absent,
// ErrWrongType for a binary secret, and ErrInvalidRequest for an empty key.
// A cached read parses the JSON once per version and allocates nothing.
func (c *Cache) GetField(ctx context.Context, id, key string, opts ...GetOption) (string, error) {
	if key == "" {
		return "", wrap("field", id, invalid(errors.New("empty JSON key")))
	}
	e, err := c.read(ctx, "field", id, opts)
	if err != nil {
		return "", err
	}
	f := e.fields.Load()
	if f == nil {
		f = parseFields(e)
		e.fields.Store(f)
	}
	if f.err != nil {
		return "", &Error{Op: "field", ID: id, Kind: f.err}
	}
	v, ok := f.m[key]
	if !ok {
		return "", &Error{Op: "field", ID: id, Kind: ErrKeyMissing, Err: fmt.Errorf("no key %q", clip.String(key, 128))}
	}
	return v, nil
}

// GetJSON reads a JSON secret into a T. It fails with ErrNotJSON when the
// value does not decode into T; the error tells where, never what the value
// held.
func GetJSON[T any](ctx context.Context, c *Cache, id string, opts ...GetOption) (T, error) {
	var v T
	if c == nil {
		return v, &Error{Op: "json", ID: id, Kind: ErrInvalidRequest, Err: errors.New("nil cache")}
	}
	e, err := c.read(ctx, "json", id, opts)
	if err != nil {
		return v, err
	}
	if e.binary() {
		return v, &Error{Op: "json", ID: id, Kind: ErrWrongType}
	}
	if err := json.Unmarshal([]byte(e.val.data), &v); err != nil {
		var zero T
		return zero, &Error{Op: "json", ID: id, Kind: ErrNotJSON, Err: jsonProblem(err)}
	}
	return v, nil
}

// jsonProblem describes a decoding error without quoting the input: Go's
// syntax errors quote the offending character, which is part of a secret.
func jsonProblem(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %q: cannot decode a JSON %s into %v", te.Field, firstWord(te.Value), te.Type)
	}
	return errors.New("cannot decode")
}

func firstWord(s string) string {
	for i := range len(s) {
		if s[i] == ' ' {
			return s[:i]
		}
	}
	return s
}
