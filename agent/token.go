package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxTokenBytes caps the length of the SSRF token (and of a token file).
const MaxTokenBytes = 4096

// ErrNoToken is returned by ResolveToken when none of the variables is set.
var ErrNoToken = errors.New("no SSRF token variable is set")

// ResolveToken reads the SSRF token as the AWS agent does: from the first of
// the environment variables names that is set, where a value
// "file:///path" names a file whose trimmed content is the token. lookup is
// os.LookupEnv in production.
//
// Unlike the AWS agent it refuses an empty token (an empty variable, an
// empty file), a token over MaxTokenBytes, and a token with control
// characters: each would let requests through with a trivial header. Errors
// name the variable and the file, never the token.
func ResolveToken(names []string, lookup func(string) (string, bool)) (string, error) {
	if len(names) == 0 {
		return "", fmt.Errorf("%w: the list of variables is empty", ErrNoToken)
	}
	for _, name := range names {
		v, ok := lookup(name)
		if !ok {
			continue
		}
		tok := v
		if path, isFile := strings.CutPrefix(v, "file://"); isFile {
			var err error
			if tok, err = readTokenFile(path); err != nil {
				return "", fmt.Errorf("token variable %s: %w", name, err)
			}
		}
		if err := checkToken(tok); err != nil {
			return "", fmt.Errorf("token variable %s: %w", name, err)
		}
		return tok, nil
	}
	return "", fmt.Errorf("%w: set one of %s", ErrNoToken, strings.Join(names, ", "))
}

func readTokenFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("file:// names no file")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxTokenBytes {
		return "", fmt.Errorf("%s: token file is over %d bytes", path, MaxTokenBytes)
	}
	return strings.TrimSpace(string(data)), nil
}

func checkToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("the token is empty")
	case len(tok) > MaxTokenBytes:
		return fmt.Errorf("the token is over %d bytes", MaxTokenBytes)
	case strings.ContainsFunc(tok, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return errors.New("the token contains control characters")
	}
	return nil
}

// NewToken returns a random 256-bit token in hex, as the AWS agent's
// installer seeds its token file.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
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
