package awssm

import (
	"strings"
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

const arnA = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"

func TestMatches(t *testing.T) {
	cases := []struct {
		sent, arn, name string
		want            bool
	}{
		{"app", arnA, "app", true},
		{"app", arnA, "app2", false},
		{"App", arnA, "app", false}, // names are case-sensitive
		{arnA, arnA, "app", true},
		{arnA[:len(arnA)-7], arnA, "app", true},                                  // partial ARN
		{arnA[:len(arnA)-7], arnA, "other", false},                               // partial ARN, other name
		{arnA[:len(arnA)-8], arnA, "ap", false},                                  // a shorter prefix is not a partial ARN
		{arnA, arnA + "-XyZ123", "app-AbCdEf", true},                             // a full ARN is also the partial ARN of app-AbCdEf
		{strings.Replace(arnA, "us-east-1", "us-west-2", 1), arnA, "app", false}, // another region
		{strings.Replace(arnA, "123456789012", "999999999999", 1), arnA, "app", false},
	}
	for _, c := range cases {
		if got := matches(c.sent, c.arn, c.name); got != c.want {
			t.Errorf("matches(%q, %q, %q) = %v", c.sent, c.arn, c.name, got)
		}
	}
}

func TestClassifyCode(t *testing.T) {
	for code, kind := range map[string]error{
		"ResourceNotFoundException": secretcache.ErrNotFound,
		"AccessDeniedException":     secretcache.ErrAccessDenied,
		"DecryptionFailure":         secretcache.ErrDecryption,
		"InvalidParameterException": secretcache.ErrInvalidRequest,
		"ThrottlingException":       secretcache.ErrThrottled,
		"InternalServiceError":      secretcache.ErrUnavailable,
		"SomethingNew":              secretcache.ErrUnavailable,
	} {
		if c := classifyCode(code, "", 400, 0); c.kind != kind {
			t.Errorf("%s: %v", code, c.kind)
		}
	}
	for msg, kind := range map[string]error{
		"You can't perform this operation on the secret because it was marked for deletion.": secretcache.ErrDeleted,
		"You tried to perform the operation on a secret that's currently marked deleted.":    secretcache.ErrDeleted,
		"You provided a VersionStage that is not associated to the provided VersionId.":      secretcache.ErrInvalidRequest,
	} {
		if c := classifyCode("InvalidRequestException", msg, 400, 0); c.kind != kind {
			t.Errorf("%q: %v", msg, c.kind)
		}
	}
	if c := classifyCode("", "", 503, 0); c.kind != secretcache.ErrUnavailable || !c.breaker {
		t.Error("503", c)
	}
	if c := classifyCode("", "", 429, 0); c.kind != secretcache.ErrThrottled || !c.breaker {
		t.Error("429", c)
	}
	if c := classifyCode("", "", 403, 0); c.kind != secretcache.ErrAccessDenied || c.failover {
		t.Error("403", c)
	}
}

// Any id: no panic; an ARN of a listed region sent to another listed region
// and reported back is the ARN asked for, and matches the secret it names;
// an ARN of a region outside the list is neither rewritten nor reported
// with another region.
func FuzzARNRoundTrip(f *testing.F) {
	for _, s := range []string{arnA, arnA[:len(arnA)-7], "app", "arn:", "arn:aws:secretsmanager:::secret:",
		"arn:aws-cn:secretsmanager:cn-north-1:1:secret:a:b", "arn:aws:secretsmanager:us-east-1:1:secret:x-"} {
		f.Add(s, "us-west-2")
	}
	f.Fuzz(func(t *testing.T, id, region string) {
		if awsname.CheckRegion(region) != nil {
			return
		}
		_ = validateRef(secretcache.Ref{ID: id})
		a, ok := awsname.ParseARN(id)
		if !ok {
			if sent := inRegion(id, region, []string{region}); sent != id {
				t.Fatalf("non-ARN %q rewritten to %q", id, sent)
			}
			return
		}
		sent := inRegion(id, region, []string{region, a.Region})
		if got := reportARN(id, sent, sent); got != id {
			t.Fatalf("round trip %q -> %q -> %q", id, sent, got)
		}
		if a.Region != region {
			if sent := inRegion(id, region, []string{region}); sent != id {
				t.Fatalf("ARN of unlisted region %q rewritten to %q", id, sent)
			}
			other := a
			other.Region = region
			if got := reportARN(id, id, other.String()); got != other.String() {
				t.Fatalf("answer %q for unrewritten %q reported as %q", other, id, got)
			}
		}
		if !matches(id, id, a.Resource) {
			t.Fatalf("%q does not match itself", id)
		}
	})
}

// Only an ARN of one of the source's regions is rewritten, and only an
// answer to a rewritten ARN, from the region it was sent to, is reported
// back in the ARN's region.
func TestInRegionAndReportARN(t *testing.T) {
	east := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db"
	west := "arn:aws:secretsmanager:us-west-2:123456789012:secret:prod/db"
	eu := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db"
	both := []string{"us-east-1", "us-west-2"}
	for _, c := range []struct {
		id, region string
		regions    []string
		want       string
	}{
		{east, "us-west-2", both, west},
		{east + "-AbCdEf", "us-west-2", both, west + "-AbCdEf"},
		{east, "us-east-1", both, east},
		{eu, "us-east-1", both, eu},
		{eu, "us-west-2", both, eu},
		{eu + "-AbCdEf", "us-east-1", []string{"us-east-1"}, eu + "-AbCdEf"},
		{"prod/db", "us-west-2", both, "prod/db"},
	} {
		if got := inRegion(c.id, c.region, c.regions); got != c.want {
			t.Errorf("inRegion(%q, %q, %q) = %q, want %q", c.id, c.region, c.regions, got, c.want)
		}
	}
	for _, c := range []struct{ id, sent, served, want string }{
		{east, west, west + "-AbCdEf", east + "-AbCdEf"}, // a replica answered
		{east, west, eu + "-AbCdEf", eu + "-AbCdEf"},     // not the region asked
		{eu, eu, "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"}, // not rewritten
		{eu, eu, eu + "-AbCdEf", eu + "-AbCdEf"},
		{"prod/db", "prod/db", west + "-AbCdEf", west + "-AbCdEf"},
	} {
		if got := reportARN(c.id, c.sent, c.served); got != c.want {
			t.Errorf("reportARN(%q, %q, %q) = %q, want %q", c.id, c.sent, c.served, got, c.want)
		}
	}
}
