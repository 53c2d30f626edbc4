package monitor_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

// fakeClock is a settable clock shared by the cache and the monitor.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scripted is an in-memory source: each id has a value and a version that
// can be bumped; failures are scripted by id; every call is reported to the
// observer with a scripted latency.
type scripted struct {
	mu       sync.Mutex
	values   map[string]string
	versions map[string]int
	bump     map[string]bool // bump the version on every fetch
	fail     map[string]error
	failAll  error
	latency  []time.Duration // per call, in order; the last repeats
	calls    int
	observe  func(op, region string, d time.Duration, err error)
	region   string
	breakers []secretcache.BreakerState
}

func newScripted(values map[string]string) *scripted {
	return &scripted{values: values, versions: map[string]int{}, bump: map[string]bool{},
		fail: map[string]error{}, region: "us-east-1"}
}

func (s *scripted) Fetch(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := 10 * time.Millisecond
	if len(s.latency) > 0 {
		lat = s.latency[min(s.calls, len(s.latency)-1)]
	}
	s.calls++
	err := s.failAll
	if err == nil {
		err = s.fail[ref.ID]
	}
	val, ok := s.values[ref.ID]
	if err == nil && !ok {
		err = secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
	}
	if s.observe != nil {
		s.observe("GetSecretValue", s.region, lat, err)
	}
	if err != nil {
		return nil, err
	}
	if s.bump[ref.ID] || s.versions[ref.ID] == 0 {
		s.versions[ref.ID]++
	}
	stages := []string{"AWSCURRENT"}
	if ref.VersionStage != "" {
		stages = []string{ref.VersionStage}
	}
	return &secretcache.Secret{Name: ref.ID, ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + ref.ID + "-AbCdEf",
		VersionID: "v" + string(rune('0'+s.versions[ref.ID])), VersionStages: stages, String: val}, nil
}

func (s *scripted) Breakers() []secretcache.BreakerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]secretcache.BreakerState(nil), s.breakers...)
}

func (s *scripted) set(fn func(s *scripted)) {
	s.mu.Lock()
	fn(s)
	s.mu.Unlock()
}

// newCache builds a cache whose reads are deterministic: no refresh-ahead,
// an hour of backoff after a failure, the fake clock.
func newCache(t testing.TB, src secretcache.Source, clk *fakeClock, opts ...secretcache.Option) *secretcache.Cache {
	t.Helper()
	base := []secretcache.Option{secretcache.WithClock(clk), secretcache.WithTTL(time.Minute),
		secretcache.WithRefreshAhead(0), secretcache.WithBackoff(time.Hour, time.Hour),
		secretcache.WithMaxStale(10 * time.Minute), secretcache.WithLogger(slog.New(slog.DiscardHandler))}
	c, err := secretcache.New(src, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// scrape fetches /metrics from h and parses it with the Prometheus text parser.
func scrape(t testing.TB, h http.Handler) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams, body
}

// sample returns the value of the metric family name with exactly the given
// labels (a subset match on the listed labels); ok false if absent.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
outer:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue outer
			}
		}
		return m, true
	}
	return nil, false
}

func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m, ok := sample(fams, name, labels...)
	if !ok {
		t.Fatalf("metric %s%v not found", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("metric %s has no simple value", name)
	return 0
}

// get performs a request against h and returns the status and body.
func get(h http.Handler, method, path string) (int, string, http.Header) {
	req := httptest.NewRequest(method, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b), rec.Header()
}

// captureLogger returns a JSON logger writing into buf at Debug level.
func captureLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ = monitor.New

// quiet discards the monitor's own warnings in tests that provoke them.
var quiet = monitor.WithLogger(slog.New(slog.DiscardHandler))

// nilCtx is a nil context, for the tests of functions documented to accept one.
var nilCtx context.Context
