package secretcache

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"

	"github.com/secretcache/secretcache/internal/clip"
)

// Error kinds. Every error the cache returns matches exactly one of these with
// errors.Is. Sources map their own failures into them by returning an *Error
// (or any error wrapping one of these sentinels).
var (
	// ErrNotFound: the secret, version or stage does not exist. Permanent.
	ErrNotFound = errors.New("secret not found")
	// ErrAccessDenied: the caller may not read the secret (IAM or KMS). Permanent.
	ErrAccessDenied = errors.New("access denied")
	// ErrDecryption: the secret cannot be decrypted with its KMS key. Permanent.
	ErrDecryption = errors.New("decryption failure")
	// ErrDeleted: the secret is scheduled for deletion. Permanent.
	ErrDeleted = errors.New("secret deleted")
	// ErrInvalidRequest: a malformed id, option or parameter. Permanent.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrThrottled: the backend throttled the call. Transient.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: network error, timeout or 5xx. Transient.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrMismatch: the source's answer was refused: another secret (by the
	// source's Description.SameSecret), version or stage than the one asked
	// for, or a malformed answer (no value, both a string and a binary
	// value, no secret and no error, a batch of the wrong length or a batch
	// result naming no secret). The answer is discarded and a cached value
	// is kept (served stale within WithMaxStale). Transient.
	ErrMismatch = errors.New("source answer refused")
	// ErrWrongType: a string was asked of a binary secret or the reverse.
	ErrWrongType = errors.New("wrong secret type")
	// ErrNotJSON: the secret value is not the JSON the caller asked for.
	ErrNotJSON = errors.New("secret is not valid JSON")
	// ErrKeyMissing: the JSON secret has no such top-level key.
	ErrKeyMissing = errors.New("JSON key missing")
	// ErrClosed: the cache was closed.
	ErrClosed = errors.New("cache closed")
)

var kinds = [...]error{ErrNotFound, ErrAccessDenied, ErrDecryption, ErrDeleted, ErrInvalidRequest,
	ErrThrottled, ErrUnavailable, ErrMismatch, ErrWrongType, ErrNotJSON, ErrKeyMissing, ErrClosed}

var kindNames = [...]string{"not_found", "access_denied", "decryption_failure", "deleted", "invalid_request",
	"throttled", "unavailable", "mismatch", "wrong_type", "not_json", "key_missing", "closed"}

// Kinds returns every error kind, in a fixed order, for code that keeps a
// counter, a metric or a status code per kind; KindName names each one.
func Kinds() []error { return slices.Clone(kinds[:]) }

// Error is the error type of this package and the one sources should return.
// Its message names the secret id, never a value.
type Error struct {
	// Op is what was being done: the Cache method that failed ("get" for
	// Get, GetString and GetBinary, "field", "json", "refresh", "warm"), a
	// source's call ("fetch", "list" in awssm), or, from the packages built
	// on the cache, their name or step ("rotate", "registry", "httpsecret",
	// "sqlsecret", "parse", "name").
	Op   string
	ID   string // the secret id (name or ARN) asked for
	Kind error  // one of the Err* sentinels
	Err  error  // the underlying cause, if any (an AWS error, say)
}

// NewError returns an *Error of the given kind for the secret id.
func NewError(kind error, id string, cause error) *Error {
	return &Error{Kind: kind, ID: id, Err: cause}
}

func (e *Error) Error() string {
	s := "secretcache: "
	if e.Op != "" {
		s += e.Op + " "
	}
	if e.ID != "" {
		s += strconv.Quote(e.ID) + ": "
	}
	if e.Kind != nil {
		s += e.Kind.Error()
	} else {
		s += "error"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the kind sentinel and the cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	switch {
	case e.Kind == nil:
		return []error{e.Err}
	case e.Err == nil:
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// KindOf returns the Err* sentinel that err matches, or nil. Context errors
// and network errors are ErrUnavailable; any other unknown error is
// ErrUnavailable too, since a cache should treat what it cannot classify as
// passing.
func KindOf(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrUnavailable
}

// KindName returns a short, stable, label-safe name of err's kind
// ("not_found", "throttled", ...), or "" for a nil error.
func KindName(err error) string {
	k := KindOf(err)
	for i, x := range kinds {
		if x == k {
			return kindNames[i]
		}
	}
	return ""
}

func kindIndex(err error) int {
	k := KindOf(err)
	for i, x := range kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// IsTransient reports whether err is worth retrying and justifies serving a
// stale value: throttling, unavailability, timeouts, network errors, and an
// answer for the wrong secret.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return true
	}
	switch KindOf(err) {
	case ErrThrottled, ErrUnavailable, ErrMismatch:
		return true
	}
	return false
}

// IsPermanent reports whether err means the secret cannot be had until
// something changes (not found, access denied, deleted, decryption failure,
// invalid request). The cache drops its copy on such an error: a revoked
// secret must not live on.
func IsPermanent(err error) bool {
	switch KindOf(err) {
	case ErrNotFound, ErrAccessDenied, ErrDecryption, ErrDeleted, ErrInvalidRequest:
		return !IsTransient(err)
	}
	return false
}

// wrap labels err, met by the public method op (a read, Refresh or Warm)
// of id, with op and id: the one place this package wraps an error. An
// invalid id is quoted in part only.
func wrap(op, id string, err error) error {
	if CheckID(id) != nil {
		id = clip.ID(id)
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Op == op && e.ID == id {
			return e
		}
		return &Error{Op: op, ID: id, Kind: KindOf(e), Err: e.Err}
	}
	return &Error{Op: op, ID: id, Kind: KindOf(err), Err: err}
}

// invalid is the error of a malformed argument.
func invalid(err error) error { return &Error{Kind: ErrInvalidRequest, Err: err} }
