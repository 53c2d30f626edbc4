package rotate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/secretcache/secretcache"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrBuild: the Build function failed for a secret version.
	ErrBuild = errors.New("build failed")
	// ErrValidation: a newly built resource failed its Validate function;
	// the resource in use stays.
	ErrValidation = errors.New("validation failed")
	// ErrNotStarted: the resource has not been started.
	ErrNotStarted = errors.New("not started")
	// ErrClosed: the resource or registry was closed.
	ErrClosed = errors.New("closed")
	// ErrUnknown: no resource of that name in the registry.
	ErrUnknown = errors.New("unknown resource")
	// ErrDuplicate: a resource of that name is already in the registry.
	ErrDuplicate = errors.New("duplicate resource name")
)

// Error is a failure of one rotating resource. It names the resource, the
// secret and the version, never a value; Err is what Build, Validate or the
// cache returned (Build and Validate functions must not put secret values in
// their errors either).
type Error struct {
	Name      string // registry name of the resource, "" outside a registry
	SecretID  string
	VersionID string // the version being built, if known
	Op        string // "read", "build", "validate", "start", "close"
	Kind      error  // ErrBuild, ErrValidation, ErrNotStarted, ErrClosed, or nil for a cache error
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("rotate: ")
	b.WriteString(e.Op)
	if e.Name != "" {
		b.WriteString(" " + strconv.Quote(e.Name))
	}
	b.WriteString(" (secret " + strconv.Quote(e.SecretID))
	if e.VersionID != "" {
		b.WriteString(" version " + strconv.Quote(e.VersionID))
	}
	b.WriteString(")")
	if e.Kind != nil {
		b.WriteString(": " + e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes Kind and Err to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// errorKind is the label-safe kind of err shown in Health: never a value.
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrValidation):
		return "validation_failed"
	case errors.Is(err, ErrBuild):
		return "build_failed"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	var se *secretcache.Error
	if errors.As(err, &se) {
		return "secret_" + secretcache.KindName(err)
	}
	return "failed"
}

// MissingSecret is one required secret that Registry.Start could not read.
type MissingSecret struct {
	SecretID  string
	Kind      string   // secretcache.KindName of the failure: "not_found", "access_denied", ...
	Resources []string // names of the resources that need it; empty for Require'd ids
	Err       error
}

// MissingSecretsError is returned by Registry.Start when required secrets
// cannot be read. It names every one of them and why, never a value.
// errors.Is sees through it to the cache's kinds (secretcache.ErrNotFound,
// secretcache.ErrAccessDenied, ...).
type MissingSecretsError struct {
	Missing []MissingSecret
}

func (e *MissingSecretsError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		parts[i] = strconv.Quote(m.SecretID) + " (" + m.Kind
		if len(m.Resources) > 0 {
			parts[i] += "; needed by " + strings.Join(m.Resources, ", ")
		}
		parts[i] += ")"
	}
	return fmt.Sprintf("rotate: %d required secret(s) unavailable: %s", len(e.Missing), strings.Join(parts, ", "))
}

// Unwrap returns the error of each missing secret.
func (e *MissingSecretsError) Unwrap() []error {
	out := make([]error, 0, len(e.Missing))
	for _, m := range e.Missing {
		if m.Err != nil {
			out = append(out, m.Err)
		}
	}
	return out
}

// secretErrors walks err's tree and returns the *secretcache.Error of each
// id it names.
func secretErrors(err error) map[string]*secretcache.Error {
	out := map[string]*secretcache.Error{}
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if se, ok := err.(*secretcache.Error); ok && se.ID != "" {
			if _, seen := out[se.ID]; !seen {
				out[se.ID] = se
			}
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
