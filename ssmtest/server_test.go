package ssmtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache/ssmtest"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Bad requests get AWS's error codes, through the real SDK; no answer
// holds a value.
func TestBadRequests(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	c := srv.Client("")
	ctx := context.Background()
	if _, err := srv.Put("", "/p", ssmtest.TypeSecureString, "hidden-value"); err != nil {
		t.Fatal(err)
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "/p"
	}
	for name, call := range map[string]func() error{
		"11 names": func() error {
			_, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: eleven})
			return err
		},
		"page of 11": func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/"), MaxResults: aws.Int32(11)})
			return err
		},
		"relative path": func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("p")})
			return err
		},
		"bad token": func() error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/"), NextToken: aws.String("zz")})
			return err
		},
		"bad type": func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/q"), Value: aws.String("v"), Type: "Nope"})
			return err
		},
		"bad name": func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/q r"), Value: aws.String("v"), Type: types.ParameterTypeString})
			return err
		},
		"too long": func() error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/q"), Value: aws.String(strings.Repeat("v", 4097)), Type: types.ParameterTypeString})
			return err
		},
		"reference without decryption": func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/x")})
			return err
		},
	} {
		err := call()
		if apiCode(err) != "ValidationException" || strings.Contains(err.Error(), "hidden-value") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("v"), Type: types.ParameterTypeString}); apiCode(err) != "ParameterAlreadyExists" {
		t.Errorf("exists: %v", err)
	}
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/aws/x"), Value: aws.String("v"), Type: types.ParameterTypeString}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("reserved: %v", err)
	}
	if _, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/p"), ParameterVersion: aws.Int64(5), Labels: []string{"l"}}); apiCode(err) != "ParameterVersionNotFound" {
		t.Errorf("label a missing version: %v", err)
	}
	out, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/p"), Labels: []string{"ok", "aws-no", "9no"}})
	if err != nil || len(out.InvalidLabels) != 2 {
		t.Errorf("invalid labels: %+v %v", out, err)
	}
	for _, req := range []struct{ method, target, body string }{
		{"GET", "AmazonSSM.GetParameter", ""},
		{"POST", "AmazonSSM.Nope", "{}"},
		{"POST", "AmazonSSM.GetParameter", "[1]"},
		{"POST", "AmazonSSM.GetParameter", strings.Repeat("x", 2<<20)},
	} {
		r, _ := http.NewRequest(req.method, srv.URL, strings.NewReader(req.body))
		r.Header.Set("X-Amz-Target", req.target)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || !strings.Contains(string(b), "__type") {
			t.Errorf("%s %s: %d %s", req.method, req.target, resp.StatusCode, b)
		}
	}
}
