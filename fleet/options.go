package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/secretcache/secretcache"
)

// Defaults of the options.
const (
	DefaultMaxAge       = 2 * time.Minute
	DefaultRedisTimeout = 50 * time.Millisecond
	DefaultLeaseTTL     = 10 * time.Second
	DefaultLeaseWait    = 2 * time.Second
	DefaultBreakerOpen  = 5 * time.Second
	defaultPollEvery    = 10 * time.Millisecond
	defaultTripAfter    = 3
	maxGroupLength      = 256
)

// Option configures New.
type Option func(*config) error

type config struct {
	group        string
	maxAge       time.Duration
	redisTimeout time.Duration
	leaseTTL     time.Duration
	leaseWait    time.Duration
	breakerOpen  time.Duration
	tripAfter    int
	pollEvery    time.Duration
	clock        secretcache.Clock
	logger       *slog.Logger
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("fleet: %s must be positive, got %v", name, d)
	}
	return nil
}

// WithGroup names the fleet group: hosts of one group share entries, hosts
// of another never see them (the group is in every Redis key's HMAC and in
// every entry's associated data). 1 to 256 bytes; default "default".
func WithGroup(g string) Option {
	return func(c *config) error {
		if g == "" || len(g) > maxGroupLength {
			return fmt.Errorf("fleet: group must be 1 to %d bytes, got %d", maxGroupLength, len(g))
		}
		c.group = g
		return nil
	}
}

// WithMaxAge sets how old (since its origin fetch, on any host) an L2 entry
// may be and still be served; an older one is fetched again by one host.
// A value a cache serves is then at most MaxAge + the cache's TTL old. Keep
// it at half the cache's TTL or less. Default 2 minutes.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) error { c.maxAge = d; return positive("max age", d) }
}

// WithRedisTimeout bounds each Redis operation (default 50 ms): past it the
// read goes to the origin and counts a fallback.
func WithRedisTimeout(d time.Duration) Option {
	return func(c *config) error { c.redisTimeout = d; return positive("redis timeout", d) }
}

// WithLease sets how long a host's lease on a miss lasts (ttl, default 10 s)
// and how long the other hosts wait for its write before reading the origin
// themselves (wait, default 2 s).
func WithLease(ttl, wait time.Duration) Option {
	return func(c *config) error {
		c.leaseTTL, c.leaseWait = ttl, wait
		return errors.Join(positive("lease ttl", ttl), positive("lease wait", wait))
	}
}

// WithBreaker sets after how many Redis failures in a row the host stops
// using Redis (default 3) and for how long before it tries again
// (default 5 s).
func WithBreaker(failures int, openFor time.Duration) Option {
	return func(c *config) error {
		if failures < 1 {
			return fmt.Errorf("fleet: breaker failures must be at least 1, got %d", failures)
		}
		c.tripAfter, c.breakerOpen = failures, openFor
		return positive("breaker open time", openFor)
	}
}

// WithClock replaces the wall clock, for tests: entry ages are read on it.
func WithClock(clk secretcache.Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return errors.New("fleet: clock is nil")
		}
		c.clock = clk
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()). Logs name no secret
// and hold no value.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("fleet: logger is nil")
		}
		c.logger = l
		return nil
	}
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
