package smtest

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

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

func TestDeleteRestore(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newServer(t, WithClock(clockFunc(func() time.Time { return now })))
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
