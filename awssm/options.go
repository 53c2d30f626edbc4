package awssm

import (
	"errors"
	"log/slog"
	"time"

	"github.com/aws/smithy-go/tracing"

	"github.com/secretcache/secretcache/internal/awsfail"
)

// Defaults.
const (
	DefaultMaxAttempts    = awsfail.DefaultMaxAttempts    // per region, first attempt included
	DefaultAttemptTimeout = awsfail.DefaultAttemptTimeout // one HTTP attempt
	DefaultTimeout        = awsfail.DefaultTimeout        // one Fetch, FetchBatch or ListNames, all regions and retries
	DefaultBackoffBase    = awsfail.DefaultBackoffBase
	DefaultBackoffMax     = awsfail.DefaultBackoffMax
	DefaultBreakerFails   = awsfail.DefaultBreakerFails   // consecutive transient failures that open a region's breaker
	DefaultBreakerOpenFor = awsfail.DefaultBreakerOpenFor // how long an open breaker skips its region before a probe
)

// Limits on option values.
const (
	MaxRegions     = awsfail.MaxRegions     // regions in the failover list
	MaxAttemptsCap = awsfail.MaxAttemptsCap // the most attempts WithMaxAttempts accepts
)

// Option configures a Source in New. An option given a bad value makes New
// return an error; options never panic.
type Option func(*config) error

// config is the settings every AWS source shares (awsfail.Settings, which
// checks them) and Secrets Manager's own.
type config struct {
	awsfail.Settings
	noBatch        bool
	tracerProvider tracing.TracerProvider
}

func defaultConfig() config { return config{Settings: awsfail.DefaultSettings("awssm")} }

// WithRegions sets the ordered failover list: the primary region first, then
// the replica regions, tried in the order given. Without it the source uses
// the aws.Config's Region alone. Region names must be 1 to 32 lowercase
// letters, digits and inner hyphens ("us-east-1"); an empty, malformed or
// repeated name, or more than MaxRegions in all, makes New fail.
func WithRegions(primary string, replicas ...string) Option {
	return func(c *config) error { return c.SetRegions(primary, replicas) }
}

// WithRegionEndpoint sends the calls for one region to url instead of the
// endpoint the aws.Config resolves (tests point each region at its own fake
// server; VPC endpoints work the same way). url must be an absolute http or
// https URL with a host and no user info, query or fragment; the region must
// be in the failover list, or New fails.
func WithRegionEndpoint(region, endpoint string) Option {
	return func(c *config) error { return c.SetEndpoint(region, endpoint) }
}

// WithMaxAttempts sets how many attempts the SDK's retryer makes in one
// region before the source fails over to the next (default 3; 1 means no
// retries). n must be 1 to MaxAttemptsCap.
func WithMaxAttempts(n int) Option {
	return func(c *config) error { return c.SetMaxAttempts(n) }
}

// WithAttemptTimeout bounds each HTTP attempt (default 2 s). An attempt that
// times out is retried like a network error. d must be positive.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetAttemptTimeout(d) }
}

// WithTimeout bounds one Fetch, FetchBatch or ListNames call as a whole, all
// regions and retries included (default 10 s). The caller's context can end
// it sooner. d must be positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetTimeout(d) }
}

// WithBackoff sets the SDK retryer's exponential backoff with full jitter:
// base for the first retry of a non-throttling error (the SDK always starts
// throttling retries at 1 s), doubling per retry, each delay capped at max
// (defaults 50 ms and 2 s). base must be positive and max at least base.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) error { return c.SetBackoff(base, max) }
}

// WithAdaptiveRetry uses the SDK's adaptive retry mode: the standard retries
// plus client-side rate limiting that slows down after throttling errors.
// Each region has its own rate limiter.
func WithAdaptiveRetry() Option {
	return func(c *config) error { c.Adaptive = true; return nil }
}

// WithBreaker sets the circuit breaker of every region: it opens after
// failures consecutive transient failures (throttling, 5xx, timeouts, network
// errors; each a failed call after the SDK's retries) and stays open for
// openFor, then lets one probe through (half-open), which closes it on
// success. Defaults: 5 and 30 s. failures must be at least 1 and openFor
// positive.
func WithBreaker(failures int, openFor time.Duration) Option {
	return func(c *config) error { return c.SetBreaker(failures, openFor) }
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
	return func(c *config) error { return c.AddObserver(fn) }
}

// WithLogger sets the logger for breaker changes and fallbacks (default
// slog.Default()). It never receives secret values.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { return c.SetLogger(l) }
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
