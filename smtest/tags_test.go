package smtest

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestTags(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	mustCreate(t, c, "s", "v", 1)
	if _, err := c.TagResource(ctx, &sm.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &sm.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("3")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &sm.UntagResourceInput{SecretId: aws.String("s"), TagKeys: []string{"b", "zzz"}}); err != nil {
		t.Fatal(err)
	}
	si, _ := s.Secret("", "s")
	if len(si.Tags) != 1 || si.Tags["a"] != "3" {
		t.Fatalf("tags %v", si.Tags)
	}
	_, err := c.TagResource(ctx, &sm.TagResourceInput{SecretId: aws.String("nope"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestResourcePolicy(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	mustCreate(t, c, "s", "v", 1)
	if _, err := c.PutResourcePolicy(ctx, &sm.PutResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String(`{"Version":"2012-10-17"}`)}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String("s")})
	if err != nil || *g.ResourcePolicy != `{"Version":"2012-10-17"}` {
		t.Fatalf("%v %v", g, err)
	}
	_, err = c.PutResourcePolicy(ctx, &sm.PutResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String(`{`)})
	wantCode(t, err, "MalformedPolicyDocumentException")
	if _, err := c.DeleteResourcePolicy(ctx, &sm.DeleteResourcePolicyInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	g, _ = c.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String("s")})
	if g.ResourcePolicy != nil {
		t.Fatal("policy kept")
	}
	v, err := c.ValidateResourcePolicy(ctx, &sm.ValidateResourcePolicyInput{ResourcePolicy: aws.String(`{}`)})
	if err != nil || !v.PolicyValidationPassed {
		t.Fatalf("validate: %+v %v", v, err)
	}
	_, err = c.ValidateResourcePolicy(ctx, &sm.ValidateResourcePolicyInput{ResourcePolicy: aws.String(`nope`)})
	wantCode(t, err, "MalformedPolicyDocumentException")
}

func TestGetRandomPassword(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	out, err := c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{})
	if err != nil || len(*out.RandomPassword) != 32 {
		t.Fatalf("%v %v", out, err)
	}
	out, err = c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(64), ExcludePunctuation: aws.Bool(true), ExcludeCharacters: aws.String("abcXYZ0")})
	if err != nil {
		t.Fatal(err)
	}
	pw := *out.RandomPassword
	if len(pw) != 64 || strings.ContainsAny(pw, "abcXYZ0!#$%") {
		t.Fatalf("password %q", pw)
	}
	hasLower := strings.ContainsAny(pw, lowerChars)
	hasUpper := strings.ContainsAny(pw, upperChars)
	hasDigit := strings.ContainsAny(pw, digitChars)
	if !hasLower || !hasUpper || !hasDigit {
		t.Fatalf("password %q misses a required type", pw)
	}
	_, err = c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(2)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(5000)})
	wantCode(t, err, "ValidationException")
	_, err = c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludeNumbers: aws.Bool(true), ExcludePunctuation: aws.Bool(true)})
	wantCode(t, err, "InvalidParameterException")
}
