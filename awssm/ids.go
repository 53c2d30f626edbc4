package awssm

import (
	"slices"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// The naming rules of Secrets Manager (what an id, an ARN, a region is, and
// when an answer is the secret an id names) live in internal/awsname. What
// is here is this source's own: the rewriting of ARNs between the regions of
// its failover list, and the strict matching of batch answers.

// inRegion returns id as it must be sent to region, one of the source's
// regions (all of them in regions): an ARN naming another of those regions
// with its region replaced (the failover list holds replicas of one secret,
// whose ARNs differ only there); any other id unchanged. An ARN of a region
// outside the list is never rewritten: a secret of the same name in a listed
// region may be another secret altogether, so the ARN goes as it is and AWS
// answers for it.
func inRegion(id, region string, regions []string) string {
	a, ok := awsname.ParseARN(id)
	if !ok || a.Region == region || !slices.Contains(regions, a.Region) {
		return id
	}
	a.Region = region
	return a.String()
}

// reportARN returns the ARN to report for a secret returned (served) for
// id, which was sent as sent (see inRegion). Only when inRegion rewrote id,
// and the answer is in the region it was sent to, is the served ARN's
// region set back to id's, so that the replica's secret matches the id it
// was asked by. Otherwise the ARN is reported as returned, and checkIdentity
// refuses it if it is not the one id names.
func reportARN(id, sent, served string) string {
	if sent == id {
		return served
	}
	want, ok := awsname.ParseARN(id)
	if !ok {
		return served
	}
	to, ok := awsname.ParseARN(sent)
	if !ok {
		return served
	}
	got, ok := awsname.ParseARN(served)
	if !ok || got.Region != to.Region || got.Region == want.Region {
		return served
	}
	got.Region = want.Region
	return got.String()
}

// validateRef checks a ref before any call: a clear ErrInvalidRequest for an
// empty, oversized or malformed id, stage or version id.
func validateRef(ref secretcache.Ref) error {
	err := awsname.CheckID(ref.ID)
	if err == nil {
		err = awsname.CheckVersion(ref.VersionStage, ref.VersionID)
	}
	if err != nil {
		return &secretcache.Error{Op: "fetch", ID: clip.ID(ref.ID), Kind: secretcache.ErrInvalidRequest, Err: err}
	}
	return nil
}

// matches reports whether a secret the service returned (its ARN and name,
// as returned) is the one sent names: by name, by full ARN, or by partial
// ARN (the ARN without the hyphen and six random characters AWS appends)
// with a name, if any, that is the one in it.
//
// It is stricter than awsname.SameSecret, on purpose: a batch answer holds
// the entries of up to 20 ids, and an entry goes to an id only when the
// entry itself says it is that secret. An entry that names no secret, that
// has only an ARN for an id that is a name, or whose name disagrees with a
// partial ARN is no one's, and the id it might be is read again alone,
// rather than given a guess.
func matches(sent, arn, name string) bool {
	a, isARN := awsname.ParseARN(sent)
	switch {
	case !isARN:
		return name == sent
	case arn == sent:
		return true
	}
	return awsname.IsPartial(sent, arn) && (name == "" || name == a.Resource)
}
