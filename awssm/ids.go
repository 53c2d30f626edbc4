package awssm

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// secretARN is a parsed Secrets Manager secret ARN:
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[-XXXXXX].
type secretARN struct {
	partition, region, account, resource string // resource: NAME or NAME-XXXXXX
}

func parseARN(id string) (secretARN, bool) {
	p := strings.SplitN(id, ":", 7)
	if len(p) != 7 || p[0] != "arn" || p[1] == "" || p[2] != "secretsmanager" || p[3] == "" ||
		p[4] == "" || p[5] != "secret" || p[6] == "" || validRegion(p[3]) != nil {
		return secretARN{}, false
	}
	return secretARN{partition: p[1], region: p[3], account: p[4], resource: p[6]}, true
}

func (a secretARN) String() string {
	return "arn:" + a.partition + ":secretsmanager:" + a.region + ":" + a.account + ":secret:" + a.resource
}

// inRegion returns id as it must be sent to region, one of the source's
// regions (all of them in regions): an ARN naming another of those regions
// with its region replaced (the failover list holds replicas of one secret,
// whose ARNs differ only there); any other id unchanged. An ARN of a region
// outside the list is never rewritten: a secret of the same name in a listed
// region may be another secret altogether, so the ARN goes as it is and AWS
// answers for it.
func inRegion(id, region string, regions []string) string {
	a, ok := parseARN(id)
	if !ok || a.region == region || !slices.Contains(regions, a.region) {
		return id
	}
	a.region = region
	return a.String()
}

// validateRef checks a ref before any call: a clear ErrInvalidRequest for an
// empty, oversized or malformed id, stage or version id.
func validateRef(ref secretcache.Ref) error {
	var err error
	switch id := ref.ID; {
	case id == "":
		err = errors.New("empty secret id")
	case len(id) > secretcache.MaxIDLength:
		err = fmt.Errorf("secret id is %d bytes, over the limit of %d", len(id), secretcache.MaxIDLength)
	case strings.ContainsFunc(id, badRune):
		err = errors.New("secret id contains control or space characters")
	case strings.Contains(id, ":"):
		// Names cannot hold a colon: this must be an ARN.
		if _, ok := parseARN(id); !ok {
			err = errors.New("secret id is neither a name nor a Secrets Manager secret ARN")
		}
	}
	if err == nil {
		switch {
		case len(ref.VersionStage) > 256 || strings.ContainsFunc(ref.VersionStage, badRune):
			err = errors.New("version stage must be at most 256 printable characters")
		case len(ref.VersionID) > 64 || strings.ContainsFunc(ref.VersionID, badRune):
			err = errors.New("version id must be at most 64 printable characters")
		}
	}
	if err != nil {
		return &secretcache.Error{Op: "fetch", ID: shortID(ref.ID), Kind: secretcache.ErrInvalidRequest, Err: err}
	}
	return nil
}

func badRune(r rune) bool { return r <= ' ' || r == 0x7f || r == '\uFFFD' }

// shortID bounds an id quoted in an error message.
func shortID(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}

// matches reports whether a secret the service returned (its ARN and name,
// as returned) is the one sent names: by name, by full ARN, or by partial ARN
// (the ARN without the hyphen and six random characters AWS appends).
func matches(sent, arn, name string) bool {
	if _, isARN := parseARN(sent); !isARN {
		return name == sent
	}
	if arn == sent {
		return true
	}
	if len(arn) == len(sent)+7 && strings.HasPrefix(arn, sent) && arn[len(sent)] == '-' {
		a, _ := parseARN(sent)
		return name == "" || name == a.resource
	}
	return false
}

// isCurrent reports whether a returned ref is for AWSCURRENT.
func isCurrent(ref secretcache.Ref) bool {
	return ref.VersionID == "" && (ref.VersionStage == "" || ref.VersionStage == awsname.StageCurrent)
}

// reportARN returns the ARN to report for a secret returned (served) for
// id, which was sent as sent (see inRegion). Only when inRegion rewrote id,
// and the answer is in the region it was sent to, is the served ARN's
// region set back to id's, so that the replica's secret matches the id it
// was asked by. Otherwise the ARN is reported as returned, and checkAnswer
// refuses it if it is not the one id names.
func reportARN(id, sent, served string) string {
	if sent == id {
		return served
	}
	want, ok := parseARN(id)
	if !ok {
		return served
	}
	to, ok := parseARN(sent)
	if !ok {
		return served
	}
	got, ok := parseARN(served)
	if !ok || got.region != to.region || got.region == want.region {
		return served
	}
	got.region = want.region
	return got.String()
}

// nameOf returns the secret name in a name or a partial ARN.
func nameOf(id string) string {
	if a, ok := parseARN(id); ok {
		return a.resource
	}
	return id
}
