package rotate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/secretcache/secretcache"
)

// The defaults, as the options' docs state them.
const (
	defaultDrain          = 30 * time.Second
	defaultBackoffBase    = time.Second
	defaultBackoffMax     = time.Minute
	defaultPollInterval   = 10 * time.Second
	defaultTimeout        = 30 * time.Second
	defaultFailureRefresh = time.Second
)

// Option configures a Rotating resource.
type Option func(*options) error

type options struct {
	drain          time.Duration
	backoffBase    time.Duration
	backoffMax     time.Duration
	poll           time.Duration
	timeout        time.Duration
	failureRefresh time.Duration
	logger         *slog.Logger
	name           string
	tracer         secretcache.Tracer
}

// newOptions applies opts over the defaults. It fails with
// secretcache.ErrInvalidRequest for a nil option (naming the secret id) and
// with an option's own error.
func newOptions(id string, opts []Option) (options, error) {
	o := options{drain: defaultDrain, backoffBase: defaultBackoffBase, backoffMax: defaultBackoffMax,
		poll: defaultPollInterval, timeout: defaultTimeout, failureRefresh: defaultFailureRefresh,
		logger: slog.Default()}
	for _, opt := range opts {
		if opt == nil {
			return o, invalidArg(id, "nil option")
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithDrain sets how long a replaced resource stays open for the work still
// using it before it is closed (default 30 s; 0 closes it at once). It fails
// for a negative duration.
func WithDrain(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("rotate: drain must not be negative, got %v", d)
		}
		o.drain = d
		return nil
	}
}

// WithBackoff sets the jittered exponential backoff between failed attempts
// to build and validate a new version (default 1 s doubling up to 1 min).
// It fails unless 0 < base <= max.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("rotate: backoff needs 0 < base <= max, got %v and %v", base, max)
		}
		o.backoffBase, o.backoffMax = base, max
		return nil
	}
}

// WithPollInterval sets how often the resource reads its secret from the
// cache (a cached read: no API call) so that the cache's refresh-ahead and
// change callbacks notice a new version even when nothing else reads the
// secret (default 10 s; 0 turns polling off). It fails for a negative
// duration.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("rotate: poll interval must not be negative, got %v", d)
		}
		o.poll = d
		return nil
	}
}

// WithTimeout bounds one Build plus Validate (default 30 s). It fails
// unless d > 0.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("rotate: timeout must be positive, got %v", d)
		}
		o.timeout = d
		return nil
	}
}

// WithFailureRefresh sets the least time between two secret refreshes
// caused by ReportFailure (default 1 s), so a burst of failed uses costs
// one API call. It fails for a negative duration.
func WithFailureRefresh(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("rotate: failure refresh interval must not be negative, got %v", d)
		}
		o.failureRefresh = d
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()). Logs name the
// resource, secret and versions, never values.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("rotate: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithTracer makes a span of each rotation (kind
// secretcache.TraceRotation: build, validate and swap for a new version),
// with the secret id and the new version, never a value. Package tracing
// implements the Tracer. It fails for a nil t.
func WithTracer(t secretcache.Tracer) Option {
	return func(o *options) error {
		if t == nil {
			return errors.New("rotate: nil tracer")
		}
		o.tracer = t
		return nil
	}
}

// withName sets the registry name.
func withName(name string) Option {
	return func(o *options) error { o.name = name; return nil }
}
