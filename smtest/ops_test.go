package smtest

import (
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

// clockFunc is a secretcache.Clock reading a function.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

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
