package agent

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/secretcache/secretcache"
)

// Option configures New.
type Option func(*options) error

type options struct {
	src       secretcache.Source
	awsCfg    *aws.Config
	logger    *slog.Logger
	token     string
	hasToken  bool
	lookupEnv func(string) (string, bool)
	cacheOpts []secretcache.Option
	hosts     []string
	tracing   Tracing
	paramAWS  *aws.Config // WithParameterAWSConfig (parameters.go)
}

// WithSource makes the agent read from src instead of AWS Secrets Manager
// (tests, other backends). The agent does not close it.
func WithSource(src secretcache.Source) Option {
	return func(o *options) error {
		if src == nil {
			return errors.New("agent: nil source")
		}
		o.src = src
		return nil
	}
}

// WithAWSConfig sets the AWS SDK configuration the Secrets Manager source
// is built from, instead of the SDK's default chain (environment, shared
// files, instance roles). The region settings of the Config still apply.
func WithAWSConfig(cfg aws.Config) Option {
	return func(o *options) error { o.awsCfg = &cfg; return nil }
}

// WithLogger sets the logger. Without it the agent logs as the
// configuration says (Config.OpenLogger): log_level, log_format, to stderr
// or with log_to_file to log_file.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("agent: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithToken sets the SSRF token instead of reading it from the environment
// variables of ssrf_env_variables. An empty token or one with control
// characters is refused.
func WithToken(token string) Option {
	return func(o *options) error {
		if err := checkToken(token); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		o.token, o.hasToken = token, true
		return nil
	}
}

// WithLookupEnv replaces os.LookupEnv for reading the token variables.
func WithLookupEnv(fn func(string) (string, bool)) Option {
	return func(o *options) error {
		if fn == nil {
			return errors.New("agent: nil lookup function")
		}
		o.lookupEnv = fn
		return nil
	}
}

// WithAllowedHosts adds host names (or IP addresses) that both listeners
// answer to, besides localhost, 127.0.0.0/8, [::1] and the address a
// connection was accepted on; any port goes with each. Requests naming any
// other Host get 421 Misdirected Request, against DNS rebinding (see
// "Security notes" in README.md). Names are compared without case and
// trailing dot. An empty name, one with a port or an IPv6 zone, a character
// outside letters, digits, '-', '_' and dots, an empty label, one over 63
// bytes or beginning or ending with '-', a name over 253 bytes, or more than
// MaxAllowedHosts names make New fail. Calls add up.
func WithAllowedHosts(names ...string) Option {
	return func(o *options) error {
		o.hosts = append(o.hosts, names...)
		if _, err := newHostPolicy(o.hosts); err != nil {
			return err
		}
		return nil
	}
}

// WithCacheOptions adds options to the cache the agent builds, after the
// ones the configuration implies (so they win). A nil or invalid option
// makes New fail with the cache's error.
func WithCacheOptions(opts ...secretcache.Option) Option {
	return func(o *options) error { o.cacheOpts = append(o.cacheOpts, opts...); return nil }
}
