package ssmparam

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// ReferencePrefix is the name prefix under which Parameter Store reads a
// Secrets Manager secret: /aws/reference/secretsmanager/ID.
const ReferencePrefix = "/aws/reference/secretsmanager/"

// MaxNameLength is the longest parameter name or ARN accepted (AWS: 2048
// for a name with its ARN prefix).
const MaxNameLength = 2048

// maxLabel is the longest label AWS accepts.
const maxLabel = 100

// Stage prefixes: a parameter's type and data type ride in the
// VersionStages of its Secret. No label can hold them, since AWS refuses a
// label beginning with "ssm".
const (
	TypeStagePrefix     = "ssm:type="
	DataTypeStagePrefix = "ssm:datatype="
)

// selector is a parsed id: the name (or ARN) and its selector, if any.
type selector struct {
	name    string // the name or ARN, without the selector
	version string // digits, when the selector is a version
	label   string // when the selector is a label
}

// sent is the name as GetParameter takes it: name[:version|:label].
func (s selector) sent() string {
	switch {
	case s.version != "":
		return s.name + ":" + s.version
	case s.label != "":
		return s.name + ":" + s.label
	}
	return s.name
}

// splitSelector cuts id into name and selector text (after the last colon
// past an ARN's resource part).
func splitSelector(id string) (name, sel string, has bool) {
	from := 0
	if strings.HasPrefix(id, "arn:") {
		i := strings.Index(id, ":parameter/")
		if i < 0 {
			return id, "", false
		}
		from = i + len(":parameter/")
	}
	if j := strings.LastIndexByte(id[from:], ':'); j >= 0 {
		return id[:from+j], id[from+j+1:], true
	}
	return id, "", false
}

// baseName returns id without a selector: what SameSecret and NameOf match.
func baseName(id string) string {
	n, _, _ := splitSelector(id)
	return n
}

// parseRef checks ref and returns what to send. A selector may be given in
// the id (name:3, name:label) or in the Ref (VersionID "3", VersionStage
// "label"), not both.
func parseRef(ref secretcache.Ref) (selector, error) {
	bad := func(format string, a ...any) (selector, error) {
		return selector{}, &secretcache.Error{Op: "fetch", ID: clip.ID(ref.ID), Kind: secretcache.ErrInvalidRequest,
			Err: fmt.Errorf(format, a...)}
	}
	if err := secretcache.CheckID(ref.ID); err != nil {
		return bad("%v", err)
	}
	name, sel, has := splitSelector(ref.ID)
	if err := checkName(name); err != nil {
		return bad("%v", err)
	}
	if has && (ref.VersionID != "" || ref.VersionStage != "") {
		return bad("parameter id has a selector and the read names a version or label too; give one")
	}
	if ref.VersionID != "" && ref.VersionStage != "" {
		return bad("give a version or a label, not both")
	}
	s := selector{name: name}
	switch {
	case ref.VersionID != "":
		sel, has = ref.VersionID, true
		if !digits(sel) {
			return bad("version must be a positive number")
		}
	case ref.VersionStage != "":
		sel, has = ref.VersionStage, true
		if digits(sel) && !isReference(NameOf(name)) {
			return bad("label must not be a number (a number is a version)")
		}
	}
	if !has {
		return s, nil
	}
	if digits(sel) {
		if n, err := strconv.ParseInt(sel, 10, 64); err != nil || n < 1 {
			return bad("version must be a positive number")
		}
		s.version = sel
		return s, nil
	}
	if isReference(NameOf(name)) {
		// A Secrets Manager stage (AWSPREVIOUS) or version id: the
		// secret's rules, not a label's; CheckID already refused spaces.
		if len(sel) > 256 {
			return bad("secret stage is %d bytes, over the limit of 256", len(sel))
		}
	} else if err := checkLabel(sel); err != nil {
		return bad("%v", err)
	}
	s.label = sel
	return s, nil
}

func digits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// checkName applies Parameter Store's naming: letters, digits and .-_/ (and
// the +=@ of a Secrets Manager name after ReferencePrefix), an ARN of an
// ssm parameter, at most MaxNameLength bytes.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty parameter name")
	}
	if len(name) > MaxNameLength {
		return fmt.Errorf("parameter name is %d bytes, over the limit of %d", len(name), MaxNameLength)
	}
	rest := name
	if strings.HasPrefix(name, "arn:") {
		i := strings.Index(name, ":parameter/")
		if i < 0 || !strings.HasPrefix(name, "arn:aws") {
			return errors.New("parameter ARN must be arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME")
		}
		rest = name[i+len(":parameter"):] // "/x" or "/a/b"
	}
	allowed := "._-/"
	if strings.HasPrefix(rest, ReferencePrefix) {
		allowed += "+=@"
		if len(rest) == len(ReferencePrefix) {
			return errors.New("parameter name " + ReferencePrefix + " names no secret")
		}
	}
	if strings.ContainsFunc(rest, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(allowed, r))
	}) {
		return errors.New("parameter name may hold letters, digits and ._-/ only (and a selector :VERSION or :LABEL)")
	}
	return nil
}

// CheckName reports whether name (with an optional selector :VERSION or
// :LABEL) is an id Fetch accepts: a parameter name of letters, digits and
// ._-/, an ssm parameter ARN, or ReferencePrefix+ID, at most MaxNameLength
// bytes. The error does not quote name.
func CheckName(name string) error {
	_, err := parseRef(secretcache.Ref{ID: name})
	if err != nil {
		var se *secretcache.Error
		if errors.As(err, &se) && se.Err != nil {
			return se.Err
		}
	}
	return err
}

// CheckPath reports whether path is one ListNames accepts. The error does
// not quote path.
func CheckPath(path string) error { return checkPath(path) }

// checkLabel applies AWS's label rules.
func checkLabel(l string) error {
	lower := strings.ToLower(l)
	switch {
	case len(l) > maxLabel:
		return fmt.Errorf("label is %d bytes, over the limit of %d", len(l), maxLabel)
	case strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm"):
		return errors.New("label must not begin with aws or ssm")
	case l[0] >= '0' && l[0] <= '9':
		return errors.New("label must not begin with a digit")
	case strings.ContainsFunc(l, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}):
		return errors.New("label may hold letters, digits and ._- only")
	}
	return nil
}

// sameParameter reports whether an answer naming name and arn can be the
// parameter id names (selector ignored): by name, by ARN, or by the name
// inside the ARN; an id that is an ARN takes only an answer with that ARN
// (or with none).
func sameParameter(id, name, arn string) bool {
	base := baseName(id)
	if name == "" && arn == "" {
		return true
	}
	if base == name || base == arn {
		return true
	}
	if ref, ok := strings.CutPrefix(base, ReferencePrefix); ok && ref == name {
		return true // a reference answered with the secret's name (moto does)
	}
	if strings.HasPrefix(base, "arn:") {
		// Asked by ARN: an answer's own ARN must be that one (another
		// account's or region's parameter of the same name is another
		// parameter); only an answer without an ARN is matched by name.
		if arn != "" {
			return false // base == arn was checked above
		}
		return nameOfARN(base) == name
	}
	return arn != "" && nameOfARN(arn) == base
}

// nameOfARN is the parameter name in an ARN: "/a/b" for
// ...:parameter/a/b, "x" for ...:parameter/x.
func nameOfARN(arn string) string {
	i := strings.Index(arn, ":parameter/")
	if i < 0 {
		return arn
	}
	n := arn[i+len(":parameter"):] // "/a/b" or "/x"
	if strings.Count(n, "/") == 1 {
		return n[1:]
	}
	return n
}

// SelectorOf returns the selector id carries, as Parameter Store's answers
// show it (":3", ":label"), or "" when it carries none.
func SelectorOf(id string) string {
	if _, sel, ok := splitSelector(id); ok {
		return ":" + sel
	}
	return ""
}

// NameOf returns the parameter name id refers to, without a selector and,
// for an ARN, without the ARN prefix.
func NameOf(id string) string {
	base := baseName(id)
	if strings.HasPrefix(base, "arn:") {
		return nameOfARN(base)
	}
	return base
}
