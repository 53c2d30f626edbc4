package ssmparam

import (
	"log/slog"
	"time"

	"github.com/aws/smithy-go/tracing"

	"github.com/secretcache/secretcache/internal/awsfail"
)

// Defaults, the same as awssm's.
const (
	DefaultMaxAttempts    = awsfail.DefaultMaxAttempts    // per region, first attempt included
	DefaultAttemptTimeout = awsfail.DefaultAttemptTimeout // one HTTP attempt
	DefaultTimeout        = awsfail.DefaultTimeout        // one Fetch, FetchBatch or ListNames, all regions and retries
	DefaultBackoffBase    = awsfail.DefaultBackoffBase
	DefaultBackoffMax     = awsfail.DefaultBackoffMax
	DefaultBreakerFails   = awsfail.DefaultBreakerFails   // consecutive transient failures that open a region's breaker
	DefaultBreakerOpenFor = awsfail.DefaultBreakerOpenFor // how long an open breaker skips its region before a probe
)

// Option configures a Source in New. An option given a bad value makes New
// return an error; options never panic.
type Option func(*config) error

// config is the settings every AWS source shares (awsfail.Settings, which
// checks them) and Parameter Store's own.
type config struct {
	awsfail.Settings
	noDecryption   bool
	tracerProvider tracing.TracerProvider
}

func defaultConfig() config {
	c := config{Settings: awsfail.DefaultSettings("ssmparam")}
	c.Independent = true // Parameter Store does not replicate
	return c
}

// WithRegions sets the ordered failover list: the primary region first, then
// the others, tried in the order given (Parameter Store does not replicate:
// use it only when you keep the same parameters in each). While the primary
// fails, another region's answer is served, but its "not found" or "access
// denied" is a transient failure, not the truth about the parameter: a
// cached value is kept (within max stale), never dropped. Without it the source uses the
// aws.Config's Region alone. An empty, malformed or repeated name, or more
// than 16 in all, makes New fail.
func WithRegions(primary string, others ...string) Option {
	return func(c *config) error { return c.SetRegions(primary, others) }
}

// WithRegionEndpoint sends the calls for one region to endpoint instead of
// the one the aws.Config resolves (a test's fake, a VPC endpoint): an
// absolute http or https URL with a host and no user info, query or
// fragment, for a region of the failover list, or New fails.
func WithRegionEndpoint(region, endpoint string) Option {
	return func(c *config) error { return c.SetEndpoint(region, endpoint) }
}

// WithMaxAttempts sets how many attempts the SDK's retryer makes in one
// region before the source fails over (default 3); n must be 1 to 10.
func WithMaxAttempts(n int) Option { return func(c *config) error { return c.SetMaxAttempts(n) } }

// WithAttemptTimeout bounds each HTTP attempt (default 2 s); d must be positive.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetAttemptTimeout(d) }
}

// WithTimeout bounds one Fetch, FetchBatch or ListNames as a whole, all
// regions and retries included (default 10 s); d must be positive.
func WithTimeout(d time.Duration) Option { return func(c *config) error { return c.SetTimeout(d) } }

// WithBackoff sets the SDK retryer's exponential backoff with full jitter
// (defaults 50 ms and 2 s; throttling retries start at 1 s, as the SDK
// does). base must be positive and max at least base.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) error { return c.SetBackoff(base, max) }
}

// WithAdaptiveRetry uses the SDK's adaptive retry mode (client-side rate
// limiting after throttling), one limiter per region.
func WithAdaptiveRetry() Option { return func(c *config) error { c.Adaptive = true; return nil } }

// WithBreaker sets the circuit breaker of every region: open after failures
// consecutive transient failures, for openFor, then one probe (defaults 5
// and 30 s). failures must be at least 1 and openFor positive.
func WithBreaker(failures int, openFor time.Duration) Option {
	return func(c *config) error { return c.SetBreaker(failures, openFor) }
}

// WithCallObserver registers fn, called after every AWS API call the source
// makes (retries included in the call): op is "GetParameter",
// "GetParameters" or "GetParametersByPath" (one call per page), region the
// region called, d the time it took, err nil or a *secretcache.Error of the
// mapped kind. It runs on the calling goroutine and must be quick; a nil fn
// makes New fail.
func WithCallObserver(fn func(op, region string, d time.Duration, err error)) Option {
	return func(c *config) error { return c.AddObserver(fn) }
}

// WithLogger sets the logger for breaker changes (default slog.Default()).
// It never receives parameter values. A nil l makes New fail.
func WithLogger(l *slog.Logger) Option { return func(c *config) error { return c.SetLogger(l) } }

// WithTracerProvider sets the AWS SDK's tracing hook on the client of every
// region (package tracing gives one on OpenTelemetry). A nil tp makes New fail.
func WithTracerProvider(tp tracing.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errNilTracer
		}
		c.tracerProvider = tp
		return nil
	}
}

// WithoutDecryption reads SecureString parameters without decryption
// (withDecryption=false): their Value is then the ciphertext, and the
// caller needs no kms:Decrypt. /aws/reference/secretsmanager names always
// need decryption: they fail with secretcache.ErrInvalidRequest.
func WithoutDecryption() Option { return func(c *config) error { c.noDecryption = true; return nil } }
