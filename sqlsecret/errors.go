package sqlsecret

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/secretcache/secretcache"
)

// ErrAuth is matched (errors.Is) by a connection error whose last attempt
// the server refused for the credentials: on PostgreSQL SQLSTATE 28P01
// (invalid_password) or 28000 (invalid_authorization_specification), on
// MySQL and MariaDB error 1045 (ER_ACCESS_DENIED_ERROR).
var ErrAuth = errors.New("authentication failed")

// Error is a failed Connect. It names the secret, the version and stage
// last tried, the number of attempts and every credential tried (by stage
// and version), never a password. errors.As finds
// the server's *pgconn.PgError or *mysql.MySQLError, net and context errors;
// errors.Is finds ErrAuth and the secretcache kinds.
type Error struct {
	SecretID  string
	VersionID string // version of the credentials last tried, if any
	Stage     string // how they were chosen: "AWSCURRENT", "AWSPENDING", "last-good" or "pinned"
	SQLState  string // the server's SQLSTATE, if it answered with an error
	// Code is the server's error code: the SQLSTATE on PostgreSQL, the error
	// number on MySQL and MariaDB ("1045": access denied).
	Code     string
	Attempts int // connection attempts made
	// Tried lists the attempts of the Connect in order, the last one too; an
	// AWSPENDING version may appear twice (see Connector). Empty for an
	// error that was no login attempt's.
	Tried []Attempt
	msg   string // the driver's message, without the password
	errs  []error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sqlsecret: connect with secret ")
	b.WriteString(strconv.Quote(e.SecretID))
	if e.VersionID != "" {
		b.WriteString(" version " + strconv.Quote(e.VersionID))
	}
	if e.Stage != "" {
		b.WriteString(" (" + e.Stage + ")")
	}
	if e.Attempts > 0 {
		b.WriteString(" after " + strconv.Itoa(e.Attempts) + " attempt(s)")
	}
	if len(e.Tried) > 1 {
		b.WriteString(" (tried")
		for i, a := range e.Tried {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(" " + a.Stage + " " + strconv.Quote(a.VersionID))
		}
		b.WriteByte(')')
	}
	if e.msg != "" {
		b.WriteString(": " + e.msg)
	}
	return b.String()
}

// Attempt is one login of a Connect: how the credentials were chosen
// ("AWSCURRENT", "AWSPENDING", "last-good" or "pinned") and their version.
type Attempt struct {
	Stage     string
	VersionID string
}

// Unwrap exposes ErrAuth, the *pgconn.PgError or *mysql.MySQLError (a
// copy, its message without the password), and net, context and
// secretcache errors.
func (e *Error) Unwrap() []error { return e.errs }

// sanitize turns a driver error of an attempt with eng into an *Error that
// keeps what callers match on and drops what may hold the password (pgx's
// ConnectError carries the whole connection config, password included).
// Errors that are no server's answer keep only their net and context
// errors.
func sanitize(eng *engine, err error, id, version, stage, password string, attempts int) *Error {
	e := &Error{SecretID: id, VersionID: version, Stage: stage, Attempts: attempts, msg: scrub(err.Error(), password)}
	if state, code, match := eng.server(err, password); match != nil {
		e.SQLState, e.Code = state, code
		if eng.refused(err) {
			e.errs = append(e.errs, ErrAuth)
		}
		e.errs = append(e.errs, match)
	}
	var se *secretcache.Error
	if errors.As(err, &se) {
		e.errs = append(e.errs, se)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		e.errs = append(e.errs, context.DeadlineExceeded)
	} else if errors.Is(err, context.Canceled) {
		e.errs = append(e.errs, context.Canceled)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		e.errs = append(e.errs, ne)
	}
	return e
}

// scrub replaces the password in s, a last line of defence: driver
// messages do not hold it.
func scrub(s, password string) string {
	if len(password) >= 4 && strings.Contains(s, password) {
		return strings.ReplaceAll(s, password, "[REDACTED]")
	}
	return s
}
