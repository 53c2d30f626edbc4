package awssm_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// The tests of this file inject, with smtest's Rewrite fault, answers that
// AWS would not give, between the server and the real SDK over real HTTP,
// and check that the source refuses every one of them as a transient
// ErrMismatch naming the secret and the problem, on every path (single get,
// batch entries, failover to a replica, ARNs rewritten to the replica's
// region), and that a cache over the source keeps serving its good value.

const dbValue = "db-secret-value" // never in an error or a log

// answerFixture is one server with "db" (two versions, replicated), "a",
// "c" and "other" (an existing secret no test asks for).
type answerFixture struct {
	srv               *smtest.Server
	arn, replicaARN   string
	current, previous string // version ids of db
	otherARN          string
}

func newAnswerFixture(t *testing.T) *answerFixture {
	t.Helper()
	f := &answerFixture{srv: newServer(t)}
	var err error
	if f.arn, err = f.srv.CreateSecret(primary, "db", "db-old-value"); err != nil {
		t.Fatal(err)
	}
	if f.current, err = f.srv.PutSecretValue(primary, "db", dbValue); err != nil {
		t.Fatal(err)
	}
	info, _ := f.srv.Secret(primary, "db")
	for _, v := range info.Versions {
		if v.VersionID != f.current {
			f.previous = v.VersionID
		}
	}
	if err := f.srv.Replicate("db", primary, replica); err != nil {
		t.Fatal(err)
	}
	f.replicaARN = strings.Replace(f.arn, primary, replica, 1)
	for _, n := range []string{"a", "c"} {
		replicated(t, f.srv, n, n+"-value")
	}
	f.otherARN = replicated(t, f.srv, "other", "other-value")
	return f
}

// rewriteDB returns a Rewrite applying m to every answer for db: a
// GetSecretValue answer, a BatchGetSecretValue entry.
func rewriteDB(m func(e map[string]any)) func(string, map[string]any) {
	return func(op string, a map[string]any) {
		switch op {
		case "GetSecretValue":
			if a["Name"] == "db" {
				m(a)
			}
		case "BatchGetSecretValue":
			vals, _ := a["SecretValues"].([]any)
			for _, v := range vals {
				if e, ok := v.(map[string]any); ok && e["Name"] == "db" {
					m(e)
				}
			}
		}
	}
}

func del(keys ...string) func(e map[string]any) {
	return func(e map[string]any) {
		for _, k := range keys {
			delete(e, k)
		}
	}
}

func set(kv ...any) func(e map[string]any) {
	return func(e map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			e[kv[i].(string)] = kv[i+1]
		}
	}
}

type malformedCase struct {
	name string
	ref  func(f *answerFixture) secretcache.Ref // nil: {ID: "db"}
	m    func(f *answerFixture) func(e map[string]any)
	want string // in the AnswerError's Problem
}

func (c malformedCase) refOf(f *answerFixture) secretcache.Ref {
	if c.ref == nil {
		return secretcache.Ref{ID: "db"}
	}
	return c.ref(f)
}

func fixed(m func(e map[string]any)) func(*answerFixture) func(e map[string]any) {
	return func(*answerFixture) func(e map[string]any) { return m }
}

func byARN(f *answerFixture) secretcache.Ref     { return secretcache.Ref{ID: f.arn} }
func byPartial(f *answerFixture) secretcache.Ref { return secretcache.Ref{ID: f.arn[:len(f.arn)-7]} }

// malformedCases are the broken answers for db, each with what the source
// must say about it.
var malformedCases = []malformedCase{
	{name: "no value", m: fixed(del("SecretString", "SecretBinary")), want: "no SecretString or SecretBinary"},
	{name: "null SecretString", m: fixed(set("SecretString", nil)), want: "no SecretString or SecretBinary"},
	{name: "empty SecretString", m: fixed(set("SecretString", "")), want: "an empty SecretString"},
	{name: "empty SecretString by ARN", ref: byARN, m: fixed(set("SecretString", "")), want: "an empty SecretString"},
	{name: "empty SecretBinary", m: fixed(func(e map[string]any) { delete(e, "SecretString"); e["SecretBinary"] = "" }),
		want: "SecretBinary"},
	{name: "both values", m: fixed(set("SecretBinary", "AQI=")), want: "both SecretString and SecretBinary"},
	{name: "no VersionId", m: fixed(del("VersionId")), want: "no VersionId"},
	{name: "empty VersionId", m: fixed(set("VersionId", "")), want: "no VersionId"},
	{name: "short VersionId", m: fixed(set("VersionId", "v1")), want: "not 32 to 64 printable ASCII"},
	{name: "long VersionId", m: fixed(set("VersionId", strings.Repeat("a", 65))), want: "not 32 to 64 printable ASCII"},
	{name: "VersionId with a control character", m: fixed(set("VersionId", strings.Repeat("a", 35)+"\x01")),
		want: "not 32 to 64 printable ASCII"},
	{name: "VersionId not the one asked for",
		ref: func(f *answerFixture) secretcache.Ref { return secretcache.Ref{ID: "db", VersionID: f.current} },
		m:   func(f *answerFixture) func(map[string]any) { return set("VersionId", f.previous) }, want: "asked for version"},
	{name: "Name of another secret", m: fixed(set("Name", "other")), want: `asked for "db", got "other"`},
	{name: "ARN of another secret", m: func(f *answerFixture) func(map[string]any) { return set("ARN", f.otherARN) },
		want: "is not one of its name"},
	{name: "Name and ARN of another secret",
		m:    func(f *answerFixture) func(map[string]any) { return set("Name", "other", "ARN", f.otherARN) },
		want: `asked for "db", got "other"`},
	{name: "Name of another secret, asked by ARN", ref: byARN, m: fixed(set("Name", "other")), want: "is not one of its name"},
	{name: "Name of another secret, asked by partial ARN", ref: byPartial, m: fixed(set("Name", "other")),
		want: "got \"other\""},
	{name: "ARN of another secret, asked by ARN", ref: byARN,
		m: func(f *answerFixture) func(map[string]any) { return set("ARN", f.otherARN) }, want: "got \"db\""},
	{name: "ARN that is no secret ARN", m: fixed(set("ARN", "arn:aws:s3:::db-AbCdEf")), want: "not a Secrets Manager secret ARN"},
	{name: "no Name or ARN", m: fixed(del("Name", "ARN")), want: "names no secret"},
	{name: "no VersionStages", m: fixed(del("VersionStages")), want: `no VersionStages (asked for stage "AWSCURRENT")`},
	{name: "empty VersionStages", m: fixed(set("VersionStages", []any{})), want: "no VersionStages"},
	{name: "VersionStages without AWSCURRENT", m: fixed(set("VersionStages", []any{"AWSPREVIOUS"})),
		want: `asked for stage "AWSCURRENT"`},
	{name: "an empty stage label", m: fixed(set("VersionStages", []any{"AWSCURRENT", ""})), want: "VersionStages label"},
	{name: "VersionStages without the stage asked for",
		ref: func(*answerFixture) secretcache.Ref { return secretcache.Ref{ID: "db", VersionStage: "AWSPREVIOUS"} },
		m:   fixed(set("VersionStages", []any{"AWSCURRENT"})), want: `asked for stage "AWSPREVIOUS"`},
	{name: "CreatedDate in 2099", m: fixed(set("CreatedDate", 4070908800)), want: "ahead of this host's clock"},
	{name: "CreatedDate 0", m: fixed(set("CreatedDate", 0)), want: "before Secrets Manager existed"},
	{name: "CreatedDate in 2017", m: fixed(set("CreatedDate", 1500000000)), want: "before Secrets Manager existed"},
	{name: "no CreatedDate", m: fixed(del("CreatedDate")), want: "no CreatedDate"},
}

// callLog records the call observer's reports.
type callLog struct {
	mu   sync.Mutex
	seen []string // op region kind
}

func (l *callLog) observe(op, region string, _ time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, op+" "+region+" "+secretcache.KindName(err))
}

func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen
	l.seen = nil
	return s
}

// mustRefuse checks err is the refusal of a malformed answer: a transient
// ErrMismatch naming the id and the problem, never the value, reachable as
// an *awssm.AnswerError of op in region.
func mustRefuse(t *testing.T, err error, id, op, region, want string) {
	t.Helper()
	mustKind(t, err, secretcache.ErrMismatch)
	if !secretcache.IsTransient(err) {
		t.Fatalf("%v is not transient", err)
	}
	var ae *awssm.AnswerError
	if !errors.As(err, &ae) {
		t.Fatalf("%v: no *awssm.AnswerError", err)
	}
	if ae.Operation != op || ae.Region != region || ae.RequestID == "" || !strings.Contains(ae.Problem, want) {
		t.Fatalf("refusal %+v: want %s in %s, problem with %q", ae, op, region, want)
	}
	msg := err.Error()
	if len(id) > 64 {
		id = id[:64]
	}
	if !strings.Contains(msg, `"`+id) || strings.Contains(msg, dbValue) || strings.Contains(msg, "db-old-value") ||
		strings.Count(msg, "secretcache:") != 1 || strings.Count(msg, op) != 1 {
		t.Fatalf("message %q: want the id %q once, the operation once, no value", msg, id)
	}
}

// Fetch refuses each malformed answer: ErrMismatch, transient, one call,
// reported to the call observer as a mismatch, without touching the
// breaker.
func TestFetchRefusesMalformedAnswers(t *testing.T) {
	f := newAnswerFixture(t)
	var calls callLog
	src := newSource(t, f.srv, awssm.WithRegions(primary), awssm.WithCallObserver(calls.observe), awssm.WithBreaker(1, time.Minute))
	for _, c := range malformedCases {
		t.Run(c.name, func(t *testing.T) {
			ref := c.refOf(f)
			f.srv.SetFault("", "", smtest.Fault{Rewrite: rewriteDB(c.m(f))})
			defer f.srv.ClearFaults()
			f.srv.ResetCalls()
			calls.take()
			s, err := src.Fetch(bg, ref)
			if s != nil {
				t.Fatalf("served %+v (value %q)", s, s.String)
			}
			mustRefuse(t, err, ref.ID, "GetSecretValue", primary, c.want)
			if n := f.srv.Calls("", ""); n != 1 {
				t.Fatalf("%d calls, want 1", n)
			}
			if got := calls.take(); len(got) != 1 || got[0] != "GetSecretValue "+primary+" mismatch" {
				t.Fatalf("observed %q", got)
			}
			if b := breaker(src, primary); b.State != "closed" || b.Failures != 0 {
				t.Fatalf("breaker %+v", b)
			}
		})
	}
	// The fixture itself is fine: without faults every ref is served.
	for _, c := range malformedCases {
		if s, err := src.Fetch(bg, c.refOf(f)); err != nil || s.Name != "db" {
			t.Fatalf("%s without fault: %v %v", c.name, s, err)
		}
	}
}

// A malformed answer from the primary is a reason to ask the replica (as a
// transient failure is), not a failure of the region: the replica's good
// answer is served, with the ARN of the region asked for, and the primary's
// breaker stays closed. A malformed answer from the replica, with the
// primary down, is refused there too.
func TestMalformedAnswerFailsOverToReplica(t *testing.T) {
	f := newAnswerFixture(t)
	var calls callLog
	src := newSource(t, f.srv, awssm.WithCallObserver(calls.observe))
	for _, c := range malformedCases {
		t.Run(c.name, func(t *testing.T) {
			ref := c.refOf(f)
			f.srv.SetFault(primary, "", smtest.Fault{Rewrite: rewriteDB(c.m(f))})
			defer f.srv.ClearFaults()
			calls.take()
			for i := 0; i < 3*tFails; i++ { // more than the breaker's threshold
				s, err := src.Fetch(bg, ref)
				if err != nil {
					t.Fatalf("fetch %d: %v", i, err)
				}
				want := dbValue
				if ref.VersionStage == "AWSPREVIOUS" {
					want = "db-old-value"
				}
				if s.Name != "db" || s.String != want || (ref.ID == f.arn && s.ARN != f.arn) {
					t.Fatalf("fetch %d: got %s=%q (%s)", i, s.Name, s.String, s.ARN)
				}
			}
			if got := calls.take(); len(got) != 6*tFails || got[0] != "GetSecretValue "+primary+" mismatch" ||
				got[1] != "GetSecretValue "+replica+" " {
				t.Fatalf("observed %q", got)
			}
			if b := breaker(src, primary); b.State != "closed" || b.Failures != 0 {
				t.Fatalf("primary breaker %+v", b)
			}

			// The replica path: the primary down, the replica malformed.
			f.srv.SetFault(primary, "", smtest.Fault{ErrorCode: "InternalServiceError"})
			f.srv.SetFault(replica, "", smtest.Fault{Rewrite: rewriteDB(c.m(f))})
			s, err := src.Fetch(bg, ref)
			if s != nil {
				t.Fatalf("served %+v", s)
			}
			mustRefuse(t, err, ref.ID, "GetSecretValue", replica, c.want)
			// Let the primary's breaker (opened by the 500s) not leak
			// into the next case.
			f.srv.ClearFaults()
			eventually(t, "primary breaker to close", func() bool {
				src.Fetch(bg, secretcache.Ref{ID: "a"})
				return breaker(src, primary).State == "closed"
			})
		})
	}
}

// Through a real cache: with every answer for db malformed, in every region
// and on every path, the cache keeps serving the good value it has (stale,
// within max-stale), never "" nor another value and never an error, while
// the other secrets refresh around it in the same batches; a forced Refresh
// reports the refusal. These assertions hold whether or not the cache
// itself also refuses empty values.
func TestCacheKeepsGoodValueOnMalformedAnswers(t *testing.T) {
	f := newAnswerFixture(t)
	for _, c := range malformedCases {
		t.Run(c.name, func(t *testing.T) {
			var logs logBuffer
			src := newSource(t, f.srv, awssm.WithLogger(logs.logger()))
			const ttl = 150 * time.Millisecond
			cache, err := secretcache.New(src, secretcache.WithTTL(ttl), secretcache.WithRefreshAhead(0.5),
				secretcache.WithMaxStale(time.Minute), secretcache.WithBackoff(20*time.Millisecond, 50*time.Millisecond),
				secretcache.WithClock(wallClock{}), secretcache.WithLogger(logs.logger()))
			if err != nil {
				t.Fatal(err)
			}
			defer cache.Close()
			ref := c.refOf(f)
			var opts []secretcache.GetOption
			want, version, stage := dbValue, f.current, "AWSCURRENT"
			if ref.VersionStage != "" {
				opts = append(opts, secretcache.WithVersionStage(ref.VersionStage))
				want, version, stage = "db-old-value", f.previous, ref.VersionStage
			}
			if ref.VersionID != "" {
				opts = append(opts, secretcache.WithVersionID(ref.VersionID))
			}
			// The good version, value and metadata, as warmed.
			readDB := func(when string) {
				t.Helper()
				v, err := cache.GetString(bg, ref.ID, opts...)
				if err != nil || v != want {
					t.Fatalf("%s: read %q, %v; want the good value", when, v, err)
				}
				s, err := cache.Get(bg, ref.ID, opts...)
				if err != nil || s.Name != "db" || s.VersionID != version || !s.HasStage(stage) || s.Binary != nil ||
					s.CreatedDate.Year() != time.Now().Year() {
					t.Fatalf("%s: read %v (created %v), %v; want the good version", when, s, s.CreatedDate, err)
				}
			}
			if err := cache.Warm(bg, "a", "c"); err != nil {
				t.Fatal(err)
			}
			readDB("before the fault")

			var broken atomic.Int32 // answers for db the fault broke
			m := c.m(f)
			f.srv.SetFault("", "", smtest.Fault{Rewrite: rewriteDB(func(e map[string]any) { broken.Add(1); m(e) })})
			defer f.srv.ClearFaults()
			for _, n := range []string{"a", "c"} {
				if _, err := f.srv.PutSecretValue(primary, n, n+"-v2"); err != nil {
					t.Fatal(err)
				}
				defer f.srv.PutSecretValue(primary, n, n+"-value")
			}
			// Read everything until a and c show their new values: db's
			// entry falls due with theirs and is refreshed (and refused)
			// in the same batches, or alone.
			deadline := time.Now().Add(5 * time.Second)
			for {
				readDB("during the fault")
				va, _ := cache.GetString(bg, "a")
				vc, _ := cache.GetString(bg, "c")
				if va == "a-v2" && vc == "c-v2" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a and c never refreshed: %q %q", va, vc)
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(2 * ttl) // past db's TTL: stale now
			readDB("past the TTL")
			// (The cache never refreshes a version pinned by id: it cannot
			// change. Refresh below asks for it.)
			if broken.Load() == 0 && ref.VersionID == "" {
				t.Fatal("db was never asked for while the fault was on")
			}

			_, err = cache.Refresh(bg, ref.ID, opts...)
			mustKind(t, err, secretcache.ErrMismatch)
			if !secretcache.IsTransient(err) || strings.Contains(err.Error(), dbValue) {
				t.Fatalf("refresh: %v", err)
			}
			readDB("after the refresh")
			if broken.Load() == 0 {
				t.Fatal("db was never asked for while the fault was on")
			}
			if strings.Contains(logs.String(), dbValue) {
				t.Fatal("a value was logged")
			}
		})
	}
}

// Every refusal names what was wrong in words a user can act on, and the
// id, once; the malformed answer of a batch is reported per page.
func TestAnswerErrorMessage(t *testing.T) {
	f := newAnswerFixture(t)
	src := newSource(t, f.srv, awssm.WithRegions(primary))
	f.srv.SetFault("", "", smtest.Fault{Rewrite: rewriteDB(del("SecretString", "VersionId"))})
	_, err := src.Fetch(bg, secretcache.Ref{ID: "db"})
	want := fmt.Sprintf(`secretcache: fetch "db": %v: GetSecretValue in us-east-1: answer refused: no VersionId; no SecretString or SecretBinary (request id `,
		secretcache.ErrMismatch)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("message\n%v\nwant prefix\n%s", err, want)
	}
}

// Well-formed answers at the edges of the checks are served: a deprecated
// version (no stage left) asked for by its id, a binary secret, a secret
// whose name ends like an ARN suffix.
func TestWellFormedEdgeAnswersServed(t *testing.T) {
	srv := newServer(t)
	srv.CreateSecret(primary, "app", "v1")
	info, _ := srv.Secret(primary, "app")
	v1 := info.Versions[0].VersionID
	srv.PutSecretValue(primary, "app", "v2")
	srv.PutSecretValue(primary, "app", "v3") // v1 has no stage now
	info, _ = srv.Secret(primary, "app")
	if len(info.Versions[0].Stages) != 0 {
		t.Fatalf("v1 still has stages %v", info.Versions[0].Stages)
	}
	srv.CreateBinarySecret(primary, "bin", []byte{0})
	srv.CreateSecret(primary, "x-AbCdEf", "twin")
	src := newSource(t, srv, awssm.WithRegions(primary))
	s, err := src.Fetch(bg, secretcache.Ref{ID: "app", VersionID: v1})
	if err != nil || s.String != "v1" || len(s.VersionStages) != 0 {
		t.Fatalf("deprecated version: %v %v", s, err)
	}
	if s, err := src.Fetch(bg, secretcache.Ref{ID: "bin"}); err != nil || !s.IsBinary() {
		t.Fatalf("binary: %v %v", s, err)
	}
	res := src.FetchBatch(bg, []secretcache.Ref{{ID: "x-AbCdEf"}, {ID: "bin"}, {ID: "app"}})
	for i, want := range []string{"twin", "", "v3"} {
		if res[i].Err != nil || res[i].Secret.String != want {
			t.Fatalf("batch %d: %v %v", i, res[i].Secret, res[i].Err)
		}
	}
	if g := srv.Calls(primary, "GetSecretValue"); g != 2 {
		t.Fatalf("%d single gets: the batch entries were read again", g)
	}
}
