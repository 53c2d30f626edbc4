package awssm_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// Every ref of a mixed batch gets its own secret or its own error: names,
// full and partial ARNs, repeated ids, missing and deleted secrets, other
// stages and version ids.
func TestFetchBatchMapsEveryRef(t *testing.T) {
	srv := newServer(t)
	arns := map[string]string{}
	for i := 0; i < 22; i++ {
		n := fmt.Sprintf("svc/s%02d", i)
		arns[n], _ = srv.CreateSecret(primary, n, "value-"+n)
	}
	v2, _ := srv.PutSecretValue(primary, "svc/s00", "value-svc/s00-v2")
	srv.CreateSecret(primary, "svc/gone", "x")
	srv.DeleteSecret(primary, "svc/gone", false)
	src := newSource(t, srv)

	type want struct {
		name, value string
		kind        error
	}
	var refs []secretcache.Ref
	var wants []want
	add := func(ref secretcache.Ref, w want) { refs = append(refs, ref); wants = append(wants, w) }
	add(secretcache.Ref{ID: "svc/s00"}, want{"svc/s00", "value-svc/s00-v2", nil})
	add(secretcache.Ref{ID: "svc/s00", VersionStage: "AWSPREVIOUS"}, want{"svc/s00", "value-svc/s00", nil})
	add(secretcache.Ref{ID: "svc/s00", VersionID: v2}, want{"svc/s00", "value-svc/s00-v2", nil})
	add(secretcache.Ref{ID: "svc/missing"}, want{kind: secretcache.ErrNotFound})
	add(secretcache.Ref{ID: "svc/gone"}, want{kind: secretcache.ErrDeleted})
	add(secretcache.Ref{ID: ""}, want{kind: secretcache.ErrInvalidRequest})
	for i := 21; i >= 1; i-- {
		n := fmt.Sprintf("svc/s%02d", i)
		id := n
		switch i % 3 {
		case 1:
			id = arns[n]
		case 2:
			id = arns[n][:len(arns[n])-7]
		}
		add(secretcache.Ref{ID: id, VersionStage: "AWSCURRENT"}, want{n, "value-" + n, nil})
	}
	add(secretcache.Ref{ID: "svc/s06"}, want{"svc/s06", "value-svc/s06", nil}) // repeated
	add(secretcache.Ref{ID: arns["svc/s07"]}, want{"svc/s07", "value-svc/s07", nil})

	res := src.FetchBatch(bg, refs)
	if len(res) != len(refs) {
		t.Fatalf("%d results for %d refs", len(res), len(refs))
	}
	for i, w := range wants {
		r := res[i]
		if w.kind != nil {
			mustKind(t, r.Err, w.kind)
			if r.Secret != nil || refs[i].ID != "" && !strings.Contains(r.Err.Error(), fmt.Sprintf("%q", refs[i].ID)) {
				t.Fatalf("ref %v: %v", refs[i], r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Fatalf("ref %v: %v", refs[i], r.Err)
		}
		if r.Secret.Name != w.name || r.Secret.String != w.value || r.Secret.ARN != arns[w.name] {
			t.Fatalf("ref %v: got %s=%q (%s)", refs[i], r.Secret.Name, r.Secret.String, r.Secret.ARN)
		}
	}
	// 24 distinct AWSCURRENT ids (s00, missing, gone and 21 more) in two
	// batch calls; the stage and version refs one call each.
	if b, g := srv.Calls(primary, "BatchGetSecretValue"), srv.Calls(primary, "GetSecretValue"); b != 2 || g != 2 {
		t.Fatalf("%d batch calls and %d single calls, want 2 and 2", b, g)
	}
	// Results are the caller's own: a repeated id gets separate copies.
	res[len(res)-2].Secret.String = "changed"
	for i, ref := range refs {
		if ref.ID == "svc/s06" && i != len(res)-2 && res[i].Secret.String == "changed" {
			t.Fatal("repeated ids share one Secret")
		}
	}
}

// Ids that could name two secrets are never answered with the wrong one.
// "app" has ARN ...:secret:app-XXXXXX; a second secret is named
// "app-XXXXXX", so the first's full ARN is also a partial ARN of the second.
func TestFetchBatchConfusableIDs(t *testing.T) {
	srv := newServer(t)
	arnApp, _ := srv.CreateSecret(primary, "app", "value-app")
	twin := "app" + arnApp[len(arnApp)-7:]
	arnTwin, _ := srv.CreateSecret(primary, twin, "value-twin")
	srv.CreateSecret(primary, "app2", "value-app2")
	src := newSource(t, srv)
	refs := []secretcache.Ref{
		{ID: arnApp}, {ID: twin}, {ID: arnTwin}, {ID: "app"}, {ID: arnApp[:len(arnApp)-7]}, {ID: "app2"},
	}
	want := []string{"value-app", "value-twin", "value-twin", "value-app", "value-app", "value-app2"}
	// Ask the single-get path what AWS makes of each id: the batch must agree.
	for i, ref := range refs {
		s, err := src.Fetch(bg, ref)
		if err != nil || s.String != want[i] {
			t.Fatalf("single %v: %v %v", ref, s, err)
		}
	}
	res := src.FetchBatch(bg, refs)
	for i, r := range res {
		if r.Err != nil || r.Secret.String != want[i] {
			t.Fatalf("batch %v: got %v %v, want %s", refs[i], r.Secret, r.Err, want[i])
		}
	}
}

func TestFetchBatchPartialErrorsAndChunks(t *testing.T) {
	srv := newServer(t)
	var refs []secretcache.Ref
	for i := 0; i < 45; i++ {
		n := fmt.Sprintf("k%02d", i)
		if i%4 != 0 {
			srv.CreateSecret(primary, n, "v"+n)
		}
		refs = append(refs, secretcache.Ref{ID: n})
	}
	src := newSource(t, srv)
	res := src.FetchBatch(bg, refs)
	for i, r := range res {
		if i%4 == 0 {
			mustKind(t, r.Err, secretcache.ErrNotFound)
			if apiCode(r.Err) != "ResourceNotFoundException" {
				t.Fatalf("code %q", apiCode(r.Err))
			}
			continue
		}
		if r.Err != nil || r.Secret.String != "v"+refs[i].ID {
			t.Fatalf("%v: %v %v", refs[i], r.Secret, r.Err)
		}
	}
	if b, g := srv.Calls(primary, "BatchGetSecretValue"), srv.Calls(primary, "GetSecretValue"); b != 3 || g != 0 {
		t.Fatalf("%d batch and %d single calls, want 3 and 0", b, g)
	}
}

// AccessDenied on BatchGetSecretValue itself: fall back to single gets,
// remember it, log it once.
func TestFetchBatchAccessDeniedFallsBack(t *testing.T) {
	srv := newServer(t)
	for _, n := range []string{"a", "b", "c"} {
		srv.CreateSecret(primary, n, "v"+n)
	}
	srv.SetFault(primary, "BatchGetSecretValue", smtest.Fault{ErrorCode: "AccessDeniedException"})
	var logs logBuffer
	src := newSource(t, srv, awssm.WithLogger(logs.logger()))
	refs := []secretcache.Ref{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "nope"}}
	for round := 0; round < 3; round++ {
		res := src.FetchBatch(bg, refs)
		for i, r := range res[:3] {
			if r.Err != nil || r.Secret.String != "v"+refs[i].ID {
				t.Fatalf("round %d %v: %v %v", round, refs[i], r.Secret, r.Err)
			}
		}
		mustKind(t, res[3].Err, secretcache.ErrNotFound)
	}
	if b, g := srv.Calls(primary, "BatchGetSecretValue"), srv.Calls(primary, "GetSecretValue"); b != 1 || g != 12 {
		t.Fatalf("%d batch and %d single calls, want 1 and 12", b, g)
	}
	if n := strings.Count(logs.String(), "BatchGetSecretValue denied"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	// Per-secret access denied is that secret's error, not a fallback.
	if b := breaker(src, primary); b.State != "closed" {
		t.Fatal(b)
	}
}

func TestFetchBatchFailsOver(t *testing.T) {
	srv := newServer(t)
	var refs []secretcache.Ref
	var arns []string
	for i := 0; i < 5; i++ {
		n := fmt.Sprintf("r%d", i)
		arn := replicated(t, srv, n, "v"+n)
		arns = append(arns, arn)
		id := n
		if i%2 == 1 {
			id = arn
		}
		refs = append(refs, secretcache.Ref{ID: id})
	}
	refs = append(refs, secretcache.Ref{ID: "missing"})
	src := newSource(t, srv)
	for _, f := range []smtest.Fault{{ErrorCode: "InternalServiceError"}, {Blackhole: true}, {Reset: true}} {
		srv.SetFault(primary, "", f)
		for round := 0; round < 3; round++ { // the last rounds with the breaker open
			res := src.FetchBatch(bg, refs)
			for i, r := range res[:5] {
				if r.Err != nil || r.Secret.String != fmt.Sprintf("vr%d", i) {
					t.Fatalf("%+v round %d %v: %v %v", f, round, refs[i], r.Secret, r.Err)
				}
				if i%2 == 1 && r.Secret.ARN != arns[i] {
					t.Fatalf("ARN %s, want %s", r.Secret.ARN, arns[i])
				}
			}
			mustKind(t, res[5].Err, secretcache.ErrNotFound)
		}
		if b := breaker(src, primary); b.State != "open" {
			t.Fatalf("%+v: breaker %+v", f, b)
		}
		srv.ClearFaults()
		time.Sleep(tOpenFor + 20*time.Millisecond)
		src.FetchBatch(bg, refs) // starts the probe
		eventually(t, "breaker to close", func() bool { return breaker(src, primary).State == "closed" })
	}
}

// A failure of the whole call is the error of every ref, each naming its id.
func TestFetchBatchWholeFailure(t *testing.T) {
	srv := newServer(t)
	srv.SetFault("", "", smtest.Fault{ErrorCode: "ThrottlingException"})
	src := newSource(t, srv, awssm.WithMaxAttempts(1))
	refs := []secretcache.Ref{{ID: "a"}, {ID: "b"}, {ID: "c", VersionStage: "AWSPENDING"}}
	for i, r := range src.FetchBatch(bg, refs) {
		mustKind(t, r.Err, secretcache.ErrThrottled)
		if !strings.Contains(r.Err.Error(), fmt.Sprintf("%q", refs[i].ID)) || apiCode(r.Err) != "ThrottlingException" {
			t.Fatalf("%v: %v", refs[i], r.Err)
		}
	}
}

// fakeSM answers BatchGetSecretValue with a scripted, hostile answer and
// GetSecretValue truthfully, so the test can check that a confusing batch
// answer never becomes a wrong secret.
type fakeSM struct {
	mu      sync.Mutex
	secrets map[string]map[string]any // by name
	batch   func(ids []string, token string) map[string]any
	gets    []string
	batches int
}

func (f *fakeSM) entry(name string) map[string]any {
	return map[string]any{
		"ARN":  "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf",
		"Name": name, "VersionId": strings.Repeat("1", 32), "VersionStages": []string{"AWSCURRENT"},
		"SecretString": "value-" + name, "CreatedDate": 1.7e9,
	}
}

func (f *fakeSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		SecretID     string   `json:"SecretId"`
		SecretIDList []string `json:"SecretIdList"`
		NextToken    string
	}
	json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out any
	switch r.Header.Get("X-Amz-Target") {
	case "secretsmanager.GetSecretValue":
		f.gets = append(f.gets, in.SecretID)
		name := in.SecretID
		if strings.HasPrefix(name, "arn:") {
			name = name[strings.Index(name, ":secret:")+8:]
			name = strings.TrimSuffix(name, "-AbCdEf")
		}
		if f.secrets[name] == nil {
			w.WriteHeader(400)
			out = map[string]string{"__type": "ResourceNotFoundException", "message": "not found"}
			break
		}
		out = f.secrets[name]
	case "secretsmanager.BatchGetSecretValue":
		f.batches++
		out = f.batch(in.SecretIDList, in.NextToken)
	}
	json.NewEncoder(w).Encode(out)
}

func fakeSource(t *testing.T, f *fakeSM, opts ...awssm.Option) *awssm.Source {
	t.Helper()
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	cfg := aws.Config{Region: primary, BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	src, err := awssm.New(cfg, fastOpts(append([]awssm.Option{awssm.WithRegions(primary)}, opts...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestFetchBatchHostileAnswerNeverMixesUp(t *testing.T) {
	f := &fakeSM{secrets: map[string]map[string]any{}}
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, n := range names {
		f.secrets[n] = f.entry(n)
	}
	f.batch = func(ids []string, token string) map[string]any {
		if token == "" {
			// Page 1: e and d in reverse order, a secret nobody asked for,
			// an error for an id nobody asked for, a value and an error
			// for b, a value for c that is not AWSCURRENT, a throttled f.
			notCurrent := f.entry("c")
			notCurrent["VersionStages"] = []string{"AWSPREVIOUS"}
			notCurrent["SecretString"] = "old-c"
			return map[string]any{
				"SecretValues": []any{f.entry("e"), f.entry("d"), f.entry("zzz"), f.entry("b"), notCurrent},
				"Errors": []any{
					map[string]string{"SecretId": "nobody", "ErrorCode": "ResourceNotFoundException", "Message": "x"},
					map[string]string{"SecretId": "b", "ErrorCode": "DecryptionFailure", "Message": "x"},
					map[string]string{"SecretId": "f", "ErrorCode": "ThrottlingException", "Message": "x"},
				},
				"NextToken": "page2",
			}
		}
		// Page 2: a twice (which one is right?), g denied, h missing.
		a2 := f.entry("a")
		a2["SecretString"] = "other-a"
		return map[string]any{
			"SecretValues": []any{f.entry("a"), a2},
			"Errors": []any{
				map[string]string{"SecretId": "g", "ErrorCode": "AccessDeniedException", "Message": "x"},
				map[string]string{"SecretId": "h", "ErrorCode": "ResourceNotFoundException", "Message": "x"},
			},
		}
	}
	src := fakeSource(t, f)
	var refs []secretcache.Ref
	for _, n := range names {
		refs = append(refs, secretcache.Ref{ID: n})
	}
	res := src.FetchBatch(bg, refs)
	for i, r := range res {
		switch n := names[i]; n {
		case "g":
			mustKind(t, r.Err, secretcache.ErrAccessDenied)
			if apiCode(r.Err) != "AccessDeniedException" {
				t.Fatal(r.Err)
			}
		case "h":
			mustKind(t, r.Err, secretcache.ErrNotFound)
		default:
			if r.Err != nil || r.Secret.Name != n || r.Secret.String != "value-"+n {
				t.Fatalf("%s: got %v %v", n, r.Secret, r.Err)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// a (two answers), b (value and error), c (not current), f (throttled)
	// were read again one by one; d and e were taken from the batch.
	got := strings.Join(sortedCopy(f.gets), ",")
	if got != "a,b,c,f" || f.batches != 2 {
		t.Fatalf("single gets %q, %d batch calls", got, f.batches)
	}
}

// A server that keeps sending the same NextToken cannot make FetchBatch
// loop; what it left out is read one by one.
func TestFetchBatchEndlessPages(t *testing.T) {
	f := &fakeSM{secrets: map[string]map[string]any{}}
	f.secrets["a"], f.secrets["b"] = f.entry("a"), f.entry("b")
	f.batch = func(ids []string, token string) map[string]any {
		return map[string]any{"SecretValues": []any{f.entry("a")}, "NextToken": "again"}
	}
	src := fakeSource(t, f)
	res := src.FetchBatch(bg, []secretcache.Ref{{ID: "a"}, {ID: "b"}})
	for i, n := range []string{"a", "b"} {
		if res[i].Err != nil || res[i].Secret.Name != n {
			t.Fatal(res[i])
		}
	}
	if f.batches > 3 {
		t.Fatalf("%d batch calls", f.batches)
	}
}

// A GetSecretValue answer for another secret is refused, never served.
func TestFetchRefusesWrongSecret(t *testing.T) {
	f := &fakeSM{secrets: map[string]map[string]any{}}
	f.secrets["a"] = f.entry("b") // asked for a, answers b
	src := fakeSource(t, f)
	_, err := src.Fetch(bg, secretcache.Ref{ID: "a"})
	mustKind(t, err, secretcache.ErrMismatch)
	f.secrets["a"] = f.entry("a")
	_, err = src.Fetch(bg, secretcache.Ref{ID: "a", VersionStage: "AWSPENDING"})
	mustKind(t, err, secretcache.ErrMismatch)
	_, err = src.Fetch(bg, secretcache.Ref{ID: "a", VersionID: strings.Repeat("2", 32)})
	mustKind(t, err, secretcache.ErrMismatch)
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}
