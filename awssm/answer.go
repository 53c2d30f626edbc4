package awssm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// Bounds of a sane CreatedDate: no version of any secret was made before
// Secrets Manager existed (it launched in April 2018), and none is more than
// MaxClockSkew ahead of this host's clock.
var secretsManagerLaunch = time.Date(2018, time.April, 1, 0, 0, 0, 0, time.UTC)

// MaxClockSkew is how far ahead of this host's clock an answer's CreatedDate
// may be before the answer is refused as malformed.
const MaxClockSkew = 24 * time.Hour

// answer is one secret version as an AWS answer carries it (a GetSecretValue
// output, or one entry of a BatchGetSecretValue output), before it becomes a
// secretcache.Secret: pointers tell an absent member from an empty one.
type answer struct {
	arn, name, versionID, str *string
	stages                    []string
	bin                       []byte
	created                   *time.Time
}

func getAnswer(o *secretsmanager.GetSecretValueOutput) answer {
	return answer{arn: o.ARN, name: o.Name, versionID: o.VersionId, str: o.SecretString,
		stages: o.VersionStages, bin: o.SecretBinary, created: o.CreatedDate}
}

func entryAnswer(e *types.SecretValueEntry) answer {
	return answer{arn: e.ARN, name: e.Name, versionID: e.VersionId, str: e.SecretString,
		stages: e.VersionStages, bin: e.SecretBinary, created: e.CreatedDate}
}

// accept turns a, the answer to ref (whose id was sent as sent, see
// inRegion), into a Secret, if it is a well-formed answer for ref. Else it
// returns what is wrong, for an AnswerError. This is the one check every
// answer the source serves goes through, whatever the call or the region:
//
//   - it names the secret asked for (checkIdentity), by a name and an ARN
//     that agree;
//   - it has a version id of AWS's form (32 to 64 printable ASCII
//     characters), the one asked for if one was;
//   - its version stages are well formed and hold the stage asked for, or
//     AWSCURRENT when neither a stage nor a version id was asked (a version
//     asked for by id alone may have no stage: a deprecated version);
//   - it has a value: a non-empty SecretString or a non-empty SecretBinary,
//     not both. AWS stores no empty value (both are at least 1 byte), so an
//     empty or absent value is a broken answer, never a secret whose value
//     is "";
//   - it has a CreatedDate, not before Secrets Manager existed (2018-04-01)
//     and not more than MaxClockSkew ahead of now.
//
// Every problem found is listed; none quotes a value.
func accept(ref secretcache.Ref, sent string, a answer, now time.Time) (*secretcache.Secret, string) {
	s := &secretcache.Secret{
		ARN:           reportARN(ref.ID, sent, aws.ToString(a.arn)),
		Name:          aws.ToString(a.name),
		VersionID:     aws.ToString(a.versionID),
		VersionStages: slices.Clone(a.stages),
		String:        aws.ToString(a.str),
		Binary:        a.bin,
		CreatedDate:   aws.ToTime(a.created),
	}
	var why []string
	if p := checkIdentity(ref, s); p != "" {
		why = append(why, p)
	}
	why = append(why, checkVersion(ref, s)...)
	switch {
	case a.str != nil && a.bin != nil:
		why = append(why, "both SecretString and SecretBinary")
	case a.str == nil && a.bin == nil:
		why = append(why, "no SecretString or SecretBinary")
	case a.str != nil && *a.str == "":
		why = append(why, "an empty SecretString")
	case a.bin != nil && len(a.bin) == 0:
		why = append(why, "an empty SecretBinary")
	}
	switch t := s.CreatedDate; {
	case a.created == nil:
		why = append(why, "no CreatedDate")
	case t.Before(secretsManagerLaunch):
		why = append(why, fmt.Sprintf("CreatedDate %s is before Secrets Manager existed (2018-04-01)", t.UTC().Format(time.RFC3339)))
	case t.After(now.Add(MaxClockSkew)):
		why = append(why, fmt.Sprintf("CreatedDate %s is more than %v ahead of this host's clock", t.UTC().Format(time.RFC3339), MaxClockSkew))
	}
	if len(why) > 0 {
		return nil, strings.Join(why, "; ")
	}
	return s, ""
}

// checkIdentity refuses an answer that is not the secret ref asked for:
// none named, another secret, or a name and an ARN that do not agree (an
// ARN is arn:...:secret:NAME-XXXXXX). Never a wrong secret.
func checkIdentity(ref secretcache.Ref, s *secretcache.Secret) string {
	switch {
	case s.ARN == "" && s.Name == "":
		return "the answer names no secret"
	case !matches(ref.ID, s.ARN, s.Name) && !namedAlone(ref.ID, s):
		got := s.Name
		if got == "" {
			got = s.ARN
		}
		return fmt.Sprintf("asked for %q, got %q", clip.ID(ref.ID), clip.ID(got))
	case s.ARN == "":
		return ""
	}
	a, ok := awsname.ParseARN(s.ARN)
	switch {
	case !ok:
		return fmt.Sprintf("the answer's ARN %q is not a Secrets Manager secret ARN", clip.ID(s.ARN))
	case s.Name != "" && !awsname.IsPartial(s.Name, a.Resource):
		// Stricter than awsname.ARNNames: an ARN AWS returns always
		// carries the random suffix.
		return fmt.Sprintf("the answer's ARN %q is not one of its name %q", clip.ID(s.ARN), clip.ID(s.Name))
	}
	return ""
}

// namedAlone reports whether s, an answer with a name and no ARN, is the
// secret id names when id is an ARN: its name is the ARN's resource. That
// reads id as a partial ARN, whose resource is the name; a full ARN's
// suffix is not cut, since NAME-XXXXXX may itself be a name.
func namedAlone(id string, s *secretcache.Secret) bool {
	a, ok := awsname.ParseARN(id)
	return ok && s.ARN == "" && s.Name == a.Resource
}

// checkVersion refuses a version id or stages that are malformed or not the
// ones ref asked for.
func checkVersion(ref secretcache.Ref, s *secretcache.Secret) []string {
	var why []string
	switch {
	case s.VersionID == "":
		why = append(why, "no VersionId")
	case !validVersionID(s.VersionID):
		why = append(why, fmt.Sprintf("a VersionId of %d bytes, not 32 to 64 printable ASCII characters", len(s.VersionID)))
	case ref.VersionID != "" && s.VersionID != ref.VersionID:
		why = append(why, fmt.Sprintf("asked for version %q, got %q", ref.VersionID, s.VersionID))
	}
	want := ref.VersionStage
	if want == "" && ref.VersionID == "" {
		want = awsname.StageCurrent
	}
	switch {
	case slices.ContainsFunc(s.VersionStages, func(st string) bool {
		return st == "" || awsname.CheckVersion(st, "") != nil
	}):
		why = append(why, "a VersionStages label that is empty, over 256 bytes or not printable")
	case want != "" && len(s.VersionStages) == 0:
		why = append(why, fmt.Sprintf("no VersionStages (asked for stage %q)", want))
	case want != "" && !s.HasStage(want):
		why = append(why, fmt.Sprintf("asked for stage %q, got %q", want, shortStages(s.VersionStages)))
	}
	return why
}

// validVersionID accepts AWS's version ids (ClientRequestTokens): 32 to 64
// printable ASCII characters.
func validVersionID(v string) bool {
	if len(v) < 32 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

// shortStages bounds a stage list quoted in an error message.
func shortStages(st []string) []string {
	if len(st) > 8 {
		st = append(slices.Clip(st[:8]), "...")
	}
	return st
}

// refused is the error for an answer accept refused.
func refused(id, op, region, requestID, why string) error {
	return &secretcache.Error{Op: "fetch", ID: clip.ID(id), Kind: secretcache.ErrMismatch,
		Err: &AnswerError{Operation: op, Region: region, RequestID: requestID, Problem: why}}
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}
