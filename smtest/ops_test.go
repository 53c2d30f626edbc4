package smtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// errCode returns the AWS error code of err, "" for nil, "<non-api>" for
// errors that are not API errors.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "<non-api>"
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func token(n int) *string { return aws.String(fmt.Sprintf("00000000-0000-4000-8000-%012d", n)) }

func TestCreateAndGet(t *testing.T) {
	s := newServer(t)
	c := s.Client("us-west-2")
	ctx := ctxT(t)

	out, err := c.CreateSecret(ctx, &sm.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("pw1"), ClientRequestToken: token(1),
		Description: aws.String("the db"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "arn:aws:secretsmanager:us-west-2:123456789012:secret:app/db-"
	if !strings.HasPrefix(*out.ARN, prefix) || len(*out.ARN) != len(prefix)+6 {
		t.Fatalf("ARN = %s", *out.ARN)
	}
	if *out.VersionId != *token(1) || *out.Name != "app/db" {
		t.Fatalf("out = %+v", out)
	}
	partial := strings.TrimSuffix(*out.ARN, (*out.ARN)[len(*out.ARN)-7:])
	for _, id := range []string{"app/db", *out.ARN, partial} {
		g, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if *g.SecretString != "pw1" || *g.ARN != *out.ARN || !slices.Equal(g.VersionStages, []string{"AWSCURRENT"}) || g.CreatedDate == nil {
			t.Fatalf("get %s = %+v", id, g)
		}
	}
	// Wrong suffix, other region, other account: not found.
	for _, id := range []string{prefix + "zzzzzz", strings.Replace(*out.ARN, "us-west-2", "eu-west-1", 1), strings.Replace(*out.ARN, "123456789012", "999999999999", 1)} {
		_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(id)})
		wantCode(t, err, "ResourceNotFoundException")
		if httpStatus(err) != 400 {
			t.Fatalf("status = %d, want 400", httpStatus(err))
		}
	}
	// Other region does not see it.
	_, err = s.Client("eu-west-1").GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/db")})
	wantCode(t, err, "ResourceNotFoundException")

	// Duplicate name.
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")})
	wantCode(t, err, "ResourceExistsException")
	// Same token, same value: idempotent.
	again, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("pw1"), ClientRequestToken: token(1)})
	if err != nil || *again.ARN != *out.ARN {
		t.Fatalf("idempotent create: %v %v", again, err)
	}
	// Same token, other value.
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("pw2"), ClientRequestToken: token(1)})
	wantCode(t, err, "ResourceExistsException")

	// Binary secret.
	bin := []byte{0, 1, 2, 255}
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil || !bytes.Equal(g.SecretBinary, bin) || g.SecretString != nil {
		t.Fatalf("binary: %+v %v", g, err)
	}

	// Secret without value.
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("empty")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestCreateValidation(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	big := strings.Repeat("x", 65537)
	cases := []struct {
		name string
		in   *sm.CreateSecretInput
		code string
	}{
		{"bad chars", &sm.CreateSecretInput{Name: aws.String("a b"), SecretString: aws.String("v")}, "ValidationException"},
		{"too long name", &sm.CreateSecretInput{Name: aws.String(strings.Repeat("a", 513)), SecretString: aws.String("v")}, "ValidationException"},
		{"both values", &sm.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v"), SecretBinary: []byte("v")}, "InvalidParameterException"},
		{"value too big", &sm.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String(big)}, "ValidationException"},
		{"short token", &sm.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v"), ClientRequestToken: aws.String("short")}, "InvalidParameterException"},
		{"replica to own region", &sm.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v"),
			AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-east-1")}}}, "InvalidParameterException"},
	}
	for _, tc := range cases {
		_, err := c.CreateSecret(ctx, tc.in)
		if errCode(err) != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.name, errCode(err), tc.code, err)
		}
	}
	// Exactly 65,536 bytes and 512-character names are fine; names ending
	// like an ARN suffix are accepted (AWS only advises against them).
	for _, name := range []string{strings.Repeat("a", 512), "x/_+=.@-", "looks-abcdef"} {
		if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(strings.Repeat("y", 65536))}); err != nil {
			t.Errorf("create %q: %v", name, err)
		}
	}
	if got := s.Calls("", "CreateSecret"); got != len(cases)+3 {
		t.Errorf("Calls = %d", got)
	}
}

func TestPutSecretValueStages(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	mustCreate(t, c, "s", "v1", 1)
	put := func(val string, tok int, stages ...string) (*sm.PutSecretValueOutput, error) {
		return c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(val), ClientRequestToken: token(tok), VersionStages: stages})
	}
	if _, err := put("v2", 2); err != nil {
		t.Fatal(err)
	}
	wantStages(t, s, "s", map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}})
	if _, err := put("v3", 3); err != nil {
		t.Fatal(err)
	}
	wantStages(t, s, "s", map[int][]string{1: nil, 2: {"AWSPREVIOUS"}, 3: {"AWSCURRENT"}})
	out, err := put("v4", 4, "AWSPENDING")
	if err != nil || !slices.Equal(out.VersionStages, []string{"AWSPENDING"}) {
		t.Fatalf("pending put: %+v %v", out, err)
	}
	wantStages(t, s, "s", map[int][]string{1: nil, 2: {"AWSPREVIOUS"}, 3: {"AWSCURRENT"}, 4: {"AWSPENDING"}})
	// A custom label moves from version to version.
	if _, err := put("v5", 5, "AWSPENDING", "blue"); err != nil {
		t.Fatal(err)
	}
	if _, err := put("v6", 6, "blue"); err != nil {
		t.Fatal(err)
	}
	wantStages(t, s, "s", map[int][]string{3: {"AWSCURRENT"}, 4: nil, 5: {"AWSPENDING"}, 6: {"blue"}})

	// Idempotency.
	if out, err := put("v6", 6, "blue"); err != nil || *out.VersionId != *token(6) {
		t.Fatalf("idempotent put: %v %v", out, err)
	}
	_, err = put("other", 6)
	wantCode(t, err, "ResourceExistsException")

	// Reads by stage and by version.
	get := func(id *string, stage string) (*sm.GetSecretValueOutput, error) {
		in := &sm.GetSecretValueInput{SecretId: aws.String("s"), VersionId: id}
		if stage != "" {
			in.VersionStage = aws.String(stage)
		}
		return c.GetSecretValue(ctx, in)
	}
	for stage, want := range map[string]string{"": "v3", "AWSPREVIOUS": "v2", "AWSPENDING": "v5", "blue": "v6"} {
		g, err := get(nil, stage)
		if err != nil || *g.SecretString != want {
			t.Errorf("stage %q: %v %v", stage, g, err)
		}
	}
	if g, err := get(token(1), ""); err != nil || *g.SecretString != "v1" || len(g.VersionStages) != 0 {
		t.Errorf("deprecated version: %v %v", g, err)
	}
	if g, err := get(token(3), "AWSCURRENT"); err != nil || *g.SecretString != "v3" {
		t.Errorf("matching id+stage: %v %v", g, err)
	}
	_, err = get(token(2), "AWSCURRENT")
	wantCode(t, err, "InvalidRequestException")
	_, err = get(token(99), "")
	wantCode(t, err, "ResourceNotFoundException")
	_, err = get(nil, "nosuchstage")
	wantCode(t, err, "ResourceNotFoundException")

	// No value.
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s"), SecretBinary: bytes.Repeat([]byte{1}, 65537)})
	wantCode(t, err, "ValidationException")

	// First version of a secret created without value becomes AWSCURRENT.
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("novalue")}); err != nil {
		t.Fatal(err)
	}
	out, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("novalue"), SecretString: aws.String("x"), VersionStages: []string{"AWSPENDING"}})
	if err != nil || !slices.Contains(out.VersionStages, "AWSCURRENT") {
		t.Fatalf("first version: %+v %v", out, err)
	}
}

func mustCreate(t *testing.T, c *sm.Client, name, value string, tok int) *sm.CreateSecretOutput {
	t.Helper()
	out, err := c.CreateSecret(context.Background(), &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), ClientRequestToken: token(tok)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantStages checks the stages of versions token(n); nil means deprecated.
func wantStages(t *testing.T, s *Server, name string, want map[int][]string) {
	t.Helper()
	si, ok := s.Secret("", name)
	if !ok {
		t.Fatalf("secret %s missing", name)
	}
	got := map[string][]string{}
	for _, v := range si.Versions {
		got[v.VersionID] = v.Stages
	}
	for n, stages := range want {
		g, ok := got[*token(n)]
		if !ok {
			t.Errorf("version %d missing", n)
			continue
		}
		a, b := slices.Clone(g), slices.Clone(stages)
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			t.Errorf("version %d stages = %v, want %v", n, g, stages)
		}
	}
}

func TestUpdateSecretVersionStage(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	mustCreate(t, c, "s", "v1", 1)
	for i := 2; i <= 3; i++ {
		if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(fmt.Sprint("v", i)), ClientRequestToken: token(i), VersionStages: []string{"AWSPENDING"}}); err != nil {
			t.Fatal(err)
		}
	}
	// AWSCURRENT can't move without RemoveFromVersionId.
	_, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: token(3)})
	wantCode(t, err, "InvalidParameterException")
	// Neither can another label attached elsewhere.
	_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPENDING"), MoveToVersionId: token(1)})
	wantCode(t, err, "InvalidParameterException")
	// Remove from a version that does not have it.
	_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: token(3), RemoveFromVersionId: token(2)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: token(42), RemoveFromVersionId: token(1)})
	wantCode(t, err, "InvalidParameterException")

	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: token(3), RemoveFromVersionId: token(1)}); err != nil {
		t.Fatal(err)
	}
	wantStages(t, s, "s", map[int][]string{1: {"AWSPREVIOUS"}, 2: nil, 3: {"AWSCURRENT", "AWSPENDING"}})
	// Remove AWSPENDING.
	if err := s.UpdateStage("", "s", "AWSPENDING", "", *token(3)); err != nil {
		t.Fatal(err)
	}
	// Move it back: AWSPREVIOUS follows.
	if err := s.UpdateStage("", "s", "AWSCURRENT", *token(1), *token(3)); err != nil {
		t.Fatal(err)
	}
	wantStages(t, s, "s", map[int][]string{1: {"AWSCURRENT"}, 2: nil, 3: {"AWSPREVIOUS"}})
	// Custom label attach and detach.
	if err := s.UpdateStage("", "s", "green", *token(2), ""); err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Value("", "s", "green"); !ok || v != "v2" {
		t.Fatalf("green = %q %v", v, ok)
	}
	// AWSCURRENT can't just be removed.
	err = s.UpdateStage("", "s", "AWSCURRENT", "", *token(1))
	wantCode(t, err, "InvalidParameterException")
	// A put after a stage move takes AWSCURRENT from the version that
	// really has it (moto gets this wrong).
	if _, err := s.PutSecretValueWithToken("", "s", *token(4), "v4"); err != nil {
		t.Fatal(err)
	}
	wantStages(t, s, "s", map[int][]string{1: {"AWSPREVIOUS"}, 2: {"green"}, 3: nil, 4: {"AWSCURRENT"}})
}

func TestUpdateSecret(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	mustCreate(t, c, "s", "v1", 1)
	out, err := c.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("s"), Description: aws.String("new desc")})
	if err != nil || out.VersionId != nil {
		t.Fatalf("description only: %+v %v", out, err)
	}
	out, err = c.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("s"), SecretString: aws.String("v2"), ClientRequestToken: token(2)})
	if err != nil || *out.VersionId != *token(2) {
		t.Fatalf("value: %+v %v", out, err)
	}
	wantStages(t, s, "s", map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}})
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil || *d.Description != "new desc" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	_, err = c.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("nope"), Description: aws.String("x")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestDescribeAndListVersions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newServer(t, WithClock(func() time.Time { return now }), WithAccountID("111122223333"), WithDefaultRegion("eu-central-1"))
	c := s.Client("")
	ctx := ctxT(t)
	out := mustCreate(t, c, "s", "v1", 1)
	if !strings.Contains(*out.ARN, ":eu-central-1:111122223333:") {
		t.Fatalf("ARN %s", *out.ARN)
	}
	for i := 2; i <= 5; i++ {
		if _, err := s.PutSecretValueWithToken("", "s", *token(i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	if !d.CreatedDate.Equal(now) || !d.LastChangedDate.Equal(now) || d.DeletedDate != nil || d.LastAccessedDate != nil {
		t.Errorf("dates: %+v", d)
	}
	if len(d.VersionIdsToStages) != 2 {
		t.Errorf("VersionIdsToStages = %v (deprecated versions must not be listed)", d.VersionIdsToStages)
	}
	lv, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("s")})
	if err != nil || len(lv.Versions) != 2 || *lv.ARN != *out.ARN {
		t.Fatalf("list versions: %+v %v", lv, err)
	}
	// IncludeDeprecated with pagination.
	var ids []string
	p := sm.NewListSecretVersionIdsPaginator(c, &sm.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range pg.Versions {
			ids = append(ids, *v.VersionId)
		}
	}
	if len(ids) != 5 || pages != 3 || ids[0] != *token(5) {
		t.Fatalf("versions %v in %d pages", ids, pages)
	}
	_, err = c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("s"), NextToken: aws.String("garbage")})
	wantCode(t, err, "InvalidNextTokenException")

	// Reading marks the secret accessed (date only, as AWS).
	if _, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	d, _ = c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")})
	if d.LastAccessedDate == nil || !d.LastAccessedDate.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("LastAccessedDate = %v", d.LastAccessedDate)
	}
}

func TestVersionPruning(t *testing.T) {
	s := newServer(t)
	if _, err := s.CreateSecret("", "s", "v0"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 150; i++ {
		if _, err := s.PutSecretValue("", "s", fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	si, _ := s.Secret("", "s")
	if len(si.Versions) != maxVersions {
		t.Fatalf("%d versions kept", len(si.Versions))
	}
	if v, _ := s.Value("", "s", "AWSCURRENT"); v != "v150" {
		t.Fatalf("current = %q", v)
	}
	if v, _ := s.Value("", "s", "AWSPREVIOUS"); v != "v149" {
		t.Fatalf("previous = %q", v)
	}
}

func TestDeleteRestore(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newServer(t, WithClock(func() time.Time { return now }))
	c := s.Client("")
	ctx := ctxT(t)
	mustCreate(t, c, "s", "v1", 1)

	_, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(6)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(31)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("nope")})
	wantCode(t, err, "ResourceNotFoundException")

	del, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil || !del.DeletionDate.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("delete: %+v %v", del, err)
	}
	// Scheduled for deletion: reads and writes fail, the name is taken.
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("x")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("x")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("describe deleted: %+v %v", d, err)
	}
	if si, ok := s.Secret("", "s"); !ok || !si.Deleted {
		t.Fatalf("Secret: %+v", si)
	}
	// Listing hides it unless asked.
	l, _ := c.ListSecrets(ctx, &sm.ListSecretsInput{})
	if len(l.SecretList) != 0 {
		t.Fatalf("listed: %v", l.SecretList)
	}
	l, _ = c.ListSecrets(ctx, &sm.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	if len(l.SecretList) != 1 || l.SecretList[0].DeletedDate == nil {
		t.Fatalf("listed with planned deletion: %v", l.SecretList)
	}

	if _, err := c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil || *g.SecretString != "v1" {
		t.Fatalf("after restore: %v %v", g, err)
	}
	// Force delete frees the name at once, even while scheduled.
	if err := s.DeleteSecret("", "s", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("s"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Secret("", "s"); ok {
		t.Fatal("still there")
	}
	mustCreate(t, c, "s", "again", 2)
	_, err = c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("nope")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestListSecretsFiltersAndPagination(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	mk := func(name, desc string, tags map[string]string) {
		in := &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v")}
		if desc != "" {
			in.Description = aws.String(desc)
		}
		for k, v := range tags {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		if _, err := c.CreateSecret(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	mk("prod/db/password", "Production database", map[string]string{"env": "prod", "team": "core"})
	mk("prod/api/key", "API key", map[string]string{"env": "prod"})
	mk("dev/db/password", "dev DB", map[string]string{"env": "dev"})
	mk("Other", "", nil)

	list := func(filters ...types.Filter) []string {
		t.Helper()
		var names []string
		p := sm.NewListSecretsPaginator(c, &sm.ListSecretsInput{Filters: filters, MaxResults: aws.Int32(1)})
		for p.HasMorePages() {
			pg, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range pg.SecretList {
				names = append(names, *e.Name)
			}
		}
		sort.Strings(names)
		return names
	}
	f := func(key types.FilterNameStringType, values ...string) types.Filter {
		return types.Filter{Key: key, Values: values}
	}
	cases := []struct {
		filters []types.Filter
		want    []string
	}{
		{nil, []string{"Other", "dev/db/password", "prod/api/key", "prod/db/password"}},
		{[]types.Filter{f("name", "prod/")}, []string{"prod/api/key", "prod/db/password"}},
		{[]types.Filter{f("name", "Prod/")}, nil}, // case-sensitive
		{[]types.Filter{f("name", "dev", "Oth")}, []string{"Other", "dev/db/password"}},
		{[]types.Filter{f("name", "!prod")}, []string{"Other", "dev/db/password"}},
		{[]types.Filter{f("description", "production")}, []string{"prod/db/password"}},
		{[]types.Filter{f("tag-key", "team")}, []string{"prod/db/password"}},
		{[]types.Filter{f("tag-value", "prod")}, []string{"prod/api/key", "prod/db/password"}},
		{[]types.Filter{f("tag-value", "prod"), f("name", "prod/db")}, []string{"prod/db/password"}},
		{[]types.Filter{f("all", "db")}, []string{"dev/db/password", "prod/db/password"}},
		{[]types.Filter{f("all", "CORE")}, []string{"prod/db/password"}},
	}
	for _, tc := range cases {
		if got := list(tc.filters...); !slices.Equal(got, tc.want) {
			t.Errorf("filters %v: got %v, want %v", tc.filters, got, tc.want)
		}
	}
	_, err := c.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []types.Filter{f("bogus", "x")}})
	wantCode(t, err, "ValidationException")
	_, err = c.ListSecrets(ctx, &sm.ListSecretsInput{NextToken: aws.String("bad")})
	wantCode(t, err, "InvalidNextTokenException")
	// Sorting.
	l, err := c.ListSecrets(ctx, &sm.ListSecretsInput{SortBy: types.SortByTypeName, SortOrder: types.SortOrderTypeDesc})
	if err != nil || *l.SecretList[0].Name != "prod/db/password" || *l.SecretList[3].Name != "Other" {
		t.Fatalf("sorted: %v", err)
	}
}

func TestBatchGetSecretValue(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	ctx := ctxT(t)
	for i := range 5 {
		mustCreate(t, c, fmt.Sprintf("app/s%d", i), fmt.Sprintf("v%d", i), i+1)
	}
	if err := s.DeleteSecret("", "app/s4", false); err != nil {
		t.Fatal(err)
	}
	out, err := c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"app/s0", "missing", "app/s2", "app/s4"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecretValues) != 2 || *out.SecretValues[0].SecretString != "v0" || *out.SecretValues[1].SecretString != "v2" {
		t.Fatalf("values: %+v", out.SecretValues)
	}
	if len(out.Errors) != 2 || *out.Errors[0].SecretId != "missing" || *out.Errors[0].ErrorCode != "ResourceNotFoundException" ||
		*out.Errors[1].ErrorCode != "InvalidRequestException" || out.Errors[1].Message == nil {
		t.Fatalf("errors: %+v", out.Errors)
	}
	// By filter, paginated.
	var got []string
	p := sm.NewBatchGetSecretValuePaginator(c, &sm.BatchGetSecretValueInput{Filters: []types.Filter{{Key: "name", Values: []string{"app/"}}}, MaxResults: aws.Int32(3)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range pg.SecretValues {
			got = append(got, *v.SecretString)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"v0", "v1", "v2", "v3"}) {
		t.Fatalf("by filter: %v", got)
	}
	_, err = c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"a"}, Filters: []types.Filter{{Key: "name", Values: []string{"a"}}}})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"a"}, MaxResults: aws.Int32(2)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{Filters: []types.Filter{{Key: "name", Values: []string{"a"}}}, MaxResults: aws.Int32(21)})
	wantCode(t, err, "ValidationException")
}

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

func TestReplication(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	east, west, eu := s.Client("us-east-1"), s.Client("us-west-2"), s.Client("eu-west-1")
	out := mustCreate(t, east, "shared", "v1", 1)
	if _, err := eu.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("shared"), SecretString: aws.String("eu's own")}); err != nil {
		t.Fatal(err)
	}
	rep, err := east.ReplicateSecretToRegions(ctx, &sm.ReplicateSecretToRegionsInput{
		SecretId:          aws.String("shared"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2")}, {Region: aws.String("eu-west-1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *rep.ARN != *out.ARN || len(rep.ReplicationStatus) != 2 || rep.ReplicationStatus[0].Status != types.StatusTypeInSync || rep.ReplicationStatus[1].Status != types.StatusTypeFailed {
		t.Fatalf("replicate: %+v", rep)
	}
	// Reads on the replica, with the replica's ARN.
	g, err := west.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("shared")})
	if err != nil || *g.SecretString != "v1" || !strings.Contains(*g.ARN, ":us-west-2:") || strings.TrimPrefix(*g.ARN, "arn:aws:secretsmanager:us-west-2") != strings.TrimPrefix(*out.ARN, "arn:aws:secretsmanager:us-east-1") {
		t.Fatalf("replica read: %+v %v", g, err)
	}
	// Writes to the primary propagate.
	if _, err := s.PutSecretValue("us-east-1", "shared", "v2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("us-west-2", "shared", ""); v != "v2" {
		t.Fatalf("replica value %q", v)
	}
	// Writes to the replica are rejected.
	_, err = west.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("shared"), SecretString: aws.String("x")})
	wantCode(t, err, "InvalidParameterException")
	_, err = west.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("shared")})
	wantCode(t, err, "InvalidParameterException")
	_, err = west.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("shared"), Description: aws.String("x")})
	wantCode(t, err, "InvalidParameterException")
	// The primary can't be deleted while it has replicas.
	_, err = east.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("shared")})
	wantCode(t, err, "InvalidParameterException")
	// Describe shows both sides.
	d, err := west.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("shared")})
	if err != nil || d.PrimaryRegion == nil || *d.PrimaryRegion != "us-east-1" {
		t.Fatalf("describe replica: %+v %v", d, err)
	}
	d, _ = east.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("shared")})
	if len(d.ReplicationStatus) != 2 {
		t.Fatalf("describe primary: %+v", d.ReplicationStatus)
	}
	l, _ := west.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []types.Filter{{Key: "primary-region", Values: []string{"us-east-1"}}}})
	if len(l.SecretList) != 1 {
		t.Fatalf("primary-region filter: %v", l.SecretList)
	}
	si, _ := s.Secret("us-east-1", "shared")
	if !slices.Equal(si.Replicas, []string{"us-west-2"}) {
		t.Fatalf("SecretInfo.Replicas %v", si.Replicas)
	}
	// Remove the replica region, then the primary can be deleted.
	if _, err := east.RemoveRegionsFromReplication(ctx, &sm.RemoveRegionsFromReplicationInput{SecretId: aws.String("shared"), RemoveReplicaRegions: []string{"us-west-2", "eu-west-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Secret("us-west-2", "shared"); ok {
		t.Fatal("replica still there")
	}
	if v, _ := s.Value("eu-west-1", "shared", ""); v != "eu's own" {
		t.Fatalf("eu secret clobbered: %q", v)
	}
	if err := s.DeleteSecret("us-east-1", "shared", true); err != nil {
		t.Fatal(err)
	}
	// Replicate to own region, and via the helper.
	mustCreate(t, east, "two", "v", 2)
	_, err = east.ReplicateSecretToRegions(ctx, &sm.ReplicateSecretToRegionsInput{SecretId: aws.String("two"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-east-1")}}})
	wantCode(t, err, "InvalidParameterException")
	if err := s.Replicate("two", "", "ap-south-1"); err != nil {
		t.Fatal(err)
	}
	// Promote the replica.
	if _, err := s.Client("ap-south-1").StopReplicationToReplica(ctx, &sm.StopReplicationToReplicaInput{SecretId: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecretValue("ap-south-1", "two", "independent"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("", "two", ""); v != "v" {
		t.Fatalf("primary changed: %q", v)
	}
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

func TestOnChange(t *testing.T) {
	s := newServer(t)
	var mu sync.Mutex
	var evs []ChangeEvent
	remove := s.OnChange(func(ev ChangeEvent) {
		// Hooks run without the lock: calling back into the server is fine.
		s.Secret(ev.Region, ev.Name)
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	})
	arn, _ := s.CreateSecret("", "s", "v1")
	vid, _ := s.PutSecretValue("", "s", "v2")
	_ = s.Replicate("s", "", "us-west-2")
	_, _ = s.PutSecretValue("", "s", "v3")
	_, _ = s.Client("").TagResource(ctxT(t), &sm.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	remove()
	_, _ = s.PutSecretValue("", "s", "v4")

	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Region+" "+ev.Op)
	}
	want := []string{
		"us-east-1 CreateSecret", "us-east-1 PutSecretValue", "us-west-2 ReplicateSecretToRegions",
		"us-east-1 PutSecretValue", "us-west-2 PutSecretValue", "us-east-1 TagResource", "us-west-2 TagResource",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if evs[0].ARN != arn || evs[1].VersionID != vid || !slices.Equal(evs[1].Stages, []string{"AWSCURRENT"}) {
		t.Fatalf("event details %+v", evs[:2])
	}
}

func TestHelpers(t *testing.T) {
	s := newServer(t, WithDefaultRegion("eu-west-3"))
	arn, err := s.CreateBinarySecret("", "bin", []byte("raw"))
	if err != nil || !strings.Contains(arn, ":eu-west-3:") {
		t.Fatal(arn, err)
	}
	if v, ok := s.Value("eu-west-3", arn, ""); !ok || v != "raw" {
		t.Fatalf("Value %q %v", v, ok)
	}
	if _, err := s.CreateSecret("", "bin", "x"); errCode(err) != "ResourceExistsException" {
		t.Fatalf("dup: %v", err)
	}
	var ae *APIError
	if _, err := s.PutSecretValue("", "nope", "x"); !errors.As(err, &ae) || ae.Code != "ResourceNotFoundException" {
		t.Fatalf("not found: %v", err)
	}
	if _, err := s.CreateSecret("", "bad name", "x"); errCode(err) != "ValidationException" {
		t.Fatalf("bad name: %v", err)
	}
	if err := s.LoadJSON("", []byte(`{"a": "1", "b": {"user": "u", "n": [1, 2]}}`)); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("", "b", ""); v != `{"user":"u","n":[1,2]}` {
		t.Fatalf("b = %q", v)
	}
	// Reloading: unchanged values add no version, changed ones do.
	if err := s.LoadJSON("", []byte(`{"a": "1", "b": "2"}`)); err != nil {
		t.Fatal(err)
	}
	if si, _ := s.Secret("", "a"); len(si.Versions) != 1 {
		t.Fatalf("a versions %v", si.Versions)
	}
	if si, _ := s.Secret("", "b"); len(si.Versions) != 2 || si.Stage("AWSPREVIOUS") == "" {
		t.Fatalf("b versions %v", si.Versions)
	}
	for _, bad := range []string{`[1]`, `{"a": 1}`, `{"bad name": "x"}`, `{`} {
		if err := s.LoadJSON("", []byte(bad)); err == nil {
			t.Errorf("LoadJSON(%s) succeeded", bad)
		}
	}
	if err := s.LoadFile("us-west-1", "testdata/secrets.json"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("us-west-1", "app/db", ""); !strings.Contains(v, `"password"`) {
		t.Fatalf("loaded %q", v)
	}
	if err := s.LoadFile("", "testdata/nope.json"); err == nil {
		t.Fatal("missing file loaded")
	}
	if got := s.Regions(); !slices.Equal(got, []string{"eu-west-3", "us-west-1"}) {
		t.Fatalf("Regions %v", got)
	}
	if err := s.RestoreSecret("", "a"); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if len(s.Regions()) != 0 {
		t.Fatal("Reset kept secrets")
	}
	if s.Calls("", "") != 0 {
		t.Fatal("helpers were counted")
	}
}

func TestConcurrentClients(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	const workers, perWorker = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			region := []string{"us-east-1", "us-west-2"}[w%2]
			c := s.Client(region)
			name := fmt.Sprintf("w%d", w)
			if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("0")}); err != nil {
				errs <- err
				return
			}
			for i := 1; i <= perWorker; i++ {
				if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(fmt.Sprint(i))}); err != nil {
					errs <- err
					return
				}
				if _, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name)}); err != nil {
					errs <- err
					return
				}
				if _, err := c.ListSecrets(ctx, &sm.ListSecretsInput{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := s.Calls("", "PutSecretValue"); got != workers*perWorker {
		t.Fatalf("PutSecretValue calls = %d", got)
	}
	if got := s.Calls("us-west-2", ""); got != workers/2*(1+3*perWorker) {
		t.Fatalf("us-west-2 calls = %d", got)
	}
	for w := range workers {
		region := []string{"us-east-1", "us-west-2"}[w%2]
		if v, _ := s.Value(region, fmt.Sprintf("w%d", w), ""); v != fmt.Sprint(perWorker) {
			t.Fatalf("w%d = %q", w, v)
		}
	}
	s.ResetCalls()
	if s.Calls("", "") != 0 {
		t.Fatal("ResetCalls")
	}
}

func TestNoValuesInLogs(t *testing.T) {
	var buf syncBuffer
	s := newServer(t, WithLogger(slogJSON(&buf)))
	c := s.Client("")
	ctx := ctxT(t)
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("TOPSECRET-1")}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")})
	_, _ = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("TOPSECRET-2")})
	_, _ = c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"s"}})
	out := buf.String()
	if !strings.Contains(out, "GetSecretValue") {
		t.Fatalf("no request logs: %s", out)
	}
	if strings.Contains(out, "TOPSECRET") {
		t.Fatalf("secret value logged: %s", out)
	}
}

func TestHTTPStatusOfErrors(t *testing.T) {
	s := newServer(t)
	c := s.Client("")
	_, err := c.DescribeSecret(ctxT(t), &sm.DescribeSecretInput{SecretId: aws.String("nope")})
	if httpStatus(err) != http.StatusBadRequest {
		t.Fatalf("status %d", httpStatus(err))
	}
}

// Seed errors name the file, the place of a syntax error and the secret,
// say what a seed must be, and never show a value.
func TestSeedErrors(t *testing.T) {
	s := NewServer()
	defer s.Close()
	dir := t.TempDir()
	file := func(content string) string {
		p := filepath.Join(dir, fmt.Sprintf("seed-%d.json", len(content)))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	syntax := file("{\n  \"a\": \"hunter2\",\n  \"b\" \"x\"\n}")
	number := file(`{"app/port": 5432}`)
	array := file(`["a"]`)
	badName := file(`{"bad name": "hunter2"}`)
	missing := filepath.Join(dir, "none.json")
	cases := []struct{ path, want string }{
		{syntax, syntax + `: line 3, column 7: invalid JSON: invalid character '"' after object key; the seed must be a JSON object mapping secret names to a string or an object`},
		{number, number + `: secret "app/port": value must be a string or an object, not a number`},
		{array, array + `: the document is a JSON array; the seed must be a JSON object`},
		{badName, badName + `: secret "bad name": invalid secret name`},
		{missing, missing + `: no such file or directory`},
	}
	for _, c := range cases {
		err := s.LoadFile("", c.path)
		var se *SeedError
		if !errors.As(err, &se) || se.File != c.path || !strings.Contains(err.Error(), "smtest: "+c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("LoadFile(%s): %v\n want smtest: %s", filepath.Base(c.path), err, c.want)
		}
	}
	if err := s.LoadJSON("", []byte(`{"x": true}`)); err == nil || err.Error() != `smtest: LoadJSON: secret "x": value must be a string or an object, not a boolean` {
		t.Errorf("LoadJSON: %v", err)
	}
}
