package secretcache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// awsBatch is the batch limit of Secrets Manager's BatchGetSecretValue.
const awsBatch = 20

// awsRules is what awssm tells the cache: Secrets Manager's stages, batch
// size and naming. The scripted sources of these tests answer as Secrets
// Manager does, so they tell the cache the same.
var awsRules = secretcache.Description{
	DefaultStage: awsname.StageCurrent,
	MaxBatch:     awsBatch,
	SameSecret: func(id string, s *secretcache.Secret) bool {
		return awsname.SameSecret(id, s.Name, s.ARN) && awsname.ARNNames(s.ARN, s.Name)
	},
	NameOf: awsname.NameOf,
}

// awsLike gives a source Secrets Manager's rules.
type awsLike struct{ secretcache.Source }

func (awsLike) Describe() secretcache.Description { return awsRules }

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// script is an in-memory source whose answers a test controls.
type script struct {
	mu       sync.Mutex
	secrets  map[string]*secretcache.Secret // by name: AWSCURRENT
	staged   map[string]*secretcache.Secret // name + "@" + stage
	history  []*secretcache.Secret          // every version ever set
	errs     map[string]error               // forced error by name
	allErr   error                          // forced error for all
	block    chan struct{}                  // when set, fetches wait on it
	calls    atomic.Int64                   // Fetch calls
	batches  atomic.Int64                   // FetchBatch calls
	batchIDs atomic.Int64                   // refs fetched by batch
	version  int
}

func newScript() *script {
	return &script{secrets: map[string]*secretcache.Secret{}, staged: map[string]*secretcache.Secret{}, errs: map[string]error{}}
}

func (s *script) Describe() secretcache.Description { return awsRules }

// set stores a new AWSCURRENT version of name and returns its version id.
func (s *script) set(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	v := fmt.Sprintf("v%d", s.version)
	s.secrets[name] = &secretcache.Secret{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf",
		Name: name, VersionID: v, VersionStages: []string{"AWSCURRENT"}, String: value}
	s.history = append(s.history, s.secrets[name])
	return v
}

func (s *script) setBinary(name string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.secrets[name] = &secretcache.Secret{Name: name, VersionID: fmt.Sprintf("v%d", s.version),
		VersionStages: []string{"AWSCURRENT"}, Binary: value}
}

func (s *script) setStage(name, stage, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	v := fmt.Sprintf("v%d", s.version)
	s.staged[name+"@"+stage] = &secretcache.Secret{Name: name, VersionID: v, VersionStages: []string{stage}, String: value}
	return v
}

func (s *script) fail(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.errs, name)
	} else {
		s.errs[name] = err
	}
}

func (s *script) failAll(err error) { s.mu.Lock(); s.allErr = err; s.mu.Unlock() }

func (s *script) answer(ref secretcache.Ref) (*secretcache.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := ref.ID
	for _, sec := range s.secrets {
		if sec.ARN != "" && sec.ARN == ref.ID {
			name = sec.Name
		}
	}
	if s.allErr != nil {
		return nil, s.allErr
	}
	if err := s.errs[name]; err != nil {
		return nil, err
	}
	if ref.VersionID != "" {
		for _, sec := range s.history {
			if sec.Name == name && sec.VersionID == ref.VersionID {
				c := sec.Clone()
				c.VersionStages = nil // no longer current
				return c, nil
			}
		}
		return nil, secretcache.NewError(secretcache.ErrNotFound, name, nil)
	}
	if ref.VersionStage != "" && ref.VersionStage != "AWSCURRENT" {
		if sec := s.staged[name+"@"+ref.VersionStage]; sec != nil {
			return sec.Clone(), nil
		}
		return nil, secretcache.NewError(secretcache.ErrNotFound, name, nil)
	}
	if sec := s.secrets[name]; sec != nil {
		return sec.Clone(), nil
	}
	return nil, secretcache.NewError(secretcache.ErrNotFound, name, fmt.Errorf("no secret %q", name))
}

func (s *script) wait(ctx context.Context) error {
	s.mu.Lock()
	b := s.block
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fetch answers with the state at the time of the call, like a request
// that reached the backend, even when the test holds it back.
func (s *script) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.calls.Add(1)
	sec, err := s.answer(ref)
	if werr := s.wait(ctx); werr != nil {
		return nil, werr
	}
	return sec, err
}

// batchScript adds FetchBatch to script.
type batchScript struct{ *script }

func (b batchScript) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	b.batches.Add(1)
	b.batchIDs.Add(int64(len(refs)))
	out := make([]secretcache.Result, len(refs))
	if len(refs) > awsBatch {
		panic("batch too large")
	}
	if err := b.wait(ctx); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	for i, r := range refs {
		out[i].Secret, out[i].Err = b.answer(r)
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newCache(t testing.TB, src secretcache.Source, opts ...secretcache.Option) (*secretcache.Cache, *fakeClock) {
	t.Helper()
	clk := newClock()
	opts = append([]secretcache.Option{secretcache.WithClock(clk), secretcache.WithLogger(quiet()),
		secretcache.WithBatchWindow(0)}, opts...)
	c, err := secretcache.New(src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, clk
}

func mustString(t testing.TB, c *secretcache.Cache, id string, opts ...secretcache.GetOption) string {
	t.Helper()
	v, err := c.GetString(context.Background(), id, opts...)
	if err != nil {
		t.Fatalf("GetString(%q): %v", id, err)
	}
	return v
}
