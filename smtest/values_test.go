package smtest

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

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

func TestDescribeAndListVersions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newServer(t, WithClock(clockFunc(func() time.Time { return now })), WithAccountID("111122223333"), WithDefaultRegion("eu-central-1"))
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
