package awssm_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

func TestFetchByNameFullAndPartialARN(t *testing.T) {
	srv := newServer(t)
	arn, _ := srv.CreateSecret(primary, "prod/db", `{"password":"p1"}`)
	src := newSource(t, srv)
	partial := arn[:len(arn)-7]
	for _, id := range []string{"prod/db", arn, partial} {
		s, err := src.Fetch(bg, secretcache.Ref{ID: id})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if s.Name != "prod/db" || s.ARN != arn || s.String != `{"password":"p1"}` || !s.HasStage("AWSCURRENT") || s.VersionID == "" {
			t.Fatalf("%s: got %+v", id, s)
		}
	}
}

func TestFetchStagesVersionsAndBinary(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "app/key", "v1")
	v2, err := srv.PutSecretValue(primary, "app/key", "v2")
	if err != nil {
		t.Fatal(err)
	}
	v3, err := srv.PutSecretValue(primary, "app/key", "v3", "CANARY")
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateBinarySecret(primary, "app/bin", []byte{0, 1, 2, 255})
	src := newSource(t, srv)

	cases := []struct {
		ref  secretcache.Ref
		want string
	}{
		{secretcache.Ref{ID: "app/key"}, "v2"},
		{secretcache.Ref{ID: "app/key", VersionStage: "AWSCURRENT"}, "v2"},
		{secretcache.Ref{ID: "app/key", VersionStage: "AWSPREVIOUS"}, "v1"},
		{secretcache.Ref{ID: "app/key", VersionStage: "CANARY"}, "v3"},
		{secretcache.Ref{ID: "app/key", VersionID: v3}, "v3"},
		{secretcache.Ref{ID: "app/key", VersionID: v2, VersionStage: "AWSCURRENT"}, "v2"},
	}
	for _, c := range cases {
		s, err := src.Fetch(bg, c.ref)
		if err != nil {
			t.Fatalf("%v: %v", c.ref, err)
		}
		if s.String != c.want {
			t.Fatalf("%v: got version %s", c.ref, s.VersionID)
		}
		if c.ref.VersionID != "" && s.VersionID != c.ref.VersionID {
			t.Fatalf("%v: got version %s", c.ref, s.VersionID)
		}
	}
	b, err := src.Fetch(bg, secretcache.Ref{ID: "app/bin"})
	if err != nil || !b.IsBinary() || string(b.Binary) != "\x00\x01\x02\xff" {
		t.Fatalf("binary: %v %v", b, err)
	}

	_, err = src.Fetch(bg, secretcache.Ref{ID: "app/key", VersionStage: "NOPE"})
	mustKind(t, err, secretcache.ErrNotFound)
	_, err = src.Fetch(bg, secretcache.Ref{ID: "app/key", VersionID: v3, VersionStage: "AWSCURRENT"})
	mustKind(t, err, secretcache.ErrInvalidRequest)
	if apiCode(err) != "InvalidRequestException" {
		t.Fatalf("code %q", apiCode(err))
	}
	_, err = src.Fetch(bg, secretcache.Ref{ID: "app/key", VersionID: "short"})
	mustKind(t, err, secretcache.ErrInvalidRequest)
}

// Every AWS error code maps to its kind, the AWS error stays reachable, and
// only transient ones fail over.
func TestErrorMapping(t *testing.T) {
	srv := newServer(t)
	replicated(t, srv, "s", "v")
	cases := []struct {
		code     string
		kind     error
		failover bool
	}{
		{"ResourceNotFoundException", secretcache.ErrNotFound, false},
		{"AccessDeniedException", secretcache.ErrAccessDenied, false},
		{"DecryptionFailure", secretcache.ErrDecryption, false},
		{"InvalidParameterException", secretcache.ErrInvalidRequest, false},
		{"InvalidRequestException", secretcache.ErrInvalidRequest, false},
		{"ValidationException", secretcache.ErrInvalidRequest, false},
		{"UnrecognizedClientException", secretcache.ErrAccessDenied, false},
		{"ThrottlingException", secretcache.ErrThrottled, true},
		{"TooManyRequestsException", secretcache.ErrThrottled, true},
		{"RequestLimitExceeded", secretcache.ErrThrottled, true},
		{"InternalServiceError", secretcache.ErrUnavailable, true},
		{"ServiceUnavailable", secretcache.ErrUnavailable, true},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			srv.ClearFaults()
			srv.ResetCalls()
			// Single region: the error reaches the caller.
			one := newSource(t, srv, awssm.WithRegions(primary), awssm.WithMaxAttempts(1))
			srv.SetFault(primary, "", smtest.Fault{ErrorCode: c.code})
			_, err := one.Fetch(bg, secretcache.Ref{ID: "s"})
			mustKind(t, err, c.kind)
			if apiCode(err) != c.code {
				t.Fatalf("errors.As found code %q, want %q", apiCode(err), c.code)
			}
			if secretcache.IsTransient(err) != c.failover {
				t.Fatalf("transient = %v", !c.failover)
			}
			if strings.Contains(err.Error(), `"v"`) {
				t.Fatalf("error mentions the value: %v", err)
			}
			// Two regions: transient errors fail over, the others do not.
			two := newSource(t, srv, awssm.WithMaxAttempts(1))
			srv.ResetCalls()
			s, err := two.Fetch(bg, secretcache.Ref{ID: "s"})
			if c.failover {
				if err != nil || s.String != "v" {
					t.Fatalf("no failover: %v", err)
				}
			} else {
				mustKind(t, err, c.kind)
				if n := srv.Calls(replica, ""); n != 0 {
					t.Fatalf("%d calls to the replica on a permanent error", n)
				}
			}
		})
	}
}

func TestDeletedSecretIsErrDeleted(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "old", "v")
	if err := srv.DeleteSecret(primary, "old", false); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, srv)
	_, err := src.Fetch(bg, secretcache.Ref{ID: "old"})
	mustKind(t, err, secretcache.ErrDeleted)
	if apiCode(err) != "InvalidRequestException" {
		t.Fatalf("code %q", apiCode(err))
	}
	res := src.FetchBatch(bg, []secretcache.Ref{{ID: "old"}, {ID: "missing"}})
	mustKind(t, res[0].Err, secretcache.ErrDeleted)
	mustKind(t, res[1].Err, secretcache.ErrNotFound)
}

// Each region can have its own endpoint.
func TestRegionEndpoints(t *testing.T) {
	east, west := newServer(t), newServer(t)
	east.CreateSecret(primary, "db", "east")
	west.CreateSecret(replica, "db", "west")
	cfg := aws.Config{Region: primary, Credentials: east.AWSConfig("").Credentials}
	src, err := awssm.New(cfg, fastOpts(awssm.WithRegionEndpoint(primary, east.URL),
		awssm.WithRegionEndpoint(replica, west.URL))...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Fetch(bg, secretcache.Ref{ID: "db"})
	if err != nil || s.String != "east" {
		t.Fatal(s, err)
	}
	east.Close()
	s, err = src.Fetch(bg, secretcache.Ref{ID: "db"})
	if err != nil || s.String != "west" {
		t.Fatal(s, err)
	}
	if got := src.Regions(); len(got) != 2 || got[0] != primary || got[1] != replica {
		t.Fatal(got)
	}
}

func TestUserAgentAndObserver(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "a", "1")
	srv.CreateSecret(primary, "b", "2")
	rec := &recordingClient{next: http.DefaultClient}
	cfg := srv.AWSConfig(primary)
	cfg.HTTPClient = rec
	type obs struct {
		op, region, kind string
	}
	var mu sync.Mutex
	var seen []obs
	src, err := awssm.New(cfg, fastOpts(awssm.WithCallObserver(func(op, region string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if d <= 0 {
			t.Errorf("duration %v", d)
		}
		seen = append(seen, obs{op, region, secretcache.KindName(err)})
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	src.Fetch(bg, secretcache.Ref{ID: "a"})
	src.Fetch(bg, secretcache.Ref{ID: "nope"})
	src.FetchBatch(bg, []secretcache.Ref{{ID: "a"}, {ID: "b"}})
	src.ListNames(bg, "")
	agents, _, _ := rec.all()
	for _, a := range agents {
		if !strings.Contains(a, "secretcache/"+secretcache.Version) {
			t.Fatalf("user agent %q lacks secretcache/%s", a, secretcache.Version)
		}
	}
	want := []obs{{"GetSecretValue", primary, ""}, {"GetSecretValue", primary, "not_found"},
		{"BatchGetSecretValue", primary, ""}, {"ListSecrets", primary, ""}}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("observed %v", seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("observed %v, want %v", seen, want)
		}
	}
}

func TestListNames(t *testing.T) {
	srv := newServer(t)
	for _, n := range []string{"prod/a", "prod/b", "Prod/c", "dev/a", "prod/gone"} {
		srv.CreateSecret(primary, n, "x")
	}
	for i := 0; i < 120; i++ { // more than one page
		srv.CreateSecret(primary, "prod/many/"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "x")
	}
	srv.DeleteSecret(primary, "prod/gone", false)
	src := newSource(t, srv)
	names, err := src.ListNames(bg, "prod/")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 122 || names[0] != "prod/a" || names[1] != "prod/b" {
		t.Fatalf("%d names: %v", len(names), names[:3])
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "prod/") {
			t.Fatalf("name %q", n)
		}
	}
	all, err := src.ListNames(bg, "")
	if err != nil || len(all) != 124 {
		t.Fatalf("%d %v", len(all), err)
	}
	for _, bad := range []string{"!prod", "a b", "x:y", strings.Repeat("a", 513), "\x00"} {
		srv.ResetCalls()
		_, err := src.ListNames(bg, bad)
		mustKind(t, err, secretcache.ErrInvalidRequest)
		if srv.Calls("", "") != 0 {
			t.Fatal("invalid prefix reached the server")
		}
	}
	// Fails over too: the replica region holds only prod/a.
	srv.Replicate("prod/a", primary, replica)
	srv.SetFault(primary, "", smtest.Fault{ErrorCode: "InternalServiceError"})
	names, err = src.ListNames(bg, "prod/")
	if err != nil || len(names) != 1 || names[0] != "prod/a" {
		t.Fatal(names, err)
	}
}

func TestInvalidRefs(t *testing.T) {
	srv := newServer(t)
	src := newSource(t, srv)
	bad := []secretcache.Ref{
		{},
		{ID: strings.Repeat("a", secretcache.MaxIDLength+1)},
		{ID: "a\nb"},
		{ID: "a b"},
		{ID: "x:y"},
		{ID: "arn:aws:s3:::bucket"},
		{ID: "arn:aws:secretsmanager:us-east-1:123:secret:"},
		{ID: "arn:aws:secretsmanager:US_EAST:123:secret:x"},
		{ID: "ok", VersionStage: strings.Repeat("s", 257)},
		{ID: "ok", VersionID: strings.Repeat("v", 65)},
		{ID: "ok", VersionStage: "a\x00"},
	}
	for _, ref := range bad {
		_, err := src.Fetch(bg, ref)
		mustKind(t, err, secretcache.ErrInvalidRequest)
		if len(err.Error()) > 300 {
			t.Fatalf("error message not bounded: %d bytes", len(err.Error()))
		}
	}
	res := src.FetchBatch(bg, bad)
	for i, r := range res {
		mustKind(t, r.Err, secretcache.ErrInvalidRequest)
		if r.Secret != nil {
			t.Fatal(i)
		}
	}
	if n := srv.Calls("", ""); n != 0 {
		t.Fatalf("%d calls for invalid refs", n)
	}
	if len(src.FetchBatch(bg, nil)) != 0 {
		t.Fatal("results for no refs")
	}
	//lint:ignore SA1012 a nil context must not panic
	if _, err := src.Fetch(nil, secretcache.Ref{ID: "missing"}); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestOptionValidation(t *testing.T) {
	srv := newServer(t)
	cfg := srv.AWSConfig(primary)
	bad := map[string][]awssm.Option{
		"nil option":        {nil},
		"empty region":      {awssm.WithRegions("")},
		"bad region":        {awssm.WithRegions("US-EAST-1")},
		"hostile region":    {awssm.WithRegions("evil.com/")},
		"dash region":       {awssm.WithRegions("-a")},
		"double dash":       {awssm.WithRegions("a--b")},
		"long region":       {awssm.WithRegions(strings.Repeat("a", 33))},
		"duplicate region":  {awssm.WithRegions(primary, replica, primary)},
		"too many regions":  {awssm.WithRegions("r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "r16")},
		"endpoint scheme":   {awssm.WithRegionEndpoint(primary, "ftp://x")},
		"endpoint no host":  {awssm.WithRegionEndpoint(primary, "http://")},
		"endpoint user":     {awssm.WithRegionEndpoint(primary, "http://u:p@x")},
		"endpoint query":    {awssm.WithRegionEndpoint(primary, "http://x/?a=b")},
		"endpoint garbage":  {awssm.WithRegionEndpoint(primary, "::::")},
		"endpoint region":   {awssm.WithRegionEndpoint("eu-west-1", "http://x")},
		"zero attempts":     {awssm.WithMaxAttempts(0)},
		"many attempts":     {awssm.WithMaxAttempts(11)},
		"negative attempt":  {awssm.WithAttemptTimeout(-time.Second)},
		"zero timeout":      {awssm.WithTimeout(0)},
		"backoff base":      {awssm.WithBackoff(0, time.Second)},
		"backoff max":       {awssm.WithBackoff(time.Second, time.Millisecond)},
		"breaker failures":  {awssm.WithBreaker(0, time.Second)},
		"breaker open":      {awssm.WithBreaker(1, -time.Second)},
		"nil observer":      {awssm.WithCallObserver(nil)},
		"nil logger":        {awssm.WithLogger(nil)},
		"long endpoint url": {awssm.WithRegionEndpoint(primary, "http://x/"+strings.Repeat("a", 3000))},
	}
	for name, opts := range bad {
		src, err := awssm.New(cfg, opts...)
		if err == nil || src != nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "awssm: ") {
			t.Errorf("%s: unclear error %v", name, err)
		}
	}
	if _, err := awssm.New(aws.Config{}); err == nil {
		t.Error("no region: no error")
	}
	if _, err := awssm.New(aws.Config{Region: "bad region"}); err == nil {
		t.Error("bad config region: no error")
	}
	var logs logBuffer
	if _, err := awssm.New(cfg, awssm.WithRegions(primary, replica), awssm.WithTimeout(time.Second),
		awssm.WithLogger(logs.logger())); err != nil || !strings.Contains(logs.String(), "use up the whole timeout") {
		t.Errorf("no warning for a timeout that leaves no time to fail over: %v %s", err, logs.String())
	}
	src, err := awssm.New(cfg)
	if err != nil || len(src.Breakers()) != 1 || src.Breakers()[0].Name != primary || src.Breakers()[0].State != "closed" {
		t.Fatal(err)
	}
}
