package secretcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// MaxIDLength is the longest secret id (name or ARN) accepted, as in AWS.
const MaxIDLength = 2048

// CheckID reports whether the cache accepts id as a secret id: 1 to
// MaxIDLength bytes of valid UTF-8 with no space, control character or
// U+FFFD. It is the rule every package of this module applies to an id
// before using it; a Source may refuse more (awssm refuses a colon outside
// an ARN). The error does not quote id.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("empty secret id")
	case len(id) > MaxIDLength:
		return fmt.Errorf("secret id is %d bytes, over the limit of %d", len(id), MaxIDLength)
	case strings.ContainsFunc(id, badRune):
		return errors.New("secret id contains control or space characters")
	}
	return nil
}

// badRune reports the characters no id, stage or version id may hold
// (invalid UTF-8 decodes as U+FFFD).
func badRune(r rune) bool { return r <= ' ' || r == 0x7f || r == '\uFFFD' }

// Ref names one version of a secret: by name or ARN, and by version stage or
// version id. A Ref with both version fields empty means the source's
// default version (see Description.DefaultStage).
type Ref struct {
	ID           string
	VersionStage string
	VersionID    string
}

// String returns the ref as id, id@stage or id#versionid.
func (r Ref) String() string {
	s := r.ID
	if r.VersionStage != "" {
		s += "@" + r.VersionStage
	}
	if r.VersionID != "" {
		s += "#" + r.VersionID
	}
	return s
}

// Secret is one version of a secret as a Source returned it.
//
// A Secret never prints its value: String, every fmt verb, JSON and slog show
// the metadata and "[REDACTED]" in place of String and Binary.
type Secret struct {
	ARN           string
	Name          string
	VersionID     string
	VersionStages []string
	String        string
	Binary        []byte
	CreatedDate   time.Time
	// FetchedAt is when this answer was read from its origin. A Source that
	// relays an earlier read (a shared cache such as package fleet) sets it,
	// so that the cache counts the value's age, and so its TTL and max-stale
	// bounds, from the origin read and not from the relay; zero means now. A
	// relayed answer is never stored expired: it counts at most as old as
	// leaves it due for refresh half its refresh-ahead window from now (half
	// its TTL with refresh ahead off), and a time in the future counts as
	// now. Copies the cache returns carry the time their value was fetched.
	FetchedAt time.Time
}

const redacted = "[REDACTED]"

// Metadata is everything about a secret version except its value.
type Metadata struct {
	ARN           string    `json:"arn,omitempty"`
	Name          string    `json:"name,omitempty"`
	VersionID     string    `json:"version_id,omitempty"`
	VersionStages []string  `json:"version_stages,omitempty"`
	CreatedDate   time.Time `json:"created_date,omitzero"`
}

// Metadata returns the secret's metadata (a copy, never the value).
func (s *Secret) Metadata() Metadata {
	if s == nil {
		return Metadata{}
	}
	return Metadata{ARN: s.ARN, Name: s.Name, VersionID: s.VersionID,
		VersionStages: slices.Clone(s.VersionStages), CreatedDate: s.CreatedDate}
}

// IsBinary reports whether the secret holds a binary value.
func (s *Secret) IsBinary() bool { return s != nil && s.Binary != nil && s.String == "" }

// Clone returns a deep copy; the caller may change it freely.
func (s *Secret) Clone() *Secret {
	if s == nil {
		return nil
	}
	c := *s
	c.VersionStages = slices.Clone(s.VersionStages)
	if s.Binary != nil {
		c.Binary = slices.Clone(s.Binary)
	}
	return &c
}

// HasStage reports whether the version carries the stage label.
func (s *Secret) HasStage(stage string) bool { return slices.Contains(s.VersionStages, stage) }

func (s Secret) redactedView() redactedSecret {
	r := redactedSecret{ARN: s.ARN, Name: s.Name, VersionID: s.VersionID,
		VersionStages: s.VersionStages, CreatedDate: s.CreatedDate}
	if s.String != "" {
		r.String = redacted
	}
	if s.Binary != nil {
		r.Binary = redacted
	}
	return r
}

type redactedSecret struct {
	ARN           string    `json:"ARN,omitempty"`
	Name          string    `json:"Name,omitempty"`
	VersionID     string    `json:"VersionId,omitempty"`
	VersionStages []string  `json:"VersionStages,omitempty"`
	String        string    `json:"SecretString,omitempty"`
	Binary        string    `json:"SecretBinary,omitempty"`
	CreatedDate   time.Time `json:"CreatedDate,omitzero"`
}

// GoString implements fmt.GoStringer with the value redacted.
func (s Secret) GoString() string { return s.describe() }

func (s Secret) describe() string {
	v := "String"
	if s.IsBinary() {
		v = "Binary"
	}
	return fmt.Sprintf("secretcache.Secret{Name:%q ARN:%q VersionID:%q VersionStages:%q %s:%s}",
		s.Name, s.ARN, s.VersionID, s.VersionStages, v, redacted)
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x ...) prints the metadata and never the value.
// The methods that print have value receivers, so a Secret printed by value
// is redacted too.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.describe())) }

// MarshalJSON writes the metadata with the value redacted. Code that must
// send the real value (an HTTP agent, say) builds its own response type.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redactedView()) }

// LogValue implements slog.LogValuer: the metadata, never the value.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", s.Name),
		slog.String("arn", s.ARN),
		slog.String("version_id", s.VersionID),
		slog.Any("version_stages", s.VersionStages),
		slog.String("value", redacted),
	)
}
