package awssm

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/smithy-go/tracing"

	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// Defaults.
const (
	DefaultMaxAttempts    = 3                // per region, first attempt included
	DefaultAttemptTimeout = 2 * time.Second  // one HTTP attempt
	DefaultTimeout        = 10 * time.Second // one Fetch, FetchBatch or ListNames, all regions and retries
	DefaultBackoffBase    = 50 * time.Millisecond
	DefaultBackoffMax     = 2 * time.Second
	DefaultBreakerFails   = 5                // consecutive transient failures that open a region's breaker
	DefaultBreakerOpenFor = 30 * time.Second // how long an open breaker skips its region before a probe
)

// Limits on option values.
const (
	MaxRegions     = 16 // regions in the failover list
	MaxAttemptsCap = 10 // the most attempts WithMaxAttempts accepts
)

// Option configures a Source in New. An option given a bad value makes New
// return an error; options never panic.
type Option func(*config) error

type config struct {
	primary        string
	replicas       []string
	regionsSet     bool
	endpoints      map[string]string
	maxAttempts    int
	attemptTimeout time.Duration
	timeout        time.Duration
	backoffBase    time.Duration
	backoffMax     time.Duration
	adaptive       bool
	breakerFails   int
	breakerOpenFor time.Duration
	observers      []func(op, region string, d time.Duration, err error)
	logger         *slog.Logger
	noBatch        bool
	tracerProvider tracing.TracerProvider
}

func defaultConfig() config {
	return config{
		endpoints:      map[string]string{},
		maxAttempts:    DefaultMaxAttempts,
		attemptTimeout: DefaultAttemptTimeout,
		timeout:        DefaultTimeout,
		backoffBase:    DefaultBackoffBase,
		backoffMax:     DefaultBackoffMax,
		breakerFails:   DefaultBreakerFails,
		breakerOpenFor: DefaultBreakerOpenFor,
	}
}

// WithRegions sets the ordered failover list: the primary region first, then
// the replica regions, tried in the order given. Without it the source uses
// the aws.Config's Region alone. Region names must be 1 to 32 lowercase
// letters, digits and inner hyphens ("us-east-1"); an empty, malformed or
// repeated name, or more than MaxRegions in all, makes New fail.
func WithRegions(primary string, replicas ...string) Option {
	return func(c *config) error {
		all := append([]string{primary}, replicas...)
		if len(all) > MaxRegions {
			return fmt.Errorf("awssm: %d regions given, at most %d allowed", len(all), MaxRegions)
		}
		seen := map[string]bool{}
		for _, r := range all {
			if err := checkRegion(r); err != nil {
				return err
			}
			if seen[r] {
				return fmt.Errorf("awssm: region %q listed twice", r)
			}
			seen[r] = true
		}
		c.primary, c.replicas, c.regionsSet = primary, append([]string(nil), replicas...), true
		return nil
	}
}

// WithRegionEndpoint sends the calls for one region to url instead of the
// endpoint the aws.Config resolves (tests point each region at its own fake
// server; VPC endpoints work the same way). url must be an absolute http or
// https URL with a host and no user info, query or fragment; the region must
// be in the failover list, or New fails.
func WithRegionEndpoint(region, endpoint string) Option {
	return func(c *config) error {
		if err := checkRegion(region); err != nil {
			return err
		}
		if len(endpoint) > 2048 {
			return errors.New("awssm: endpoint URL is over 2048 bytes")
		}
		u, err := url.Parse(endpoint)
		if err != nil {
			return fmt.Errorf("awssm: endpoint for region %q: %w", region, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("awssm: endpoint for region %q must be an http(s) URL with a host and no user info, query or fragment", region)
		}
		c.endpoints[region] = endpoint
		return nil
	}
}

// WithMaxAttempts sets how many attempts the SDK's retryer makes in one
// region before the source fails over to the next (default 3; 1 means no
// retries). n must be 1 to MaxAttemptsCap.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxAttemptsCap {
			return fmt.Errorf("awssm: max attempts must be 1..%d, got %d", MaxAttemptsCap, n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithAttemptTimeout bounds each HTTP attempt (default 2 s). An attempt that
// times out is retried like a network error. d must be positive.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("awssm: attempt timeout must be positive, got %v", d)
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithTimeout bounds one Fetch, FetchBatch or ListNames call as a whole, all
// regions and retries included (default 10 s). The caller's context can end
// it sooner. d must be positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("awssm: timeout must be positive, got %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithBackoff sets the SDK retryer's exponential backoff with full jitter:
// base for the first retry of a non-throttling error (the SDK always starts
// throttling retries at 1 s), doubling per retry, each delay capped at max
// (defaults 50 ms and 2 s). base must be positive and max at least base.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) error {
		if base <= 0 {
			return fmt.Errorf("awssm: backoff base must be positive, got %v", base)
		}
		if max < base {
			return fmt.Errorf("awssm: backoff max %v is below base %v", max, base)
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithAdaptiveRetry uses the SDK's adaptive retry mode: the standard retries
// plus client-side rate limiting that slows down after throttling errors.
// Each region has its own rate limiter.
func WithAdaptiveRetry() Option {
	return func(c *config) error { c.adaptive = true; return nil }
}

// WithBreaker sets the circuit breaker of every region: it opens after
// failures consecutive transient failures (throttling, 5xx, timeouts, network
// errors; each a failed call after the SDK's retries) and stays open for
// openFor, then lets one probe through (half-open), which closes it on
// success. Defaults: 5 and 30 s. failures must be at least 1 and openFor
// positive.
func WithBreaker(failures int, openFor time.Duration) Option {
	return func(c *config) error {
		if failures < 1 {
			return fmt.Errorf("awssm: breaker failure threshold must be at least 1, got %d", failures)
		}
		if openFor <= 0 {
			return fmt.Errorf("awssm: breaker open period must be positive, got %v", openFor)
		}
		c.breakerFails, c.breakerOpenFor = failures, openFor
		return nil
	}
}

// WithCallObserver registers fn, called after every AWS API call the source
// makes (retries included in the call): op is the operation name
// ("GetSecretValue", "BatchGetSecretValue", "ListSecrets"), region the
// region called, d the time it took and err nil on success or a
// *secretcache.Error of the mapped kind. An answer refused as malformed (see
// AnswerError) is a failure of kind secretcache.ErrMismatch; so is a
// BatchGetSecretValue page with a refused entry, although its other entries
// are served. It runs on the calling goroutine and must be quick. Several
// observers run in the order given; a nil fn makes New fail.
func WithCallObserver(fn func(op, region string, d time.Duration, err error)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("awssm: nil call observer")
		}
		c.observers = append(c.observers, fn)
		return nil
	}
}

// WithLogger sets the logger for breaker changes and fallbacks (default
// slog.Default()). It never receives secret values.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("awssm: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithTracerProvider sets the AWS SDK's own tracing hook
// (secretsmanager.Options.TracerProvider) on the client of every region:
// the SDK then makes a span of each call, its attempts and its signing.
// Package tracing gives one on OpenTelemetry (tracing.AWS). A nil tp makes
// New fail.
func WithTracerProvider(tp tracing.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("awssm: nil tracer provider")
		}
		c.tracerProvider = tp
		return nil
	}
}

// WithoutBatch makes FetchBatch use one GetSecretValue per ref instead of
// BatchGetSecretValue, for principals that may not call it.
func WithoutBatch() Option {
	return func(c *config) error { c.noBatch = true; return nil }
}

// checkRegion applies the one region rule, awsname.CheckRegion, with the
// error New has always given: one "awssm: " prefix and the name quoted.
func checkRegion(r string) error {
	if awsname.CheckRegion(r) != nil {
		return fmt.Errorf("awssm: invalid region name %q", clip.String(r, 40))
	}
	return nil
}
