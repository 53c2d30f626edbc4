package awsfail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// Defaults of Settings (awssm and ssmparam export them as their own).
const (
	DefaultMaxAttempts    = 3                // per region, first attempt included
	DefaultAttemptTimeout = 2 * time.Second  // one HTTP attempt
	DefaultTimeout        = 10 * time.Second // one call of the source, all regions and retries
	DefaultBackoffBase    = 50 * time.Millisecond
	DefaultBackoffMax     = 2 * time.Second
	DefaultBreakerFails   = 5                // consecutive transient failures that open a region's breaker
	DefaultBreakerOpenFor = 30 * time.Second // how long an open breaker skips its region before a probe
	MaxRegions            = 16               // regions in the failover list
	MaxAttemptsCap        = 10               // the most attempts SetMaxAttempts accepts
)

// Settings are the options every AWS source of the module shares: the
// regions, their endpoints, the retryer, the timeouts, the breakers, the
// call observers and the logger. Each setter checks its value and returns
// an error prefixed with Service, never panics.
type Settings struct {
	Service        string // error and log prefix: "awssm", "ssmparam"
	Independent    bool   // the regions hold separate data (Config.Independent)
	Primary        string
	Replicas       []string
	RegionsSet     bool
	Endpoints      map[string]string
	MaxAttempts    int
	AttemptTimeout time.Duration
	Timeout        time.Duration
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	Adaptive       bool
	BreakerFails   int
	BreakerOpenFor time.Duration
	Observers      []func(op, region string, d time.Duration, err error)
	Logger         *slog.Logger
}

// DefaultSettings returns the defaults for service.
func DefaultSettings(service string) Settings {
	return Settings{
		Service:        service,
		Endpoints:      map[string]string{},
		MaxAttempts:    DefaultMaxAttempts,
		AttemptTimeout: DefaultAttemptTimeout,
		Timeout:        DefaultTimeout,
		BackoffBase:    DefaultBackoffBase,
		BackoffMax:     DefaultBackoffMax,
		BreakerFails:   DefaultBreakerFails,
		BreakerOpenFor: DefaultBreakerOpenFor,
	}
}

// SetRegions sets the ordered failover list (see awssm.WithRegions).
func (c *Settings) SetRegions(primary string, replicas []string) error {
	all := append([]string{primary}, replicas...)
	if len(all) > MaxRegions {
		return fmt.Errorf("%s: %d regions given, at most %d allowed", c.Service, len(all), MaxRegions)
	}
	seen := map[string]bool{}
	for _, r := range all {
		if err := c.CheckRegion(r); err != nil {
			return err
		}
		if seen[r] {
			return fmt.Errorf("%s: region %q listed twice", c.Service, r)
		}
		seen[r] = true
	}
	c.Primary, c.Replicas, c.RegionsSet = primary, append([]string(nil), replicas...), true
	return nil
}

// SetEndpoint sends the calls for region to endpoint, an absolute http or
// https URL with a host and no user info, query or fragment.
func (c *Settings) SetEndpoint(region, endpoint string) error {
	if err := c.CheckRegion(region); err != nil {
		return err
	}
	if len(endpoint) > 2048 {
		return fmt.Errorf("%s: endpoint URL is over 2048 bytes", c.Service)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%s: endpoint for region %q: %w", c.Service, region, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: endpoint for region %q must be an http(s) URL with a host and no user info, query or fragment", c.Service, region)
	}
	c.Endpoints[region] = endpoint
	return nil
}

// SetMaxAttempts sets the SDK retryer's attempts per region, 1 to MaxAttemptsCap.
func (c *Settings) SetMaxAttempts(n int) error {
	if n < 1 || n > MaxAttemptsCap {
		return fmt.Errorf("%s: max attempts must be 1..%d, got %d", c.Service, MaxAttemptsCap, n)
	}
	c.MaxAttempts = n
	return nil
}

// SetAttemptTimeout bounds each HTTP attempt; d must be positive.
func (c *Settings) SetAttemptTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: attempt timeout must be positive, got %v", c.Service, d)
	}
	c.AttemptTimeout = d
	return nil
}

// SetTimeout bounds one call of the source as a whole; d must be positive.
func (c *Settings) SetTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: timeout must be positive, got %v", c.Service, d)
	}
	c.Timeout = d
	return nil
}

// SetBackoff sets the retryer's backoff; base positive, max at least base.
func (c *Settings) SetBackoff(base, max time.Duration) error {
	if base <= 0 {
		return fmt.Errorf("%s: backoff base must be positive, got %v", c.Service, base)
	}
	if max < base {
		return fmt.Errorf("%s: backoff max %v is below base %v", c.Service, max, base)
	}
	c.BackoffBase, c.BackoffMax = base, max
	return nil
}

// SetBreaker sets every region's breaker; failures at least 1, openFor positive.
func (c *Settings) SetBreaker(failures int, openFor time.Duration) error {
	if failures < 1 {
		return fmt.Errorf("%s: breaker failure threshold must be at least 1, got %d", c.Service, failures)
	}
	if openFor <= 0 {
		return fmt.Errorf("%s: breaker open period must be positive, got %v", c.Service, openFor)
	}
	c.BreakerFails, c.BreakerOpenFor = failures, openFor
	return nil
}

// AddObserver adds a call observer; nil is refused.
func (c *Settings) AddObserver(fn func(op, region string, d time.Duration, err error)) error {
	if fn == nil {
		return fmt.Errorf("%s: nil call observer", c.Service)
	}
	c.Observers = append(c.Observers, fn)
	return nil
}

// SetLogger sets the logger; nil is refused.
func (c *Settings) SetLogger(l *slog.Logger) error {
	if l == nil {
		return fmt.Errorf("%s: nil logger", c.Service)
	}
	c.Logger = l
	return nil
}

// CheckRegion applies the one region rule, awsname.CheckRegion, with one
// Service prefix and the name quoted.
func (c *Settings) CheckRegion(r string) error {
	if awsname.CheckRegion(r) != nil {
		return fmt.Errorf("%s: invalid region name %q", c.Service, clip.String(r, 40))
	}
	return nil
}

// Resolve finishes the settings for a source built on cfg: the failover list
// (cfg.Region alone without SetRegions), every endpoint's region in it, the
// logger (slog.Default() if none), and a warning when one region that does
// not answer can use up the whole timeout.
func (c *Settings) Resolve(cfg aws.Config) ([]string, error) {
	if !c.RegionsSet {
		if cfg.Region == "" {
			return nil, fmt.Errorf("%s: no region: set aws.Config.Region or use WithRegions", c.Service)
		}
		if err := c.CheckRegion(cfg.Region); err != nil {
			return nil, err
		}
		c.Primary = cfg.Region
	}
	names := append([]string{c.Primary}, c.Replicas...)
	for r := range c.Endpoints {
		if !slices.Contains(names, r) {
			return nil, fmt.Errorf("%s: endpoint given for region %q, which is not in the region list %q", c.Service, r, names)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if worst := time.Duration(c.MaxAttempts) * c.AttemptTimeout; len(names) > 1 && worst >= c.Timeout {
		c.Logger.Warn(c.Service+": a region that does not answer can use up the whole timeout before failover; "+
			"lower the attempts or the attempt timeout, or raise the timeout",
			"max_attempts", c.MaxAttempts, "attempt_timeout", c.AttemptTimeout, "timeout", c.Timeout)
	}
	return names, nil
}

// Endpoint is the endpoint set for region, or nil.
func (c *Settings) Endpoint(region string) *string {
	if ep, ok := c.Endpoints[region]; ok {
		return aws.String(ep)
	}
	return nil
}

// Retryer returns a new retryer of the settings (one per region).
func (c *Settings) Retryer() aws.Retryer {
	return NewRetryer(c.MaxAttempts, c.BackoffBase, c.BackoffMax, c.Adaptive)
}

// Config returns the Set's Config of the settings, with classify.
func (c *Settings) Config(classify func(parent context.Context, err error) Class) Config {
	return Config{Service: c.Service, BreakerFails: c.BreakerFails, BreakerOpenFor: c.BreakerOpenFor,
		Timeout: c.Timeout, Logger: c.Logger, Classify: classify, Independent: c.Independent}
}

// Observe reports one API call of region to the observers: op, the time
// since start, and nil or the call's error as a *secretcache.Error of its
// kind (by classify when it is not one already).
func (c *Settings) Observe(ctx context.Context, op, region string, start time.Time, err error,
	classify func(parent context.Context, err error) Class) {
	if len(c.Observers) == 0 {
		return
	}
	d := time.Since(start)
	var kerr error
	if err != nil {
		var se *secretcache.Error
		if !errors.As(err, &se) || se.Kind == nil {
			se = &secretcache.Error{Op: "fetch", Kind: classify(ctx, err).Kind, Err: err}
		}
		kerr = se
	}
	for _, fn := range c.Observers {
		fn(op, region, d, kerr)
	}
}
