package secretcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// DefaultRefreshAhead is WithRefreshAhead's default fraction. It is the one
// default exported: a configuration layer that always passes the fraction
// (the agent: 0 there means off) needs it.
const DefaultRefreshAhead = 0.2

// The other defaults, as the options' docs state them.
const (
	defaultTTL          = 5 * time.Minute
	defaultMaxStale     = 15 * time.Minute
	defaultMaxEntries   = 1024
	defaultMaxBytes     = 64 << 20
	defaultFetchTimeout = 10 * time.Second
	defaultBatchWindow  = 20 * time.Millisecond
	defaultBackoffBase  = time.Second
	defaultBackoffMax   = 2 * time.Minute
)

// Clock tells the time. It is the one clock type of this module: every
// package that takes a clock (WithClock) takes this one, so that a test
// moves one fake clock for a cache and everything built on it.
type Clock interface {
	Now() time.Time
}

// Option configures a Cache in New.
type Option func(*config) error

type policy struct {
	pattern string
	ttl     time.Duration
}

type config struct {
	ttl          time.Duration
	refreshAhead float64
	maxStale     time.Duration
	maxEntries   int
	maxBytes     int64
	policies     []policy
	clock        Clock
	logger       *slog.Logger
	fetchTimeout time.Duration
	batchWindow  time.Duration
	backoffBase  time.Duration
	backoffMax   time.Duration
	onRead       []func(context.Context, ReadEvent)
	tracer       Tracer
}

func defaultConfig() config {
	return config{
		ttl: defaultTTL, refreshAhead: DefaultRefreshAhead, maxStale: defaultMaxStale,
		maxEntries: defaultMaxEntries, maxBytes: defaultMaxBytes,
		fetchTimeout: defaultFetchTimeout, batchWindow: defaultBatchWindow,
		backoffBase: defaultBackoffBase, backoffMax: defaultBackoffMax,
	}
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("secretcache: %s must be positive, got %v", name, d)
	}
	return nil
}

// WithTTL sets how long a fetched value is fresh (default 5 minutes).
func WithTTL(d time.Duration) Option {
	return func(c *config) error { c.ttl = d; return positive("TTL", d) }
}

// WithRefreshAhead sets the fraction of the TTL, at its end, during which a
// read starts a background refresh (default 0.2: the last 20 %). 0 turns
// refresh-ahead off; the value must be in [0, 1), else New fails.
//
// The window is never shorter than the fraction, but it widens when
// refreshes take long, so that a refresh ends before the value expires: to
// twice the measured time of a backend call (plus the batch window) or of
// a whole background refresh (from the read that found the entry due to
// the new value stored), whichever is longer, each a smoothed mean plus
// four mean deviations as TCP times its retransmissions, plus the interval
// between updates of the coarse clock (100 ms); at most half the TTL.
func WithRefreshAhead(fraction float64) Option {
	return func(c *config) error {
		if math.IsNaN(fraction) || fraction < 0 || fraction >= 1 {
			return fmt.Errorf("secretcache: refresh-ahead fraction must be in [0, 1), got %v", fraction)
		}
		c.refreshAhead = fraction
		return nil
	}
}

// WithMaxStale sets how long past its TTL a value may still be served while
// the backend fails with transient errors (default 15 minutes). 0 serves no
// stale values.
func WithMaxStale(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("secretcache: max staleness must not be negative, got %v", d)
		}
		c.maxStale = d
		return nil
	}
}

// WithMaxEntries bounds the number of cached secret versions (default 1024).
func WithMaxEntries(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("secretcache: max entries must be positive, got %d", n)
		}
		c.maxEntries = n
		return nil
	}
}

// WithMaxBytes bounds the memory the cached entries keep alive (default 64
// MiB): each entry counts its value, its metadata strings, the entry itself
// and the cache's own per-entry overhead, as the Go allocator rounds them
// (Stats.Bytes is within a few % of the heap they use). The JSON that
// GetField parses, once per version, is not counted. n <= 0 makes New fail.
func WithMaxBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("secretcache: max bytes must be positive, got %d", n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithPolicy gives secrets whose name matches pattern their own TTL.
// Patterns are globs over the whole name where '*' matches any run of
// characters, '/' included, and '?' one character: "*/payments/*",
// "prod/*". The first matching policy, in the order given, wins. The name
// is the answer's Name, else what the source's Description.NameOf makes of
// the id (for awssm, an ARN's secret name).
func WithPolicy(pattern string, ttl time.Duration) Option {
	return func(c *config) error {
		if pattern == "" || len(pattern) > MaxIDLength {
			return fmt.Errorf("secretcache: policy pattern must be 1..%d characters", MaxIDLength)
		}
		if err := positive("policy TTL for "+pattern, ttl); err != nil {
			return err
		}
		c.policies = append(c.policies, policy{pattern, ttl})
		return nil
	}
}

// WithClock replaces the wall clock, for tests. Without it the cache reads a
// coarse clock (updated every 100 ms) on its hot path.
func WithClock(clk Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return errors.New("secretcache: nil clock")
		}
		c.clock = clk
		return nil
	}
}

// WithLogger sets the logger for background events (default slog.Default()).
// Values never reach it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("secretcache: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithFetchTimeout bounds each backend call the cache makes (default 10 s).
// A caller's own context can end its wait sooner.
func WithFetchTimeout(d time.Duration) Option {
	return func(c *config) error { c.fetchTimeout = d; return positive("fetch timeout", d) }
}

// WithBatchWindow sets how long the background refresher gathers due entries
// before it calls the source (default 20 ms). 0 sends at once.
func WithBatchWindow(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("secretcache: batch window must not be negative, got %v", d)
		}
		c.batchWindow = d
		return nil
	}
}

// WithBackoff sets the retry backoff of a failing secret: base doubles per
// consecutive failure up to max, each wait jittered to between half and all
// of it (defaults 1 s and 2 min).
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) error {
		if err := positive("backoff base", base); err != nil {
			return err
		}
		if max < base {
			return fmt.Errorf("secretcache: backoff max %v is below base %v", max, base)
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithReadHook registers a function called after every read (Get, GetString,
// GetBinary, GetField, GetJSON) with what happened. It runs on the caller's
// goroutine and must be quick; it is how audit logs and tracing attach.
// Several hooks run in the order given.
func WithReadHook(fn func(ctx context.Context, ev ReadEvent)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("secretcache: nil read hook")
		}
		c.onRead = append(c.onRead, fn)
		return nil
	}
}

// GetOption modifies one read (or one Refresh). It has the shape of
// Option: it returns an error for an invalid argument, which the read
// returns as ErrInvalidRequest. A read with no options applies none, so
// the shape costs the common read nothing.
type GetOption func(*getOptions) error

type getOptions struct {
	stage       string
	versionID   string
	ttl         time.Duration
	fallback    string
	hasFallback bool
	ifVersion   string        // Refresh only: fetch while this version is cached
	hasIfVer    bool          // ifVersion was given ("" is a version too)
	ifOlder     time.Duration // Refresh only: fetch only a value at least this old
	err         error         // the first option that failed, reported after the id's own check
}

// applyOptions applies opts, skipping nil ones, and keeps the first error.
func applyOptions(opts []GetOption) getOptions {
	var o getOptions
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil && o.err == nil {
			o.err = invalid(err)
		}
	}
	return o
}

// conditional reports whether a Refresh with o may answer from the cache.
func (o *getOptions) conditional() bool { return o.hasIfVer || o.ifOlder > 0 }

// satisfied reports whether e, cached for a conditional Refresh at now,
// answers it without a fetch.
func (o *getOptions) satisfied(e *entry, now int64) bool {
	if !e.hasValue() {
		return false
	}
	return (o.hasIfVer && e.val.versionID != o.ifVersion) || (o.ifOlder > 0 && now-e.fetchedAt < int64(o.ifOlder))
}

// WithVersionStage reads the version carrying the stage label instead of
// the source's default one (for Secrets Manager: AWSPENDING, AWSPREVIOUS
// or a custom label instead of AWSCURRENT). The label must be at most 256
// printable characters.
func WithVersionStage(stage string) GetOption {
	return func(o *getOptions) error {
		if len(stage) > 256 || strings.ContainsFunc(stage, badRune) {
			return errors.New("version stage must be at most 256 printable characters")
		}
		o.stage = stage
		return nil
	}
}

// WithVersionID reads one exact version (at most 64 printable characters).
// Such a version never changes, so it is never refreshed: it stays cached
// until evicted, invalidated or refreshed by hand. A deletion or a revoked
// permission is therefore not noticed for a pinned version; read by stage,
// or call Refresh or Invalidate, where that matters.
func WithVersionID(id string) GetOption {
	return func(o *getOptions) error {
		if len(id) > 64 || strings.ContainsFunc(id, badRune) {
			return errors.New("version id must be at most 64 printable characters")
		}
		o.versionID = id
		return nil
	}
}

// WithEntryTTL overrides the TTL for the entry this read stores on a miss.
func WithEntryTTL(d time.Duration) GetOption {
	return func(o *getOptions) error { o.ttl = d; return nil }
}

// WithFallback makes the read return value (as a string secret) instead of an
// error when the secret cannot be had from the backend. Such reads are
// counted as fallbacks. Invalid arguments still return their error.
func WithFallback(value string) GetOption {
	return func(o *getOptions) error { o.fallback, o.hasFallback = value, true; return nil }
}

// IfVersion makes Refresh conditional: it fetches only while the version
// cached for the ref is still v (or nothing is cached). When the cache
// already holds another version, Refresh returns it with no backend call,
// and a caller that finds a Refresh of the ref under way joins it instead
// of waiting for the next one. So a burst of callers that all failed with
// version v (a rotated password) costs one call. Reads (Get, GetString...)
// ignore it.
func IfVersion(v string) GetOption {
	return func(o *getOptions) error { o.ifVersion, o.hasIfVer = v, true; return nil }
}

// IfOlderThan makes Refresh conditional: it makes no backend call when the
// cached value was fetched less than d ago by the cache's clock, and
// returns that value; like IfVersion, it joins a Refresh of the ref under
// way. It bounds how often failures of use can reach the backend. Reads
// ignore it; d <= 0 is no condition.
func IfOlderThan(d time.Duration) GetOption {
	return func(o *getOptions) error { o.ifOlder = d; return nil }
}
