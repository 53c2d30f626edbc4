package creds

import (
	"errors"
	"fmt"
	"strings"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// Common kinds for the middle part of a secret name.
const (
	KindDatabase = "database"
	KindAPIKey   = "api-key"
	KindOAuth    = "oauth"
)

// MaxSegment is the longest environment, kind or service accepted.
const MaxSegment = 128

// Name is a secret name of the form {environment}/{kind}/{service}, for
// example "prod/database/orders". Each part is 1 to MaxSegment characters
// from a-z, A-Z, 0-9 and "-_.+=@" (the characters AWS allows in a name,
// without "/"), and is neither "." nor "..".
type Name struct {
	Environment string
	Kind        string
	Service     string
}

// NewName checks the three parts and returns the name. Its errors are
// secretcache.ErrInvalidRequest errors naming the bad part.
func NewName(environment, kind, service string) (Name, error) {
	n := Name{Environment: environment, Kind: kind, Service: service}
	if err := n.Validate(); err != nil {
		return Name{}, err
	}
	return n, nil
}

// MustName is NewName that panics on an invalid name, for names written in
// the program's source.
func MustName(environment, kind, service string) Name {
	n, err := NewName(environment, kind, service)
	if err != nil {
		panic(err)
	}
	return n
}

// ParseName splits a secret name into its three parts. It fails with
// secretcache.ErrInvalidRequest for a name that does not have exactly three
// valid parts; an ARN is parsed by the name it holds. Input that is no valid
// secret id (oversized, say) fails before it is split.
func ParseName(s string) (Name, error) {
	if err := secretcache.CheckID(s); err != nil {
		return Name{}, nameErr(err)
	}
	if strings.HasPrefix(s, "arn:") {
		if _, ok := awsname.ParseARN(s); !ok {
			return Name{}, nameErr(errors.New("ARN is not a Secrets Manager secret ARN"))
		}
		s = awsname.NameOf(s)
	}
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Name{}, nameErr(fmt.Errorf("name has %d parts, want {environment}/{kind}/{service}", len(parts)))
	}
	return NewName(parts[0], parts[1], parts[2])
}

// Validate checks the three parts.
func (n Name) Validate() error {
	for _, p := range [...]struct{ what, v string }{{"environment", n.Environment}, {"kind", n.Kind}, {"service", n.Service}} {
		if err := checkSegment(p.v); err != nil {
			return nameErr(fmt.Errorf("%s: %w", p.what, err))
		}
	}
	return nil
}

// String returns "environment/kind/service".
func (n Name) String() string { return n.Environment + "/" + n.Kind + "/" + n.Service }

// Prefix returns the prefix that every secret of the environment starts with,
// "environment/", for listing or prefetching them.
func Prefix(environment string) (string, error) {
	if err := checkSegment(environment); err != nil {
		return "", nameErr(fmt.Errorf("environment: %w", err))
	}
	return environment + "/", nil
}

// KindPrefix returns "environment/kind/", the prefix of every secret of one
// kind in an environment.
func KindPrefix(environment, kind string) (string, error) {
	if err := checkSegment(environment); err != nil {
		return "", nameErr(fmt.Errorf("environment: %w", err))
	}
	if err := checkSegment(kind); err != nil {
		return "", nameErr(fmt.Errorf("kind: %w", err))
	}
	return environment + "/" + kind + "/", nil
}

func checkSegment(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > MaxSegment:
		return fmt.Errorf("%d characters, over the limit of %d", len(s), MaxSegment)
	case s == "." || s == "..":
		return errors.New(`"." and ".." are not allowed`)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.+=@", c) >= 0 {
			continue
		}
		return fmt.Errorf("character %d is not one of a-z A-Z 0-9 - _ . + = @", i+1)
	}
	return nil
}

func nameErr(err error) error {
	return &secretcache.Error{Op: "name", Kind: secretcache.ErrInvalidRequest, Err: err}
}
