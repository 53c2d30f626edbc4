package ssmparam_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/ssmparam"
	"github.com/secretcache/secretcache/ssmtest"
)

// newSource returns a source reading srv (its default region) with fast
// retries.
func newSource(t testing.TB, srv *ssmtest.Server, opts ...ssmparam.Option) *ssmparam.Source {
	t.Helper()
	opts = append([]ssmparam.Option{ssmparam.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	src, err := ssmparam.New(srv.AWSConfig(""), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func put(t testing.TB, srv *ssmtest.Server, region, name, typ, value string) int64 {
	t.Helper()
	n, err := srv.Put(region, name, typ, value)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
}

// Each type through the real SDK over HTTP: String, StringList (its
// comma-separated text), SecureString decrypted by default and opaque
// without decryption; type and data type in the stages.
func TestTypes(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	put(t, srv, "", "/app/url", ssmtest.TypeString, "https://example.test")
	put(t, srv, "", "/app/hosts", ssmtest.TypeStringList, "a,b,c")
	put(t, srv, "", "/app/pw", ssmtest.TypeSecureString, "s3cr3t-value")
	src := newSource(t, srv)
	ctx := context.Background()
	for _, c := range []struct{ name, typ, value string }{
		{"/app/url", "String", "https://example.test"},
		{"/app/hosts", "StringList", "a,b,c"},
		{"/app/pw", "SecureString", "s3cr3t-value"},
	} {
		s, err := src.Fetch(ctx, secretcache.Ref{ID: c.name})
		if err != nil {
			t.Fatal(err)
		}
		typ, dt := ssmparam.TypeOf(s.VersionStages)
		if s.String != c.value || typ != c.typ || dt != "text" || s.Name != c.name || s.VersionID != "1" ||
			!strings.HasPrefix(s.ARN, "arn:aws:ssm:us-east-1:") || s.CreatedDate.IsZero() {
			t.Fatalf("%s: got %+v type %q/%q", c.name, s, typ, dt)
		}
	}
	plain := newSource(t, srv, ssmparam.WithoutDecryption())
	s, err := plain.Fetch(ctx, secretcache.Ref{ID: "/app/pw"})
	if err != nil {
		t.Fatal(err)
	}
	if s.String == "s3cr3t-value" || s.String == "" || plain.Decrypts() || !src.Decrypts() {
		t.Fatalf("without decryption: got the value, or none")
	}
	// Through a cache: one call for many reads.
	cache, err := secretcache.New(src)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	srv.ResetCalls()
	for range 5 {
		if v, err := cache.GetString(ctx, "/app/url"); err != nil || v != "https://example.test" {
			t.Fatal(v, err)
		}
	}
	if n := srv.Calls("", "GetParameter"); n != 1 {
		t.Fatalf("%d GetParameter calls for 5 cached reads", n)
	}
}

// Versions and labels, in the id (name:3, name:label) or in the Ref, and
// through a cache with WithVersionID / WithVersionStage; a label moved to a
// new version reads the new value once refreshed.
func TestVersionsAndLabels(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	for i := 1; i <= 3; i++ {
		put(t, srv, "", "/cfg/mode", ssmtest.TypeString, fmt.Sprintf("v%d", i))
	}
	if err := srv.Label("", "/cfg/mode", 2, "stable"); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, srv)
	ctx := context.Background()
	for _, c := range []struct {
		ref  secretcache.Ref
		want string
	}{
		{secretcache.Ref{ID: "/cfg/mode"}, "v3"},
		{secretcache.Ref{ID: "/cfg/mode:1"}, "v1"},
		{secretcache.Ref{ID: "/cfg/mode", VersionID: "1"}, "v1"},
		{secretcache.Ref{ID: "/cfg/mode:stable"}, "v2"},
		{secretcache.Ref{ID: "/cfg/mode", VersionStage: "stable"}, "v2"},
		{secretcache.Ref{ID: "arn:aws:ssm:us-east-1:123456789012:parameter/cfg/mode:1"}, "v1"},
	} {
		s, err := src.Fetch(ctx, c.ref)
		if err != nil {
			t.Fatalf("%v: %v", c.ref, err)
		}
		if s.String != c.want {
			t.Fatalf("%v: got %q, want %q", c.ref, s.String, c.want)
		}
	}
	_, err := src.Fetch(ctx, secretcache.Ref{ID: "/cfg/mode:9"})
	wantKind(t, err, secretcache.ErrNotFound)
	var pv *types.ParameterVersionNotFound
	if !errors.As(err, &pv) {
		t.Fatalf("err %v: want the SDK's ParameterVersionNotFound under it", err)
	}
	_, err = src.Fetch(ctx, secretcache.Ref{ID: "/cfg/mode:nolabel"})
	wantKind(t, err, secretcache.ErrNotFound)
	_, err = src.Fetch(ctx, secretcache.Ref{ID: "/cfg/none"})
	wantKind(t, err, secretcache.ErrNotFound)
	var pn *types.ParameterNotFound
	if !errors.As(err, &pn) {
		t.Fatalf("err %v: want the SDK's ParameterNotFound under it", err)
	}

	cache, err := secretcache.New(src)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if v, err := cache.GetString(ctx, "/cfg/mode", secretcache.WithVersionID("1")); err != nil || v != "v1" {
		t.Fatal(v, err)
	}
	if v, err := cache.GetString(ctx, "/cfg/mode", secretcache.WithVersionStage("stable")); err != nil || v != "v2" {
		t.Fatal(v, err)
	}
	if err := srv.Label("", "/cfg/mode", 3, "stable"); err != nil {
		t.Fatal(err)
	}
	s, err := cache.Refresh(ctx, "/cfg/mode", secretcache.WithVersionStage("stable"))
	if err != nil || s.String != "v3" || s.VersionID != "3" {
		t.Fatalf("after moving the label: %+v %v", s, err)
	}
}

// Bad ids, versions and labels fail with ErrInvalidRequest before any call,
// and the error does not quote a hostile id whole.
func TestInvalidRefs(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	src := newSource(t, srv)
	long := "/" + strings.Repeat("a", 3000)
	for _, ref := range []secretcache.Ref{
		{ID: ""},
		{ID: long},
		{ID: "/a b"},
		{ID: "/a\x00b"},
		{ID: "/a;b"},
		{ID: "/a:1", VersionID: "2"},
		{ID: "/a", VersionID: "x"},
		{ID: "/a", VersionID: "0"},
		{ID: "/a", VersionStage: "12"},
		{ID: "/a", VersionID: "1", VersionStage: "l"},
		{ID: "/a:awsx"},
		{ID: "/a:ssm"},
		{ID: "/a:9lab"},
		{ID: "/a:" + strings.Repeat("l", 101)},
		{ID: "arn:aws:ssm:us-east-1:1:secret/x"},
		{ID: ssmparam.ReferencePrefix},
	} {
		_, err := src.Fetch(context.Background(), ref)
		wantKind(t, err, secretcache.ErrInvalidRequest)
		if len(err.Error()) > 400 {
			t.Fatalf("error for a long id is %d bytes", len(err.Error()))
		}
		res := src.FetchBatch(context.Background(), []secretcache.Ref{ref})
		wantKind(t, res[0].Err, secretcache.ErrInvalidRequest)
	}
	if n := srv.Calls("", ""); n != 0 {
		t.Fatalf("%d calls for invalid refs", n)
	}
	for _, p := range []string{"", "a", "/a b", long} {
		_, err := src.ListNames(context.Background(), p)
		wantKind(t, err, secretcache.ErrInvalidRequest)
	}
	if _, err := ssmparam.New(srv.AWSConfig(""), nil); err == nil {
		t.Fatal("nil option accepted")
	}
	if _, err := ssmparam.New(srv.AWSConfig(""), ssmparam.WithRegions("us-east-1", "us-east-1")); err == nil ||
		!strings.HasPrefix(err.Error(), "ssmparam: ") || strings.Count(err.Error(), "ssmparam") != 1 {
		t.Fatalf("repeated region: %v", err)
	}
}

// A batch mixing found, missing, versioned and labelled names: one
// GetParameters call of distinct names, InvalidParameters mapped to
// ErrNotFound per ref, the others served.
func TestBatchNotFound(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	put(t, srv, "", "/b/one", ssmtest.TypeString, "1")
	put(t, srv, "", "/b/two", ssmtest.TypeSecureString, "2")
	put(t, srv, "", "/b/two", ssmtest.TypeSecureString, "2b")
	if err := srv.Label("", "/b/two", 1, "old"); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, srv)
	refs := []secretcache.Ref{
		{ID: "/b/one"}, {ID: "/b/missing"}, {ID: "/b/two", VersionID: "1"}, {ID: "/b/two:old"},
		{ID: "/b/two"}, {ID: "/b/one"}, {ID: "/b/two:7"},
	}
	res := src.FetchBatch(context.Background(), refs)
	want := []string{"1", "", "2", "2", "2b", "1", ""}
	for i, r := range res {
		if want[i] == "" {
			wantKind(t, r.Err, secretcache.ErrNotFound)
			continue
		}
		if r.Err != nil || r.Secret.String != want[i] {
			t.Fatalf("ref %v: %+v %v", refs[i], r.Secret, r.Err)
		}
	}
	if n := srv.Calls("", "GetParameters"); n != 1 {
		t.Fatalf("%d GetParameters calls for 7 refs", n)
	}
}

// By-path warm-up of 500 parameters: ListNames pages through
// GetParametersByPath (10 a page), Warm reads them with GetParameters in
// batches of 10, and then every read hits.
func TestByPathWarm500(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	for i := range 500 {
		put(t, srv, "", fmt.Sprintf("/svc/p%02d/k%03d", i%7, i), ssmtest.TypeString, fmt.Sprint(i))
	}
	put(t, srv, "", "/other/x", ssmtest.TypeString, "no")
	src := newSource(t, srv)
	ctx := context.Background()
	names, err := src.ListNames(ctx, "/svc")
	if err != nil || len(names) != 500 {
		t.Fatalf("%d names, %v", len(names), err)
	}
	if n := srv.Calls("", "GetParametersByPath"); n != 50 {
		t.Fatalf("%d GetParametersByPath pages for 500 names", n)
	}
	cache, err := secretcache.New(src, secretcache.WithTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if err := cache.Warm(ctx, names...); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("", "GetParameters"); n != 50 {
		t.Fatalf("%d GetParameters calls to warm 500", n)
	}
	before := srv.Calls("", "")
	for i := range 500 {
		v, err := cache.GetString(ctx, fmt.Sprintf("/svc/p%02d/k%03d", i%7, i))
		if err != nil || v != fmt.Sprint(i) {
			t.Fatal(v, err)
		}
	}
	if n := srv.Calls("", "") - before; n != 0 {
		t.Fatalf("%d calls after the warm-up", n)
	}
}

// Throttling: the SDK's retryer backs off and retries; the answer comes
// after the throttled attempts. Throttling beyond the attempts is
// ErrThrottled, transient.
func TestThrottlingBackoff(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	put(t, srv, "", "/t/x", ssmtest.TypeString, "ok")
	src := newSource(t, srv, ssmparam.WithMaxAttempts(3))
	srv.SetFault("", "GetParameter", ssmtest.Fault{ErrorCode: "ThrottlingException", Count: 2})
	start := time.Now()
	s, err := src.Fetch(context.Background(), secretcache.Ref{ID: "/t/x"})
	if err != nil || s.String != "ok" {
		t.Fatal(s, err)
	}
	if n := srv.Calls("", "GetParameter"); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	t.Logf("2 throttled attempts then success in %v", time.Since(start))
	srv.SetFault("", "GetParameters", ssmtest.Fault{ErrorCode: "ThrottlingException"})
	res := src.FetchBatch(context.Background(), []secretcache.Ref{{ID: "/t/x"}, {ID: "/t/y"}})
	for _, r := range res {
		wantKind(t, r.Err, secretcache.ErrThrottled)
		if !secretcache.IsTransient(r.Err) {
			t.Fatal("throttling not transient")
		}
	}
}

// Failover: with the primary region failing, reads go to the next one; the
// primary's breaker opens and it is skipped; calls are counted per region
// by the observer. Two regions of one fake: the region is in the SigV4
// scope.
func TestFailover(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	put(t, srv, "us-east-1", "/f/x", ssmtest.TypeString, "east")
	put(t, srv, "us-west-2", "/f/x", ssmtest.TypeString, "west")
	var mu sync.Mutex
	seen := map[string]int{}
	src := newSource(t, srv, ssmparam.WithRegions("us-east-1", "us-west-2"),
		ssmparam.WithMaxAttempts(1), ssmparam.WithBreaker(2, time.Hour),
		ssmparam.WithRegionEndpoint("us-west-2", srv.URL),
		ssmparam.WithCallObserver(func(op, region string, _ time.Duration, err error) {
			mu.Lock()
			seen[op+" "+region+" "+secretcache.KindName(err)]++
			mu.Unlock()
		}))
	ctx := context.Background()
	srv.SetFault("us-east-1", "", ssmtest.Fault{ErrorCode: "InternalServerError"})
	for range 4 {
		s, err := src.Fetch(ctx, secretcache.Ref{ID: "/f/x"})
		if err != nil || s.String != "west" {
			t.Fatal(s, err)
		}
	}
	if n := srv.Calls("us-east-1", ""); n != 2 {
		t.Fatalf("%d calls to the failing region, want 2 (then its breaker is open)", n)
	}
	b := src.Breakers()
	if len(b) != 2 || b[0].State != "open" || !b[0].Primary || b[1].State != "closed" {
		t.Fatalf("breakers %+v", b)
	}
	// While the primary's breaker is open, another region's "not found" is
	// not the truth about the parameter (regions hold separate
	// parameters): it is a transient failure, so a cached value is kept.
	_, err := src.Fetch(ctx, secretcache.Ref{ID: "/f/none"})
	wantKind(t, err, secretcache.ErrUnavailable)
	if strings.Contains(err.Error(), "/f/x") {
		t.Errorf("error names another parameter: %v", err)
	}
	srv.ClearFaults()
	mu.Lock()
	defer mu.Unlock()
	if seen["GetParameter us-east-1 unavailable"] != 2 || seen["GetParameter us-west-2 "] != 4 || seen["GetParameter us-west-2 not_found"] != 1 {
		t.Fatalf("observed %v", seen)
	}
	if got := src.Regions(); len(got) != 2 || got[0] != "us-east-1" {
		t.Fatal(got)
	}
}

// Access and KMS errors map to their kinds and do not fail over.
func TestErrorKinds(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	src := newSource(t, srv, ssmparam.WithMaxAttempts(1))
	for code, kind := range map[string]error{
		"AccessDeniedException":     secretcache.ErrAccessDenied,
		"InvalidKeyId":              secretcache.ErrDecryption,
		"KMS.AccessDeniedException": secretcache.ErrDecryption,
		"ParameterNotFound":         secretcache.ErrNotFound,
		"ThrottlingException":       secretcache.ErrThrottled,
		"InternalServerError":       secretcache.ErrUnavailable,
		"ValidationException":       secretcache.ErrInvalidRequest,
	} {
		srv.SetFault("", "", ssmtest.Fault{ErrorCode: code})
		_, err := src.Fetch(context.Background(), secretcache.Ref{ID: "/k"})
		wantKind(t, err, kind)
		var ce *ssmparam.CallError
		if !errors.As(err, &ce) || ce.Code != code || ce.Operation != "GetParameter" || ce.Region != "us-east-1" {
			t.Fatalf("%s: %v", code, err)
		}
	}
}

// /aws/reference/secretsmanager/ID reads a Secrets Manager secret through
// Parameter Store (the fake linked to smtest), AWSCURRENT or a stage.
func TestSecretsManagerReference(t *testing.T) {
	sm := smtest.NewServer()
	defer sm.Close()
	if _, err := sm.CreateSecret("", "prod/db", `{"password":"pw1"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue("", "prod/db", `{"password":"pw2"}`); err != nil {
		t.Fatal(err)
	}
	srv := ssmtest.NewServer(ssmtest.WithSecretsManager(sm))
	defer srv.Close()
	src := newSource(t, srv)
	cache, err := secretcache.New(src)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()
	id := ssmparam.ReferencePrefix + "prod/db"
	if v, err := cache.GetField(ctx, id, "password"); err != nil || v != "pw2" {
		t.Fatal(v, err)
	}
	if s, err := src.Fetch(ctx, secretcache.Ref{ID: id + ":AWSPREVIOUS"}); err != nil || !strings.Contains(s.String, "pw1") {
		t.Fatal(err)
	}
	_, err = src.Fetch(ctx, secretcache.Ref{ID: ssmparam.ReferencePrefix + "nope"})
	wantKind(t, err, secretcache.ErrNotFound)
	plain := newSource(t, srv, ssmparam.WithoutDecryption())
	_, err = plain.Fetch(ctx, secretcache.Ref{ID: id})
	wantKind(t, err, secretcache.ErrInvalidRequest)
}

// Asked by ARN, the answer must carry that ARN: another account's or
// region's parameter of the same name is never served for it.
func TestARNOfAnotherAccountIsNotServed(t *testing.T) {
	srv := ssmtest.NewServer()
	defer srv.Close()
	put(t, srv, "", "flag", "String", "ours")
	c, err := secretcache.New(newSource(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, id := range []string{
		"arn:aws:ssm:us-east-1:999999999999:parameter/flag", // another account
		"arn:aws:ssm:eu-west-1:123456789012:parameter/flag", // another region
	} {
		if v, err := c.GetString(ctx, id); err == nil {
			t.Errorf("%s: served %q, our account's parameter", id, v)
		}
	}
	if v, err := c.GetString(ctx, "arn:aws:ssm:us-east-1:123456789012:parameter/flag"); err != nil || v != "ours" {
		t.Errorf("our own ARN: %q, %v", v, err)
	}
}
