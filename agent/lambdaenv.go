package agent

import "strings"

// The AWS Parameters and Secrets Lambda Extension's environment variables.
const (
	envLambdaPort          = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
	envLambdaCacheEnabled  = "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED"
	envLambdaCacheSize     = "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE"
	envLambdaMaxConns      = "PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS"
	envLambdaLogLevel      = "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL"
	envLambdaTTL           = "SECRETS_MANAGER_TTL"
	envLambdaTimeoutMillis = "SECRETS_MANAGER_TIMEOUT_MILLIS"
	envLambdaSSMTTL        = "SSM_PARAMETER_STORE_TTL"
	envLambdaSSMTimeout    = "SSM_PARAMETER_STORE_TIMEOUT_MILLIS"
)

// lambdaVars are the extension's variables, in the order they apply, each
// with the TOML key it sets (for errors) and its own range: the
// extension's, narrower than the key's in places.
var lambdaVars = []struct {
	name, key string
	set       func(c *Config, name string, v any) error
}{
	{envLambdaPort, "http_port", func(c *Config, name string, v any) error {
		if err := intKey(func(c *Config) *int { return &c.HTTPPort }, 1, 65535).set(c, name, v); err != nil {
			return err
		}
		if c.ListenAddr != "" {
			c.ListenAddr = withPort(c.ListenAddr, c.HTTPPort)
		}
		return nil
	}},
	{envLambdaCacheEnabled, "cache_enabled", boolKey(func(c *Config) *bool { return &c.CacheEnabled }).set},
	{envLambdaCacheSize, "cache_size", func(c *Config, name string, v any) error {
		var size int
		if err := intKey(func(*Config) *int { return &size }, 0, 1000).set(c, name, v); err != nil {
			return err
		}
		if size == 0 { // the extension's way to turn caching off
			c.CacheEnabled = false
		} else {
			c.CacheSize = size
		}
		return nil
	}},
	{envLambdaMaxConns, "max_backend_connections", intKey(func(c *Config) *int { return &c.MaxBackendConns }, 1, 10000).set},
	{envLambdaLogLevel, "log_level", enumKey(func(c *Config) *string { return &c.LogLevel }, logLevels...).set},
	{envLambdaTTL, "ttl_seconds", intKey(func(c *Config) *int { return &c.TTLSeconds }, 0, 300).set},
	{envLambdaTimeoutMillis, "fetch_timeout_ms", func(c *Config, name string, v any) error {
		var ms int
		if err := intKey(func(*Config) *int { return &ms }, 0, 300000).set(c, name, v); err != nil {
			return err
		}
		if ms > 0 { // 0 keeps the default, as the extension does
			c.FetchTimeoutMS = ms
		}
		return nil
	}},
	{envLambdaSSMTTL, "parameters.ttl_seconds", intKey(func(c *Config) *int { return &c.Parameters.TTLSeconds }, 0, lambdaMaxParamTTL).set},
	{envLambdaSSMTimeout, "parameters.timeout_ms", intKey(func(c *Config) *int { return &c.Parameters.TimeoutMS }, 0, 300000).set},
}

// ignoredLambdaVars are the extension's variables the agent sees but does
// not apply (none since the Parameter Store endpoint, parameters.go).
var ignoredLambdaVars = []string{}

// ApplyLambdaEnv applies the AWS Parameters and Secrets Lambda Extension's
// environment variables, read through lookup (os.LookupEnv in production):
// the port (1-65535), cache enabled (true/false), cache size (0-1000, 0 turns
// caching off), max connections to AWS (>= 1), log level, Secrets Manager
// TTL (0-300 s, 0 turns caching off) and timeout (ms, 0 = default), and
// Parameter Store's TTL (SSM_PARAMETER_STORE_TTL, 0-300 s, parameters.ttl_seconds)
// and timeout (SSM_PARAMETER_STORE_TIMEOUT_MILLIS, ms, 0 = fetch_timeout_ms).
// A bad value returns a *ConfigError naming the variable and its allowed
// range. It returns the names of variables it saw but ignores, for the
// caller to log.
func (c *Config) ApplyLambdaEnv(lookup func(string) (string, bool)) (ignored []string, err error) {
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	next := *c
	for _, lv := range lambdaVars {
		if v, ok := get(lv.name); ok {
			if err := lv.set(&next, lv.name, v); err != nil {
				return nil, withSetting(err, lv.key)
			}
		}
	}
	for _, name := range ignoredLambdaVars {
		if _, ok := get(name); ok {
			ignored = append(ignored, name)
		}
	}
	*c = next
	return ignored, nil
}
