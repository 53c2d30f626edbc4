package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/health"
	"github.com/secretcache/secretcache/internal/clip"
)

// DefaultNamespace is the prefix of every metric name unless WithNamespace
// says otherwise; exported so that a program's own metrics (the agent's)
// sit under the same prefix.
const DefaultNamespace = "secretcache"

const (
	unknown               = "unknown" // the region, operation or breaker name when none is known
	maxLabelPairs         = 256       // distinct (operation, region) pairs in the latency histogram
	maxLabelValue         = 128       // bytes of an operation or region label value
	maxComponentNameBytes = 128
)

// Monitor watches one secretcache.Cache: it exports Prometheus metrics,
// judges health, and renders statistics and reports. Create it with New. It
// is safe for concurrent use. A nil *Monitor is safe to call ObserveCall on
// (it does nothing), so it can be wired into a source before it exists.
type Monitor struct {
	cache atomic.Pointer[secretcache.Cache]
	cfg   config

	latency *prometheus.HistogramVec
	obsMu   sync.RWMutex
	obs     map[[2]string]*obsPair // (operation, region) -> observers by outcome

	calls callWindow
	snaps snapshots

	compMu     sync.RWMutex
	components map[string]health.Checker

	coll     *collector
	registry *prometheus.Registry
}

// obsPair caches the observers of one (operation, region) pair.
type obsPair struct {
	op, region string
	mu         sync.Mutex
	byOutcome  map[string]prometheus.Observer
}

// Option configures a Monitor in New. An option that returns an error has
// kept its default; New logs the error and goes on.
type Option func(*config) error

type config struct {
	region       string
	thresholds   Thresholds
	perSecret    bool
	namespace    string
	constLabels  prometheus.Labels
	clock        secretcache.Clock
	window       time.Duration
	maxSamples   int
	buckets      []float64
	logger       *slog.Logger
	price        float64 // US dollars per 10,000 API calls
	checkTimeout time.Duration
	degradedCode int
}

var metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// WithRegion sets the region name shown in the statistics and the report
// and, when the source's breakers mark none as primary, the breaker treated
// as the primary one. Without it the primary breaker's name is used, else
// "unknown". A name longer than 128 bytes or with control characters is
// cleaned (control characters dropped, cut to 128 bytes).
func WithRegion(name string) Option {
	return func(c *config) error { c.region = cleanLabel(name); return nil }
}

// WithThresholds sets the rules that decide healthy, degraded and
// unhealthy. A zero field keeps its default; see Thresholds. An invalid field
// (a rate above 1 or NaN) is ignored, logged at Warn, and its default kept.
func WithThresholds(t Thresholds) Option {
	return func(c *config) error { c.thresholds = t; return nil }
}

// WithPerSecretLabels turns on metrics labelled by secret name (entry age,
// staleness, refresh failures per cached secret version). They are off by
// default: secret names reveal the structure of a deployment, and each cached
// version adds series.
func WithPerSecretLabels(on bool) Option {
	return func(c *config) error { c.perSecret = on; return nil }
}

// WithNamespace sets the prefix of every metric name (default "secretcache",
// so "secretcache_reads_total"). "" means no prefix. A name that is not a
// valid Prometheus metric name prefix is ignored (logged at Warn) and the
// default kept.
func WithNamespace(ns string) Option {
	return func(c *config) error {
		if ns != "" && (!metricNameRE.MatchString(ns) || len(ns) > 64) {
			return fmt.Errorf("invalid metric namespace %q ignored", clip.Cut(ns, 64))
		}
		c.namespace = ns
		return nil
	}
}

// WithConstLabels adds labels with fixed values to every metric, for a
// process that runs several caches ({"cache": "payments"}). Invalid label
// names, reserved names ("__" prefix) and names the metrics use themselves are
// ignored (logged at Warn); values are cleaned like other label values.
func WithConstLabels(labels map[string]string) Option {
	return func(c *config) error {
		var errs []error
		for k, v := range labels {
			if !labelNameRE.MatchString(k) || len(k) > 64 || len(k) >= 2 && k[:2] == "__" || reservedLabels[k] {
				errs = append(errs, fmt.Errorf("invalid or reserved constant label name %q ignored", clip.Cut(k, 64)))
				continue
			}
			if c.constLabels == nil {
				c.constLabels = prometheus.Labels{}
			}
			c.constLabels[k] = cleanLabel(v)
		}
		return errors.Join(errs...)
	}
}

var reservedLabels = map[string]bool{"outcome": true, "kind": true, "operation": true, "region": true,
	"primary": true, "stat": true, "secret": true, "stage": true, "version_id": true, "version": true, "le": true}

// WithClock replaces the wall clock (for tests; share the cache's fake clock).
// A nil clock is ignored.
func WithClock(clk secretcache.Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return errors.New("nil clock ignored")
		}
		c.clock = clk
		return nil
	}
}

// WithWindow sets the sliding window over which health judges the backend
// success rate, the latency percentiles and the hit rate (default 5 minutes),
// and how many recent backend calls it keeps for that (default 1024; the
// oldest are dropped first). Values that are not positive are ignored; the
// sample count is capped at 1,000,000.
func WithWindow(d time.Duration, maxSamples int) Option {
	return func(c *config) error {
		var errs []error
		if d > 0 {
			c.window = d
		} else {
			errs = append(errs, fmt.Errorf("non-positive window %v ignored", d))
		}
		if maxSamples > 0 {
			c.maxSamples = min(maxSamples, 1_000_000)
		} else {
			errs = append(errs, fmt.Errorf("non-positive sample count %d ignored", maxSamples))
		}
		return errors.Join(errs...)
	}
}

// WithBuckets sets the upper bounds, in seconds, of the backend latency
// histogram (default prometheus.DefBuckets, 5 ms to 10 s). Bounds that are
// not finite, not positive or not increasing are rejected as a whole (logged,
// default kept); at most 64 are accepted.
func WithBuckets(bounds ...float64) Option {
	return func(c *config) error {
		ok := len(bounds) > 0 && len(bounds) <= 64
		for i, b := range bounds {
			if math.IsNaN(b) || math.IsInf(b, 0) || b <= 0 || (i > 0 && b <= bounds[i-1]) {
				ok = false
			}
		}
		if !ok {
			return errors.New("invalid histogram buckets ignored")
		}
		c.buckets = append([]float64(nil), bounds...)
		return nil
	}
}

// WithLogger sets where the monitor logs its own problems (an ignored
// option, a panicking component check). Default slog.Default(). Nil is
// ignored.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithAPIPrice sets the price, in US dollars per 10,000 API calls, the report
// uses to estimate cost and saving (default 0.05). Negative, NaN or infinite
// prices are ignored.
func WithAPIPrice(dollarsPer10k float64) Option {
	return func(c *config) error {
		if math.IsNaN(dollarsPer10k) || math.IsInf(dollarsPer10k, 0) || dollarsPer10k < 0 {
			return errors.New("invalid API price ignored")
		}
		c.price = dollarsPer10k
		return nil
	}
}

// WithCheckTimeout bounds how long Health waits for each registered component
// check (default 2 s). A check still running then is reported unhealthy
// ("check timed out"). Non-positive values are ignored.
func WithCheckTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("non-positive check timeout %v ignored", d)
		}
		c.checkTimeout = d
		return nil
	}
}

// WithDegradedStatusCode sets the HTTP status the health handler answers
// when the status is "degraded" (default 503, as for "unhealthy"; pass 200
// to keep degraded instances in a load balancer). Codes outside 200..599 are
// ignored.
func WithDegradedStatusCode(code int) Option {
	return func(c *config) error {
		if code < 200 || code > 599 {
			return fmt.Errorf("invalid degraded status code %d ignored", code)
		}
		c.degradedCode = code
		return nil
	}
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// New returns a monitor of the cache c. c may be nil (attach it later with
// SetCache): until then health is unhealthy ("no cache"), the statistics
// are empty and only the latency histogram has data. New never fails:
// invalid options are ignored, logged at Warn on the monitor's logger, and
// their defaults kept. Nil options are skipped.
func New(c *secretcache.Cache, opts ...Option) *Monitor {
	cfg := config{
		namespace: DefaultNamespace, clock: wallClock{}, window: 5 * time.Minute,
		maxSamples: 1024, buckets: prometheus.DefBuckets, price: 0.05,
		checkTimeout: 2 * time.Second, degradedCode: 503,
	}
	var problems []error
	for _, o := range opts {
		if o != nil {
			problems = append(problems, o(&cfg))
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	var err error
	cfg.thresholds, err = cfg.thresholds.withDefaults()
	warnEach(cfg.logger, append(problems, err))
	m := &Monitor{cfg: cfg, obs: map[[2]string]*obsPair{}, components: map[string]health.Checker{}}
	m.cache.Store(c)
	m.calls.init(cfg.maxSamples)
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: cfg.namespace, Name: "backend_call_duration_seconds",
		Help:        "Latency of backend (Secrets Manager) API calls, as reported by the source's call observer.",
		Buckets:     cfg.buckets,
		ConstLabels: cfg.constLabels,
	}, []string{"operation", "region", "outcome"})
	m.coll = newCollector(m)
	m.registry = prometheus.NewRegistry()
	if err := m.registry.Register(m.coll); err != nil { // cannot happen: names are validated
		cfg.logger.Error("secretcache/monitor: registering collector", "error", err)
	}
	m.snaps.record(m.now(), m.counters())
	return m
}

// warnEach logs every problem in errs, one record for each joined error,
// so an operator reads one line per ignored setting.
func warnEach(l *slog.Logger, errs []error) {
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			warnEach(l, j.Unwrap())
		} else if err != nil {
			l.Warn("secretcache/monitor: " + err.Error())
		}
	}
}

// SetCache attaches (or replaces) the cache the monitor watches. It lets a
// program create the monitor first, pass m.ObserveCall to the source, build
// the cache on that source, then attach it. A nil cache detaches.
func (m *Monitor) SetCache(c *secretcache.Cache) {
	if m == nil {
		return
	}
	m.cache.Store(c)
	m.snaps.reset(m.now(), m.counters())
}

// Cache returns the watched cache, or nil.
func (m *Monitor) Cache() *secretcache.Cache {
	if m == nil {
		return nil
	}
	return m.cache.Load()
}

func (m *Monitor) now() time.Time { return m.cfg.clock.Now() }

// counters returns the cache's cumulative counters, or zeros without a cache.
func (m *Monitor) counters() snap {
	c := m.cache.Load()
	if c == nil {
		return snap{}
	}
	return snapOf(c.Stats())
}

func snapOf(s secretcache.Stats) snap {
	var failures uint64
	for k, n := range s.BackendErrors {
		if countsAsFailure(k) {
			failures += n
		}
	}
	return snap{hits: s.Hits + s.StaleHits, reads: s.Reads(), calls: s.BackendCalls,
		failures: min(failures, s.BackendCalls)}
}

// notFailures are the kinds (by KindName) that do not count against the
// success rate: answers about the request rather than the backend (the
// secret does not exist, is deleted, the request is malformed), and "", no
// error.
var notFailures = map[string]bool{"": true, secretcache.KindName(secretcache.ErrNotFound): true,
	secretcache.KindName(secretcache.ErrDeleted): true, secretcache.KindName(secretcache.ErrInvalidRequest): true}

// countsAsFailure reports whether a backend error of this kind counts
// against the success rate.
func countsAsFailure(kind string) bool { return !notFailures[kind] }

// ObserveCall records one backend API call: op is the operation
// ("GetSecretValue", "BatchGetSecretValue"), region where it went, d how
// long it took, err its error (nil on success). Pass it to
// awssm.WithCallObserver. It feeds the latency histogram (labelled by
// operation, region and outcome, "success" or the error's kind name) and the
// sliding window health uses.
//
// Hostile input is harmless: an empty op or region is recorded as
// "unknown", values are cut to 128 bytes and stripped of control characters
// and invalid UTF-8, a negative duration counts as 0, and after 256 distinct
// (op, region) pairs further pairs are recorded as ("other", "other") so a
// caller cannot grow the series without bound. Calling it on a nil *Monitor
// does nothing.
func (m *Monitor) ObserveCall(op, region string, d time.Duration, err error) {
	if m == nil {
		return
	}
	d = max(d, 0)
	outcome := "success"
	if err != nil {
		outcome = secretcache.KindName(err)
	}
	m.observer(op, region, outcome).Observe(d.Seconds())
	m.calls.add(callSample{at: m.now().UnixNano(), d: d, failed: err != nil && countsAsFailure(outcome)})
}

func (m *Monitor) observer(op, region, outcome string) prometheus.Observer {
	key := [2]string{op, region}
	m.obsMu.RLock()
	p := m.obs[key]
	m.obsMu.RUnlock()
	if p == nil {
		m.obsMu.Lock()
		if p = m.obs[key]; p == nil {
			if len(m.obs) >= maxLabelPairs {
				key = [2]string{"other", "other"}
				p = m.obs[key]
			}
			if p == nil {
				p = &obsPair{op: labelOr(cleanLabel(key[0]), unknown), region: labelOr(cleanLabel(key[1]), unknown),
					byOutcome: map[string]prometheus.Observer{}}
				m.obs[key] = p
			}
		}
		m.obsMu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.byOutcome[outcome]
	if o == nil {
		var err error
		o, err = m.latency.GetMetricWithLabelValues(p.op, p.region, outcome)
		if err != nil { // cannot happen: values are cleaned
			return noopObserver{}
		}
		p.byOutcome[outcome] = o
	}
	return o
}

type noopObserver struct{}

func (noopObserver) Observe(float64) {}

func labelOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// RegisterChecker adds a named component that Health checks and reports
// under "components" (a rotate.Registry of database connections reports
// there). A component's "unhealthy" makes the whole status unhealthy, its
// "degraded" (or any status other than "healthy") makes it at least
// degraded. Registering a name again replaces its checker; a nil checker
// removes it. An empty name, or one over 128 bytes or with control
// characters, is ignored (logged at Warn). Checks get a context bounded by
// WithCheckTimeout; a check that panics is reported unhealthy with the
// message "check panicked" (the panic value is not shown: it could hold
// anything).
func (m *Monitor) RegisterChecker(name string, c health.Checker) {
	if m == nil {
		return
	}
	if name == "" || len(name) > maxComponentNameBytes || cleanLabel(name) != name {
		m.cfg.logger.Warn("secretcache/monitor: invalid component name ignored", "name", clip.Cut(cleanLabel(name), 64))
		return
	}
	m.compMu.Lock()
	defer m.compMu.Unlock()
	if c == nil {
		delete(m.components, name)
		return
	}
	m.components[name] = c
}

// RegisterComponent is RegisterChecker for a check function; a nil check
// removes the name.
func (m *Monitor) RegisterComponent(name string, check func(ctx context.Context) ComponentHealth) {
	var c health.Checker
	if check != nil {
		c = health.CheckerFunc(check)
	}
	m.RegisterChecker(name, c)
}

func (m *Monitor) componentNames() []string {
	m.compMu.RLock()
	defer m.compMu.RUnlock()
	names := make([]string, 0, len(m.components))
	for n := range m.components {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// region returns the region to show: the configured one, else the primary
// breaker's name, else "unknown".
func (m *Monitor) region(breakers []secretcache.BreakerState) string {
	if m.cfg.region != "" {
		return m.cfg.region
	}
	for _, b := range breakers {
		if b.Primary && b.Name != "" {
			return cleanLabel(b.Name)
		}
	}
	return unknown
}

// breakers returns the breaker states of the cache's source, or nil.
func (m *Monitor) breakers() []secretcache.BreakerState {
	c := m.cache.Load()
	if c == nil {
		return nil
	}
	br, ok := c.Source().(secretcache.BreakerReporter)
	if !ok {
		return nil
	}
	var out []secretcache.BreakerState
	func() {
		defer func() {
			if recover() != nil {
				m.cfg.logger.Error("secretcache/monitor: source's Breakers panicked")
				out = nil
			}
		}()
		out = br.Breakers()
	}()
	seen := make(map[string]bool, len(out))
	res := out[:0:0]
	for _, b := range out {
		b.Name = labelOr(cleanLabel(b.Name), unknown)
		if seen[b.Name] {
			continue
		}
		seen[b.Name] = true
		b.LastErrorKind = cleanLabel(b.LastErrorKind)
		res = append(res, b)
	}
	return res
}

// primaryBreaker returns the index of the primary breaker: the one marked
// Primary, else the one named like WithRegion, else the first; -1 if none.
func (m *Monitor) primaryBreaker(bs []secretcache.BreakerState) int {
	for i, b := range bs {
		if b.Primary {
			return i
		}
	}
	for i, b := range bs {
		if m.cfg.region != "" && b.Name == m.cfg.region {
			return i
		}
	}
	if len(bs) > 0 {
		return 0
	}
	return -1
}
