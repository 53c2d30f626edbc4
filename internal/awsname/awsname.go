// Package awsname holds the naming rules of AWS Secrets Manager: what a
// secret id, a secret ARN and a region name look like, and when an answer
// (its name and ARN) is the secret an id names.
//
// It is the one home of these rules for awssm, smtest, the agent and the
// packages that read RDS secrets; the core package knows none of them (a
// Source tells the cache its naming through secretcache.Description). It
// is not a parser of ARNs of other services.
package awsname

import (
	"errors"
	"fmt"
	"strings"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// ARN is a parsed Secrets Manager secret ARN:
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:RESOURCE, where
// RESOURCE is the secret name, with or without the hyphen and six random
// characters AWS appends.
type ARN struct {
	Partition, Region, Account, Resource string
}

// ParseARN parses a Secrets Manager secret ARN. It reports false for any
// other string, an ARN of another service or resource type, or one whose
// region is not a valid region name.
func ParseARN(id string) (ARN, bool) {
	p := strings.SplitN(id, ":", 7)
	if len(p) != 7 || p[0] != "arn" || p[1] == "" || p[2] != "secretsmanager" || p[3] == "" ||
		p[4] == "" || p[5] != "secret" || p[6] == "" || CheckRegion(p[3]) != nil {
		return ARN{}, false
	}
	return ARN{Partition: p[1], Region: p[3], Account: p[4], Resource: p[6]}, true
}

// String formats the ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":secretsmanager:" + a.Region + ":" + a.Account + ":secret:" + a.Resource
}

// suffixLen is the length of the "-XXXXXX" AWS appends to a name in an ARN.
const suffixLen = 7

// NameOf returns the secret name an id refers to: the name inside an ARN
// (without the random suffix, when it has one), or id itself.
func NameOf(id string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	i := strings.Index(id, ":secret:")
	if i < 0 {
		return id
	}
	n := id[i+len(":secret:"):]
	if j := len(n) - suffixLen; j > 0 && n[j] == '-' {
		return n[:j]
	}
	return n
}

// IsPartial reports whether partial is full (an ARN) without its random
// suffix: AWS accepts such a partial ARN wherever a secret id goes.
func IsPartial(partial, full string) bool {
	return len(full) == len(partial)+suffixLen && full[len(partial)] == '-' && strings.HasPrefix(full, partial)
}

// ARNNames reports whether arn (...:secret:NAME-XXXXXX, or without the
// suffix) can name the secret name. An empty name or ARN, or an ARN of
// another shape, says nothing against it.
func ARNNames(arn, name string) bool {
	i := strings.Index(arn, ":secret:")
	if name == "" || i < 0 {
		return true
	}
	rest := arn[i+len(":secret:"):]
	return rest == name || IsPartial(name, rest)
}

// SameSecret reports whether an answer with this name and ARN can be the
// secret id names: by name, by full ARN, by an ARN without its random
// suffix, or (when the answer has only an ARN) by the name inside it. An
// answer with neither a name nor an ARN says nothing against it.
func SameSecret(id, name, arn string) bool {
	switch {
	case name == "" && arn == "":
		return true
	case id == name || id == arn:
		return true
	case strings.HasPrefix(id, "arn:") && arn != "":
		return IsPartial(id, arn)
	}
	return name == "" && arn != "" && NameOf(arn) == id
}

// CheckID checks a secret id as Secrets Manager takes it: the core's rule
// (secretcache.CheckID), and an id holding a colon must be a secret ARN,
// since names cannot hold one.
func CheckID(id string) error {
	if err := secretcache.CheckID(id); err != nil {
		return err
	}
	if strings.Contains(id, ":") {
		if _, ok := ParseARN(id); !ok {
			return errors.New("secret id is neither a name nor a Secrets Manager secret ARN")
		}
	}
	return nil
}

// MaxStageLength and MaxVersionIDLength are Secrets Manager's limits on a
// staging label and on a version id (a ClientRequestToken).
const (
	MaxStageLength     = 256
	MaxVersionIDLength = 64
)

// CheckVersion checks the version a ref asks for as Secrets Manager takes
// it: a stage of at most MaxStageLength and a version id of at most
// MaxVersionIDLength bytes, neither holding a character an id may not hold
// (see secretcache.CheckID). "" means absent and is valid.
func CheckVersion(stage, versionID string) error {
	switch {
	case len(stage) > MaxStageLength || !printable(stage):
		return fmt.Errorf("version stage must be at most %d printable characters", MaxStageLength)
	case len(versionID) > MaxVersionIDLength || !printable(versionID):
		return fmt.Errorf("version id must be at most %d printable characters", MaxVersionIDLength)
	}
	return nil
}

// printable reports whether s (at most secretcache.MaxIDLength bytes) holds
// only characters an id may hold: for such an s that is all CheckID still
// checks, so the character rule keeps its one home in the core.
func printable(s string) bool { return s == "" || secretcache.CheckID(s) == nil }

// MaxRegionLength is the longest region name accepted.
const MaxRegionLength = 32

// CheckRegion accepts region names that are safe in a host name: 1 to
// MaxRegionLength characters of lowercase letters, digits and hyphens, no
// leading, trailing or double hyphen (us-east-1, us-gov-west-1,
// eu-isoe-west-1). The error quotes at most 40 bytes of r.
func CheckRegion(r string) error {
	ok := len(r) > 0 && len(r) <= MaxRegionLength && r[0] != '-' && r[len(r)-1] != '-'
	for i := 0; ok && i < len(r); i++ {
		ch := r[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		case ch == '-' && r[i-1] != '-':
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid region name %q: want 1 to %d lowercase letters, digits and single hyphens, such as us-east-1",
			clip.String(r, 40), MaxRegionLength)
	}
	return nil
}

// StageCurrent, StagePending and StagePrevious are the staging labels
// Secrets Manager moves during a rotation.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// IsCurrent reports whether a ref reads the AWSCURRENT version: no version
// id, and no stage or AWSCURRENT.
func IsCurrent(ref secretcache.Ref) bool {
	return ref.VersionID == "" && (ref.VersionStage == "" || ref.VersionStage == StageCurrent)
}
