package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

// fakeSource serves secrets whose value and version the test sets.
type fakeSource struct {
	mu      sync.Mutex
	version map[string]int
	value   map[string]string
	calls   atomic.Int64
}

func newFakeSource() *fakeSource {
	return &fakeSource{version: map[string]int{}, value: map[string]string{}}
}

func (f *fakeSource) set(id, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version[id]++
	f.value[id] = value
}

func (f *fakeSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	f.calls.Add(1)
	f.mu.Lock()
	v, ok := f.version[ref.ID]
	val := f.value[ref.ID]
	f.mu.Unlock()
	if !ok {
		return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
	}
	return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprintf("v%d", v),
		VersionStages: []string{"AWSCURRENT"}, String: val}, nil
}

// resource is what the tests rotate.
type resource struct {
	version string
	value   string
	closed  atomic.Bool
}

type recorder struct {
	mu        sync.Mutex
	built     []*resource
	validates atomic.Int64
	buildHold chan struct{}
}

func (rec *recorder) spec() rotate.Spec[*resource] {
	return rotate.Spec[*resource]{
		Build: func(ctx context.Context, s *secretcache.Secret) (*resource, error) {
			if rec.buildHold != nil {
				select {
				case <-rec.buildHold:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			if s.String == "unbuildable" {
				return nil, errors.New("cannot build")
			}
			r := &resource{version: s.VersionID, value: s.String}
			rec.mu.Lock()
			rec.built = append(rec.built, r)
			rec.mu.Unlock()
			return r, nil
		},
		Validate: func(_ context.Context, r *resource) error {
			rec.validates.Add(1)
			if r.value == "bad" {
				return errors.New("login failed")
			}
			return nil
		},
		Close: func(r *resource) error {
			if r.closed.Swap(true) {
				panic("closed twice")
			}
			return nil
		},
	}
}

func (rec *recorder) all() []*resource {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*resource(nil), rec.built...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newCache(t *testing.T, src secretcache.Source, opts ...secretcache.Option) *secretcache.Cache {
	t.Helper()
	c, err := secretcache.New(src, append([]secretcache.Option{secretcache.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

var fast = []rotate.Option{rotate.WithBackoff(10*time.Millisecond, 40*time.Millisecond),
	rotate.WithDrain(20 * time.Millisecond), rotate.WithPollInterval(0), rotate.WithLogger(quiet()),
	rotate.WithFailureRefresh(0)}
