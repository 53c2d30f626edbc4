package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Token length limits, in bytes. A token shorter than MinTokenBytes is
// accepted, as the AWS agent accepts it, with a warning: it is guessable.
const (
	MinTokenBytes = 16
	MaxTokenBytes = 4096
)

// tokenRule says what a token may be, for error messages.
const tokenRule = "a token must be 1 to 4096 bytes of printable ASCII (16 or more recommended), with no leading or trailing space"

// ErrNoToken is returned by LoadToken when none of the variables is set.
var ErrNoToken = errors.New("no SSRF token variable is set")

// ErrBadToken matches (errors.Is) every other error of LoadToken: a token
// file that cannot be read or is refused, a token that breaks the rules.
var ErrBadToken = errors.New("bad SSRF token")

// tokenError is an error of LoadToken other than ErrNoToken.
type tokenError struct{ msg string }

func (e *tokenError) Error() string        { return e.msg }
func (e *tokenError) Is(target error) bool { return target == ErrBadToken }

// TokenSource says where the SSRF token came from; it never holds the token.
type TokenSource struct {
	Var   string // the environment variable that was set ("" for WithToken)
	File  string // the file it named with file:///path, or ""
	Bytes int    // the token's length
}

func (s TokenSource) String() string {
	switch {
	case s.Var == "":
		return fmt.Sprintf("set by the program (WithToken), %d bytes", s.Bytes)
	case s.File != "":
		return fmt.Sprintf("%s (file %s), %d bytes", s.Var, s.File, s.Bytes)
	}
	return fmt.Sprintf("%s, %d bytes", s.Var, s.Bytes)
}

// LoadToken reads the SSRF token as the AWS agent does: from the first of
// the environment variables names that is set, where a value
// "file:///path" names a file holding it. lookup is os.LookupEnv in
// production. It also says where the token came from, and logs to log
// (nil: no logs).
//
// A token file is read as the AWS agent's installer writes it: one
// trailing newline ("\n" or "\r\n") is dropped. The file must pass the
// rule of the agent's key files: a regular file, not writable by every
// user, owned by root or the agent's user; otherwise it is refused. A file
// readable by every user is accepted with a warning; one readable by its
// group is logged at info level (the usual layout: applications in that
// group read the token).
//
// Unlike the AWS agent, the token itself must be 1 to 4096 bytes of
// printable ASCII without leading or trailing space: HTTP strips the
// spaces around header values, so a token with them (a stray space or
// newline in the variable) would never match a request. A token shorter
// than MinTokenBytes is accepted with a warning (it is guessable). Errors
// and logs name the variable and the file, never the token.
func LoadToken(names []string, lookup func(string) (string, bool), log *slog.Logger) (string, TokenSource, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(names) == 0 {
		return "", TokenSource{}, fmt.Errorf("%w: the list of variables (ssrf_env_variables) is empty", ErrNoToken)
	}
	for _, name := range names {
		v, ok := lookup(name)
		if !ok {
			continue
		}
		src := TokenSource{Var: name}
		tok := v
		if path, isFile := strings.CutPrefix(v, "file://"); isFile {
			src.File = path
			var err error
			if tok, err = readTokenFile(path, log); err != nil {
				return "", src, &tokenError{fmt.Sprintf("SSRF token from %s: %v", name, err)}
			}
		}
		if err := checkToken(tok); err != nil {
			where := name
			if src.File != "" {
				where += " (file " + src.File + ")"
			}
			return "", src, &tokenError{fmt.Sprintf("SSRF token from %s: %v", where, err)}
		}
		src.Bytes = len(tok)
		if len(tok) < MinTokenBytes {
			log.Warn("secretcache agent: the SSRF token is short and guessable; use 16 bytes or more",
				"variable", name, "file", src.File, "bytes", len(tok))
		}
		return tok, src, nil
	}
	return "", TokenSource{}, fmt.Errorf("%w: set one of %s to the token, or to file:///path of a file holding it", ErrNoToken, strings.Join(names, ", "))
}

func readTokenFile(path string, log *slog.Logger) (string, error) {
	if path == "" {
		return "", errors.New("file:// names no file: use file:///absolute/path")
	}
	data, fi, err := readChecked(path, "token file", MaxTokenBytes+2)
	if err != nil {
		return "", err
	}
	logReadable(log, "token file", path, fi, false)
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}

func checkToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("the token is empty; " + tokenRule)
	case strings.ContainsFunc(tok, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return errors.New("the token contains control characters (a newline, a tab...); " + tokenRule)
	case strings.ContainsFunc(tok, func(r rune) bool { return r > 0x7e }):
		return errors.New("the token contains non-ASCII characters, which HTTP clients encode differently; " + tokenRule)
	case strings.TrimSpace(tok) != tok:
		return errors.New("the token has leading or trailing spaces, which HTTP strips from header values, so no request would match it; " + tokenRule)
	case len(tok) > MaxTokenBytes:
		return fmt.Errorf("the token is %d bytes; %s", len(tok), tokenRule)
	}
	return nil
}

// tokenChecker compares request headers with the token in constant time.
// It compares SHA-256 digests, so that neither the content nor the length of
// the token leaks through timing.
type tokenChecker struct {
	headers []string // canonical header names
	sum     [32]byte
}

func newTokenChecker(token string, headers []string) *tokenChecker {
	t := &tokenChecker{sum: sha256.Sum256([]byte(token))}
	for _, h := range headers {
		t.headers = append(t.headers, canonicalHeader(h))
	}
	return t
}

// ok reports whether one of the token headers carries the token.
func (t *tokenChecker) ok(h map[string][]string) bool {
	good := 0
	for _, name := range t.headers {
		vs := h[name]
		if len(vs) == 0 || len(vs[0]) > MaxTokenBytes {
			continue
		}
		sum := sha256.Sum256([]byte(vs[0]))
		good |= subtle.ConstantTimeCompare(sum[:], t.sum[:])
	}
	return good == 1
}
