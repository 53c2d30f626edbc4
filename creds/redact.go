package creds

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/secretcache/secretcache"
)

// Redacted is what the redacting printers show in place of a secret value.
const Redacted = "[REDACTED]"

// MaxSecretSize is the largest secret value the Parse functions accept: the
// AWS Secrets Manager limit of 65,536 bytes.
const MaxSecretSize = 65536

// redact returns Redacted for a non-empty secret and "" for an empty one, so
// a printed struct still tells whether the value was set.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

// decode unmarshals a JSON object secret into v. Its errors are
// secretcache.ErrNotJSON errors that say where decoding failed, never what
// the input held: Go's syntax errors quote the offending character, which is
// part of a secret.
func decode(kind, value string, v any) error {
	switch {
	case len(value) > MaxSecretSize:
		return &secretcache.Error{Op: "parse", Kind: secretcache.ErrNotJSON,
			Err: fmt.Errorf("%s secret is %d bytes, over the limit of %d", kind, len(value), MaxSecretSize)}
	case strings.TrimSpace(value) == "":
		return &secretcache.Error{Op: "parse", Kind: secretcache.ErrNotJSON, Err: fmt.Errorf("empty %s secret", kind)}
	}
	if err := json.Unmarshal([]byte(value), v); err != nil {
		return &secretcache.Error{Op: "parse", Kind: secretcache.ErrNotJSON, Err: fmt.Errorf("%s secret: %w", kind, jsonProblem(err))}
	}
	return nil
}

func jsonProblem(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var fe *fieldError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Errorf("want a JSON object, not a JSON %s", firstWord(te.Value))
		}
		return fmt.Errorf("field %q: cannot decode a JSON %s into %v", te.Field, firstWord(te.Value), te.Type)
	case errors.As(err, &fe):
		return fe
	}
	return errors.New("cannot decode")
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// fieldError is a problem with one field, naming the field only.
type fieldError struct {
	field, problem string
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %s", e.field, e.problem) }

// invalid returns a secretcache.ErrInvalidRequest error about field.
func invalid(op, field, problem string) error {
	return &secretcache.Error{Op: op, Kind: secretcache.ErrInvalidRequest, Err: &fieldError{field, problem}}
}

// badText reports whether s holds a control character or invalid UTF-8,
// which no host, user name or header value may carry.
func badText(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return true
		}
	}
	return false
}

// firstString returns the first non-empty string.
func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
