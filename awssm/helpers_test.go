package awssm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

const (
	primary = "us-east-1"
	replica = "us-west-2"
)

// Test timings: short, so that a blackholed region costs little.
const (
	tAttempt = 150 * time.Millisecond
	tOpenFor = time.Second
	tFails   = 2
)

func newServer(t testing.TB) *smtest.Server {
	t.Helper()
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// fastOpts are the test defaults: two attempts per region, short timeouts,
// a breaker that opens after two failures for 1 s.
func fastOpts(extra ...awssm.Option) []awssm.Option {
	return append([]awssm.Option{
		awssm.WithRegions(primary, replica),
		awssm.WithMaxAttempts(2),
		awssm.WithAttemptTimeout(tAttempt),
		awssm.WithTimeout(3 * time.Second),
		awssm.WithBackoff(time.Millisecond, 5*time.Millisecond),
		awssm.WithBreaker(tFails, tOpenFor),
		awssm.WithLogger(slog.New(slog.DiscardHandler)),
	}, extra...)
}

func newSource(t testing.TB, srv *smtest.Server, opts ...awssm.Option) *awssm.Source {
	t.Helper()
	src, err := awssm.New(srv.AWSConfig(primary), fastOpts(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// replicated creates name in the primary region, replicated to the replica.
func replicated(t testing.TB, srv *smtest.Server, name, value string) string {
	t.Helper()
	arn, err := srv.CreateSecret(primary, name, value)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Replicate(name, primary, replica); err != nil {
		t.Fatal(err)
	}
	return arn
}

func mustKind(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v: want kind %v (got %q)", err, kind, secretcache.KindName(err))
	}
	var se *secretcache.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T is not a *secretcache.Error", err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func breaker(src *awssm.Source, region string) secretcache.BreakerState {
	for _, b := range src.Breakers() {
		if b.Name == region {
			return b
		}
	}
	return secretcache.BreakerState{}
}

// eventually polls cond for up to 3 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer is a concurrency-safe slog sink for checking what was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recordingClient is an HTTP client that remembers request headers and
// bodies.
type recordingClient struct {
	mu      sync.Mutex
	agents  []string
	targets []string
	bodies  []string
	next    *http.Client
}

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.mu.Lock()
	c.agents = append(c.agents, r.Header.Get("User-Agent"))
	c.targets = append(c.targets, r.Header.Get("X-Amz-Target"))
	c.bodies = append(c.bodies, string(body))
	c.mu.Unlock()
	return c.next.Do(r)
}

func (c *recordingClient) all() (agents, targets, bodies []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.agents...), append([]string(nil), c.targets...), append([]string(nil), c.bodies...)
}

var bg = context.Background()

var _ = aws.String
