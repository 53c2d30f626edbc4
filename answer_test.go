package secretcache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// mangler wraps a script and, while bad is set, answers with what bad makes
// of the real answer: the tests' way to have a backend send a malformed
// answer on any path (miss, refresh ahead, expiry, Refresh, Warm).
type mangler struct {
	*script
	mu  sync.Mutex
	bad func(*secretcache.Secret) *secretcache.Secret
}

func (m *mangler) set(f func(*secretcache.Secret) *secretcache.Secret) {
	m.mu.Lock()
	m.bad = f
	m.mu.Unlock()
}

func (m *mangler) mangle(s *secretcache.Secret, err error) (*secretcache.Secret, error) {
	m.mu.Lock()
	f := m.bad
	m.mu.Unlock()
	if f == nil || err != nil {
		return s, err
	}
	return f(s), nil
}

func (m *mangler) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	return m.mangle(m.script.Fetch(ctx, ref))
}

type batchMangler struct{ *mangler }

func (b batchMangler) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	res := batchScript{b.script}.FetchBatch(ctx, refs)
	for i := range res {
		res[i].Secret, res[i].Err = b.mangle(res[i].Secret, res[i].Err)
	}
	return res
}

// Answers that carry no usable value, or an ambiguous one.
var malformed = map[string]func(*secretcache.Secret) *secretcache.Secret{
	"empty string": func(s *secretcache.Secret) *secretcache.Secret { s.String, s.Binary = "", nil; return s },
	"empty binary": func(s *secretcache.Secret) *secretcache.Secret { s.String, s.Binary = "", []byte{}; return s },
	"both values":  func(s *secretcache.Secret) *secretcache.Secret { s.Binary = []byte("b"); return s },
	"nil secret":   func(*secretcache.Secret) *secretcache.Secret { return nil },
	"ARN of another secret": func(s *secretcache.Secret) *secretcache.Secret {
		s.ARN = strings.Replace(s.ARN, ":secret:"+s.Name+"-", ":secret:someone-else-", 1)
		return s
	},
}

// recorder is a read hook that keeps the outcomes.
type recorder struct {
	mu  sync.Mutex
	evs []secretcache.ReadEvent
}

func (r *recorder) hook(_ context.Context, ev secretcache.ReadEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) last() secretcache.ReadEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evs[len(r.evs)-1]
}

// read reads id and checks the value and the outcome the read hook saw.
func (r *recorder) read(t *testing.T, c *secretcache.Cache, id, want string, outcome secretcache.Outcome) {
	t.Helper()
	got, err := c.GetString(ctx, id)
	if err != nil || got != want {
		t.Fatalf("GetString(%q) = %q, %v; want %q", id, got, err, want)
	}
	if o := r.last().Outcome; o != outcome {
		t.Fatalf("read of %q reported as %v, want %v", id, o, outcome)
	}
}

// TestMalformedAnswerNeverServed: an answer with no value (or both values,
// or no secret) is refused as a transient ErrMismatch on every path: it is
// never stored or served, the good value is kept and served (stale within
// WithMaxStale), and the read hook never calls such a read a hit.
func TestMalformedAnswerNeverServed(t *testing.T) {
	for name, bad := range malformed {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batch=%v", name, batch), func(t *testing.T) {
				m := &mangler{script: newScript()}
				var src secretcache.Source = m
				if batch {
					src = batchMangler{m}
				}
				m.script.set("db", "good")
				rec := &recorder{}
				c, clk := newCache(t, src, secretcache.WithTTL(time.Minute), secretcache.WithMaxStale(time.Hour),
					secretcache.WithBackoff(time.Second, time.Second), secretcache.WithReadHook(rec.hook))

				// A miss: refused, nothing cached.
				m.set(bad)
				if _, err := c.GetString(ctx, "db"); !errors.Is(err, secretcache.ErrMismatch) || !secretcache.IsTransient(err) {
					t.Fatalf("miss with a malformed answer: %v", err)
				}
				if o := rec.last().Outcome; o != secretcache.OutcomeError {
					t.Fatalf("refused miss reported as %v", o)
				}
				if st := c.Stats(); st.Entries != 0 || st.BackendErrors["mismatch"] == 0 {
					t.Fatalf("malformed answer cached: %+v", st)
				}
				clk.Advance(2 * time.Second) // past the backoff
				m.set(nil)
				rec.read(t, c, "db", "good", secretcache.OutcomeMiss)

				// Refresh ahead in the background (single or batch): the good
				// value stays, fresh reads are hits of the good value.
				m.set(bad)
				clk.Advance(50 * time.Second)
				rec.read(t, c, "db", "good", secretcache.OutcomeHit)
				c.WaitIdle()
				rec.read(t, c, "db", "good", secretcache.OutcomeHit)

				// Past the TTL, the refresh keeps failing: the good value is
				// served stale, never as a hit.
				clk.Advance(20 * time.Second)
				for range 3 {
					rec.read(t, c, "db", "good", secretcache.OutcomeStale)
					c.WaitIdle()
					clk.Advance(2 * time.Second)
				}

				// Refresh: refused, value kept.
				if _, err := c.Refresh(ctx, "db"); !errors.Is(err, secretcache.ErrMismatch) {
					t.Fatalf("Refresh with a malformed answer: %v", err)
				}
				rec.read(t, c, "db", "good", secretcache.OutcomeStale)

				// Warm: refused, value kept; an id not cached stays uncached.
				m.script.set("other", "x")
				if err := c.Warm(ctx, "db", "other"); !errors.Is(err, secretcache.ErrMismatch) {
					t.Fatalf("Warm with malformed answers: %v", err)
				}
				rec.read(t, c, "db", "good", secretcache.OutcomeStale)
				for e := range c.Entries() {
					if e.Ref.ID != "db" {
						t.Fatalf("malformed answer for %q cached by Warm", e.Ref.ID)
					}
				}

				// The source heals: the next refresh stores its answer.
				m.set(nil)
				m.script.set("db", "better")
				clk.Advance(2 * time.Second)
				got, err := c.GetString(ctx, "db")
				if err != nil || (got != "good" && got != "better") {
					t.Fatal(got, err)
				}
				c.WaitIdle()
				if got := mustString(t, c, "db"); got != "better" {
					t.Fatalf("after the source healed: %q", got)
				}
			})
		}
	}
}

// TestExpiryRefreshRefusesMalformed: with refresh ahead off, the read that
// finds the entry expired fetches in the foreground; a malformed answer
// then gets the good value served stale.
func TestExpiryRefreshRefusesMalformed(t *testing.T) {
	m := &mangler{script: newScript()}
	m.script.set("db", "good")
	rec := &recorder{}
	c, clk := newCache(t, m, secretcache.WithTTL(time.Minute), secretcache.WithRefreshAhead(0),
		secretcache.WithReadHook(rec.hook))
	rec.read(t, c, "db", "good", secretcache.OutcomeMiss)
	m.set(malformed["empty string"])
	clk.Advance(61 * time.Second)
	rec.read(t, c, "db", "good", secretcache.OutcomeStale)
	if st := c.Stats(); st.RefreshesOnExpiry != 1 || st.StaleHits != 1 || st.Hits != 0 {
		t.Fatalf("stats %+v", st)
	}
	c2, clk2 := newCache(t, m, secretcache.WithTTL(time.Minute), secretcache.WithRefreshAhead(0),
		secretcache.WithMaxStale(0), secretcache.WithReadHook(rec.hook))
	m.set(nil)
	rec.read(t, c2, "db", "good", secretcache.OutcomeMiss)
	m.set(malformed["empty string"])
	clk2.Advance(61 * time.Second)
	if _, err := c2.GetString(ctx, "db"); !errors.Is(err, secretcache.ErrMismatch) {
		t.Fatalf("no staleness allowed: %v", err)
	}
	if o := rec.last().Outcome; o != secretcache.OutcomeError {
		t.Fatalf("refused read reported as %v", o)
	}
}

// rawBatch is a batch source whose whole answer a test writes.
type rawBatch struct {
	answer func(refs []secretcache.Ref) []secretcache.Result
}

func (r rawBatch) Fetch(context.Context, secretcache.Ref) (*secretcache.Secret, error) {
	return nil, secretcache.NewError(secretcache.ErrUnavailable, "", nil)
}

func (r rawBatch) FetchBatch(_ context.Context, refs []secretcache.Ref) []secretcache.Result {
	return r.answer(refs)
}

func nameless(v string) *secretcache.Secret { return &secretcache.Secret{String: v} }

// TestMalformedBatchRefused: a batch answer whose shape is wrong (too many
// or too few results, a nil secret without an error, a result for another
// ref, a result that names no secret) is refused; nothing of it is cached.
func TestMalformedBatchRefused(t *testing.T) {
	cases := map[string]func(refs []secretcache.Ref) []secretcache.Result{
		"too many (shifted)": func(refs []secretcache.Ref) []secretcache.Result {
			out := []secretcache.Result{{Secret: nameless("intruder")}}
			for _, r := range refs {
				out = append(out, secretcache.Result{Secret: nameless("value of " + r.ID)})
			}
			return out
		},
		"too few": func(refs []secretcache.Ref) []secretcache.Result {
			var out []secretcache.Result
			for _, r := range refs[1:] {
				out = append(out, secretcache.Result{Secret: nameless("value of " + r.ID)})
			}
			return out
		},
		"nil secret, nil error": func(refs []secretcache.Ref) []secretcache.Result {
			return make([]secretcache.Result, len(refs))
		},
		"another ref's result": func(refs []secretcache.Ref) []secretcache.Result {
			out := make([]secretcache.Result, len(refs))
			for i := range refs {
				other := refs[(i+1)%len(refs)].ID
				out[i].Secret = &secretcache.Secret{Name: other, String: "value of " + other}
			}
			return out
		},
		"names no secret": func(refs []secretcache.Ref) []secretcache.Result {
			out := make([]secretcache.Result, len(refs))
			for i, r := range refs {
				out[i].Secret = nameless("value of " + r.ID)
			}
			return out
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			c, _ := newCache(t, rawBatch{answer})
			err := c.Warm(ctx, "a", "b", "c")
			if !errors.Is(err, secretcache.ErrMismatch) {
				t.Fatalf("Warm: %v", err)
			}
			for _, id := range []string{"a", "b", "c"} {
				if !strings.Contains(err.Error(), `"`+id+`"`) {
					t.Errorf("error does not name %q: %v", id, err)
				}
			}
			if st := c.Stats(); st.Entries != 0 {
				t.Fatalf("%d entries cached from a malformed batch", st.Entries)
			}
		})
	}
}

// TestSourcePanicIsAnError: a source that panics fails the read with a
// transient error instead of crashing the program (a background refresh has
// no caller to recover it), and the panic value (which may hold a secret)
// is in no error.
func TestSourcePanicIsAnError(t *testing.T) {
	src := secretcache.SourceFunc(func(context.Context, secretcache.Ref) (*secretcache.Secret, error) {
		panic("TOPSECRET in a panic")
	})
	c, _ := newCache(t, src)
	_, err := c.GetString(ctx, "a")
	if !errors.Is(err, secretcache.ErrUnavailable) || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("panicking source: %v", err)
	}
	b := rawBatch{func([]secretcache.Ref) []secretcache.Result { panic("TOPSECRET") }}
	c2, _ := newCache(t, b)
	if err := c2.Warm(ctx, "a", "b"); !errors.Is(err, secretcache.ErrUnavailable) || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("panicking batch source: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	const value = "TOPSECRET-value-123"
	s := &secretcache.Secret{Name: "n", ARN: "arn", VersionID: "v", VersionStages: []string{"AWSCURRENT"}, String: value}
	b := &secretcache.Secret{Name: "n", Binary: []byte(value)}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "secret", s, "bin", b)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", s)
	js, _ := json.Marshal(map[string]any{"s": s, "b": b})
	out := fmt.Sprintf("%v %+v %#v %s %q %x %v %+v", s, s, s, s, s, s, *s, []*secretcache.Secret{s, b}) +
		string(js) + buf.String() + fmt.Sprint(s.Metadata(), []secretcache.Secret{*s, *b})
	if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
		t.Fatalf("value leaked: %s", out)
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(string(js), `"Name":"n"`) {
		t.Fatalf("metadata missing: %s", out)
	}
}

type awsErr struct{ code string }

func (e awsErr) Error() string { return "aws says " + e.code }

func TestErrorsIsAs(t *testing.T) {
	src := newScript()
	src.fail("a", secretcache.NewError(secretcache.ErrAccessDenied, "a", awsErr{"AccessDeniedException"}))
	src.fail("b", errors.New("weird"))
	c, _ := newCache(t, src)
	_, err := c.GetString(ctx, "a")
	var se *secretcache.Error
	var ae awsErr
	if !errors.Is(err, secretcache.ErrAccessDenied) || !errors.As(err, &se) || !errors.As(err, &ae) || se.ID != "a" {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), `"a"`) || !secretcache.IsPermanent(err) || secretcache.IsTransient(err) {
		t.Fatalf("err %v", err)
	}
	_, err = c.GetString(ctx, "b")
	if !errors.Is(err, secretcache.ErrUnavailable) || !secretcache.IsTransient(err) || secretcache.KindName(err) != "unavailable" {
		t.Fatalf("unknown error classified as %v", err)
	}
}

type liar struct{ name string }

func (liar) Describe() secretcache.Description { return awsRules }

func (l liar) Fetch(context.Context, secretcache.Ref) (*secretcache.Secret, error) {
	return &secretcache.Secret{Name: l.name, VersionID: "v9", VersionStages: []string{"AWSPENDING"}, String: "other"}, nil
}

func TestWrongSecretRefused(t *testing.T) {
	c, _ := newCache(t, liar{"someone-else"})
	if _, err := c.GetString(ctx, "mine"); !errors.Is(err, secretcache.ErrMismatch) {
		t.Fatalf("wrong name accepted: %v", err)
	}
	c2, _ := newCache(t, liar{"mine"})
	if _, err := c2.GetString(ctx, "mine"); !errors.Is(err, secretcache.ErrMismatch) {
		t.Fatalf("wrong stage accepted: %v", err)
	}
	if _, err := c2.GetString(ctx, "mine", secretcache.WithVersionID("v1")); !errors.Is(err, secretcache.ErrMismatch) {
		t.Fatalf("wrong version accepted: %v", err)
	}
	if c2.Stats().Entries != 0 {
		t.Fatal("mismatched answer cached")
	}
}
