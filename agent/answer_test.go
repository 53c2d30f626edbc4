package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
)

// readAll reads path as JSON, as text, and with field=user as JSON and as
// text, and returns the four bodies.
func (e *env) readAll(id string) [4]string {
	e.t.Helper()
	var out [4]string
	for i, c := range []struct{ query, accept string }{{"", ""}, {"", "text/plain"}, {"?field=user", ""}, {"?field=user", "text/plain"}} {
		hdrs := []string{tokHdr}
		if c.accept != "" {
			hdrs = append(hdrs, "Accept: "+c.accept)
		}
		st, body, _ := e.do("GET", "/v1/"+id+c.query, hdrs...)
		if st != 200 {
			e.t.Fatalf("GET /v1/%s%s (%s) = %d %s", id, c.query, c.accept, st, body)
		}
		out[i] = body
	}
	return out
}

// TestAnswersFollowTheCache: the precomputed answers change with the
// cached secret, whatever changed: the version (rotation), or only the
// stages of the same version.
func TestAnswersFollowTheCache(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "db", `{"user":"app","password":"one"}`)
	check := func(stage, value string) {
		t.Helper()
		for range 3 { // built, then reused
			got := e.readAll("db")
			want := [4]string{expectedBody(t, e.srv, "db", stage), value, "", "app"}
			if got[0] != want[0] || got[1] != want[1] || got[3] != want[3] || !strings.Contains(got[2], `"SecretString":"app"`) {
				t.Fatalf("answers %q\nwant %q", got, want)
			}
			if !strings.Contains(got[2], `"VersionId":"`+mustInfo(t, e.srv, "db").Stage("AWSCURRENT")+`"`) {
				t.Fatalf("field answer of another version: %s", got[2])
			}
		}
	}
	check("", `{"user":"app","password":"one"}`)

	// A new version.
	if _, err := e.srv.PutSecretValue("", "db", `{"user":"app","password":"two"}`); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.get("/v1/db?refreshNow=true"); st != 200 {
		t.Fatal(st)
	}
	check("", `{"user":"app","password":"two"}`)

	// The same version gets another stage: same VersionId and value, other
	// VersionStages.
	cur := mustInfo(t, e.srv, "db").Stage("AWSCURRENT")
	if err := e.srv.UpdateStage("", "db", "BLUE", cur, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.get("/v1/db?refreshNow=true"); st != 200 {
		t.Fatal(st)
	}
	got := e.readAll("db")
	if !strings.Contains(got[0], `"VersionStages":["AWSCURRENT","BLUE"]`) && !strings.Contains(got[0], `"VersionStages":["BLUE","AWSCURRENT"]`) {
		t.Errorf("stages not updated: %s", got[0])
	}
	check("", `{"user":"app","password":"two"}`)
}

// sharedSource returns the same Go string for every version: answers must
// still follow the version.
type sharedSource struct {
	mu      sync.Mutex
	version string
}

const sharedValue = `{"user":"app"}`

func (s *sharedSource) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &secretcache.Secret{Name: ref.ID, VersionID: s.version, VersionStages: []string{"AWSCURRENT"},
		String: sharedValue, CreatedDate: time.Unix(1700000000, 0)}, nil
}

func TestAnswersFollowVersionOfASharedValue(t *testing.T) {
	src := &sharedSource{version: "v1"}
	e := newEnv(t, envOpt{source: func(*smtest.Server) secretcache.Source { return src }})
	for _, v := range []string{"v1", "v2", "v1"} {
		src.mu.Lock()
		src.version = v
		src.mu.Unlock()
		if st, _ := e.get("/v1/s?refreshNow=true"); st != 200 {
			t.Fatal(st)
		}
		want := `{"ARN":null,"Name":"s","VersionId":"` + v + `","SecretString":"{\"user\":\"app\"}","VersionStages":["AWSCURRENT"],"CreatedDate":"1700000000"}`
		for range 2 {
			if got := e.readAll("s"); got[0] != want || !strings.Contains(got[2], `"VersionId":"`+v+`"`) {
				t.Fatalf("version %s: %q", v, got)
			}
		}
	}
}

// TestAnswersWhenTheTableIsFull: refs beyond the hit table's bound get an
// answer built for the request alone, with the same bytes.
func TestAnswersWhenTheTableIsFull(t *testing.T) {
	e := newEnv(t, envOpt{tune: func(a *Agent) { a.hits.max = 1 }})
	mustCreate(t, e.srv, "a", `{"user":"a"}`)
	mustCreate(t, e.srv, "b", `{"user":"b"}`)
	for range 2 {
		for _, id := range []string{"a", "b"} {
			got := e.readAll(id)
			if got[0] != expectedBody(t, e.srv, id, "") || got[1] != `{"user":"`+id+`"}` || got[3] != id {
				t.Fatalf("%s: %q", id, got)
			}
		}
	}
	if _, kept := e.a.hits.answer("b", &secretcache.Secret{}); kept {
		t.Error("a second ref has a place in a table of one")
	}
}

func TestAnswerWipe(t *testing.T) {
	a := newAnswer(&secretcache.Secret{Name: "n", String: `{"k":"hunter2"}`})
	text := a.textBody()
	f, err := a.field("n", "k")
	if err != nil {
		t.Fatal(err)
	}
	a.wipe()
	for _, b := range [][]byte{a.json, text.b, f.json.b, f.text.b} {
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("wiped answer still holds the value: %q", b)
		}
	}
}

func TestSameSecret(t *testing.T) {
	base := secretcache.Secret{ARN: "arn", Name: "n", VersionID: "v", VersionStages: []string{"AWSCURRENT"},
		String: "s", CreatedDate: time.Unix(1, 5)}
	same := base
	same.String = strings.Clone(base.String)
	same.VersionStages = []string{"AWSCURRENT"}
	if !sameAnswer(&base, &same) {
		t.Error("equal secrets differ")
	}
	for name, change := range map[string]func(*secretcache.Secret){
		"arn":          func(s *secretcache.Secret) { s.ARN = "arn2" },
		"name":         func(s *secretcache.Secret) { s.Name = "n2" },
		"version":      func(s *secretcache.Secret) { s.VersionID = "v2" },
		"stages":       func(s *secretcache.Secret) { s.VersionStages = []string{"AWSPREVIOUS"} },
		"more stages":  func(s *secretcache.Secret) { s.VersionStages = append(s.VersionStages, "X") },
		"nil stages":   func(s *secretcache.Secret) { s.VersionStages = nil },
		"value":        func(s *secretcache.Secret) { s.String = "t" },
		"created":      func(s *secretcache.Secret) { s.CreatedDate = time.Unix(1, 6) },
		"no created":   func(s *secretcache.Secret) { s.CreatedDate = time.Time{} },
		"binary":       func(s *secretcache.Secret) { s.String, s.Binary = "", []byte("s") },
		"empty binary": func(s *secretcache.Secret) { s.Binary = []byte{} },
	} {
		other := base
		other.VersionStages = []string{"AWSCURRENT"}
		change(&other)
		if sameAnswer(&base, &other) || sameAnswer(&other, &base) {
			t.Errorf("%s: changed secrets compare equal", name)
		}
	}
}

func TestPruneDropsAnswers(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "a", "va")
	mustCreate(t, e.srv, "b", "vb")
	e.readAllPlain("a")
	e.readAllPlain("b")
	e.a.Cache().Invalidate("a")
	e.a.pruneRefs()
	if _, ok := e.a.hits.m.Load("a"); ok {
		t.Error("an invalidated ref is still in the table")
	}
	v, ok := e.a.hits.m.Load("b")
	if !ok || v.(*refHits).ans.Load() == nil {
		t.Error("a cached ref lost its answer")
	}
}

func (e *env) readAllPlain(id string) {
	e.t.Helper()
	if st, body := e.get("/v1/" + id); st != 200 {
		e.t.Fatalf("GET %s = %d %s", id, st, body)
	}
}
