package agent

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// MaxConfigBytes caps the size of a configuration file.
const MaxConfigBytes = 1 << 20

// defaultLogFile is where log_to_file writes, relative to the working
// directory: the AWS agent's path.
const defaultLogFile = "logs/secrets_manager_agent.log"

// TTLPolicy gives the secrets whose name matches Pattern their own TTL. See
// secretcache.WithPolicy for the pattern syntax.
type TTLPolicy struct {
	Pattern    string `toml:"pattern" json:"pattern"`
	TTLSeconds int    `toml:"ttl_seconds" json:"ttl_seconds"`
}

// Config is the agent's configuration. Start from DefaultConfig, then apply
// a TOML file (LoadFile or Parse), the Lambda extension's environment
// variables (ApplyLambdaEnv), then single settings (Set), and call Validate.
// Every setting has a TOML key; the configuration table in README.md lists them.
type Config struct {
	// Keys of the AWS Secrets Manager Agent.
	LogLevel              string   `toml:"log_level"`               // debug, info, warn, error or none
	HTTPAddress           string   `toml:"http_address"`            // listen address (IPv4 or IPv6)
	HTTPPort              int      `toml:"http_port"`               // 0 picks a free port
	TTLSeconds            int      `toml:"ttl_seconds"`             // 0 turns caching off
	CacheSize             int      `toml:"cache_size"`              // max cached secret versions
	MaxConn               int      `toml:"max_conn"`                // max client requests in progress
	Region                string   `toml:"region"`                  // AWS region ("" = SDK default)
	PathPrefix            string   `toml:"path_prefix"`             // prefix of path-style requests
	SSRFHeaders           []string `toml:"ssrf_headers"`            // headers that may carry the token
	SSRFEnvVariables      []string `toml:"ssrf_env_variables"`      // where the token comes from
	IgnoreTransientErrors bool     `toml:"ignore_transient_errors"` // serve stale values on transient errors
	LogToFile             bool     `toml:"log_to_file"`             // log to LogFile (rotated) instead of stderr
	ValidateCredentials   bool     `toml:"validate_credentials"`    // resolve AWS credentials at start
	CredentialsFilePath   string   `toml:"credentials_file_path"`   // AWS shared credentials file, re-read on change

	// Keys of secretcache.
	ListenAddr            string      `toml:"listen_addr"`             // host:port, overrides http_address and http_port
	AdminAddr             string      `toml:"admin_addr"`              // admin listener host:port; "off" disables it
	Regions               []string    `toml:"regions"`                 // primary region first, then failover replicas
	RefreshAhead          float64     `toml:"refresh_ahead"`           // fraction of the TTL refreshed ahead, [0, 1)
	MaxStaleSeconds       int         `toml:"max_stale_seconds"`       // how long past TTL a value may be served
	TTLPolicies           []TTLPolicy `toml:"ttl_policies"`            // per-pattern TTLs
	Prefetch              []string    `toml:"prefetch"`                // secret ids fetched at start
	PrefetchPrefix        []string    `toml:"prefetch_prefix"`         // name prefixes fetched at start
	PrefetchJitterSeconds float64     `toml:"prefetch_jitter_seconds"` // random delay before prefetch
	CacheEnabled          bool        `toml:"cache_enabled"`           // false: every request reads AWS
	FetchTimeoutMS        int         `toml:"fetch_timeout_ms"`        // bound of one backend call
	RequestTimeoutSeconds int         `toml:"request_timeout_seconds"` // bound of one client request
	ShutdownSeconds       int         `toml:"shutdown_timeout_seconds"`
	MaxBackendConns       int         `toml:"max_backend_connections"` // 0 = unlimited
	LogFormat             string      `toml:"log_format"`              // text or json
	AuditLog              bool        `toml:"audit_log"`               // one log record per secret read (never values)
	LogFile               string      `toml:"log_file"`                // where log_to_file writes
	AllowedHosts          []string    `toml:"allowed_hosts"`           // Host names answered besides loopback (DNS rebinding check)

	// Tables of secretcache (fleet.go).
	Fleet              FleetConfig  `toml:"fleet"`                // [fleet]: shared Redis L2
	Events             EventsConfig `toml:"events"`               // [events]: SQS change events
	Tracing            bool         `toml:"tracing"`              // OpenTelemetry spans over OTLP/HTTP (also OTEL_TRACES_EXPORTER=otlp)
	TracingSecretNames bool         `toml:"tracing_secret_names"` // secret ids in span attributes (never values)

	Parameters ParametersConfig `toml:"parameters"` // [parameters]: the Parameter Store endpoint (parameters.go)
	Templates  []TemplateConfig `toml:"template"`   // [[template]]: files rendered from secrets (templates.go)
}

// DefaultConfig returns the defaults, the one home of each: the AWS agent's
// for its keys. The token headers are checked in their order; of the token
// variables the first one set wins.
func DefaultConfig() Config {
	return Config{
		LogLevel: "info", HTTPAddress: "127.0.0.1", HTTPPort: 2773,
		TTLSeconds: 300, CacheSize: 1000, MaxConn: 800,
		PathPrefix:            "/v1/",
		SSRFHeaders:           []string{"X-Aws-Parameters-Secrets-Token", "X-Vault-Token"},
		SSRFEnvVariables:      []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"},
		IgnoreTransientErrors: true, LogToFile: false, ValidateCredentials: true,
		AdminAddr: "127.0.0.1:2774", RefreshAhead: secretcache.DefaultRefreshAhead,
		MaxStaleSeconds: 900, PrefetchJitterSeconds: 1,
		CacheEnabled: true, FetchTimeoutMS: 10000,
		RequestTimeoutSeconds: 61, ShutdownSeconds: 10,
		LogFormat: "text", LogFile: defaultLogFile,
		Parameters: defaultParameters(),
	}
}

// ConfigError is a bad configuration value. Its message names the key (or
// the flag or environment variable that set it, and the file it came from)
// and what it accepts, once:
//
//	agent.toml: ttl_seconds = 4000: must be an integer from 0 to 3600
//	--ttl 5000 (ttl_seconds): must be an integer from 0 to 3600
//	SECRETS_MANAGER_TTL=301 (ttl_seconds): must be an integer from 0 to 300
type ConfigError struct {
	Key     string // the TOML key, or the flag (--ttl) or environment variable that set it
	Setting string // the TOML key, when Key is a flag or variable ("" otherwise)
	Value   string // the offending value as shown: quoted for TOML strings, shortened ("" if none)
	Allowed string // what the key accepts
	File    string // the configuration file the value came from ("" if none)
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	b.WriteString(e.Key)
	if e.Value != "" {
		switch {
		case strings.HasPrefix(e.Key, "-"):
			b.WriteString(" ")
		case isEnvName(e.Key):
			b.WriteString("=")
		default:
			b.WriteString(" = ")
		}
		b.WriteString(e.Value)
	}
	if e.Setting != "" && e.Setting != e.Key {
		b.WriteString(" (" + e.Setting + ")")
	}
	b.WriteString(": ")
	b.WriteString(e.Allowed)
	return b.String()
}

// isEnvName reports whether s looks like an environment variable name
// (upper case, digits, underscores), as opposed to a TOML key.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// badValue builds the error for value v of key name. A text value given
// through a flag or variable is shown as written (quoted only when it is
// empty or has spaces or special characters); a TOML string is quoted.
func badValue(name string, v any, allowed string) *ConfigError {
	var s string
	switch x := v.(type) {
	case string:
		s = strconv.Quote(clip.String(x, 64))
		if (strings.HasPrefix(name, "-") || isEnvName(name)) && x != "" && !strings.ContainsFunc(x, func(r rune) bool {
			return r <= ' ' || r == '"' || r == '\\' || r == 0x7f || r == utf8.RuneError
		}) {
			s = clip.String(x, 64)
		}
	default:
		s = clip.String(fmt.Sprint(v), 64)
	}
	return &ConfigError{Key: name, Value: s, Allowed: allowed}
}

// withSetting names the TOML key in a *ConfigError about a variable.
func withSetting(err error, key string) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.Setting = key
	}
	return err
}

// withPort replaces the port of a host:port address.
func withPort(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// SetPort sets the API port, keeping the host of listen_addr if it is set.
// A port outside 0-65535 is a *ConfigError and changes nothing.
func (c *Config) SetPort(port int) error {
	next := *c
	next.HTTPPort = port
	if err := next.checkKey("http_port"); err != nil {
		return err
	}
	c.HTTPPort = port
	if c.ListenAddr != "" {
		c.ListenAddr = withPort(c.ListenAddr, port)
	}
	return nil
}

// Addr returns the API listen address: listen_addr, or http_address and
// http_port.
func (c *Config) Addr() string {
	if c.ListenAddr != "" {
		return c.ListenAddr
	}
	return net.JoinHostPort(c.HTTPAddress, strconv.Itoa(c.HTTPPort))
}

// AdminEnabled reports whether the admin listener is on.
func (c *Config) AdminEnabled() bool {
	return c.AdminAddr != "" && !strings.EqualFold(c.AdminAddr, "off")
}

// PrimaryRegion returns the region reads go to first ("" = the SDK's
// default region).
func (c *Config) PrimaryRegion() string {
	if len(c.Regions) > 0 {
		return c.Regions[0]
	}
	return c.Region
}

// Caching reports whether values are served from cache: cache_enabled and a
// positive ttl_seconds.
func (c *Config) Caching() bool { return c.CacheEnabled && c.TTLSeconds > 0 }

// TTL is ttl_seconds as a duration.
func (c *Config) TTL() time.Duration { return time.Duration(c.TTLSeconds) * time.Second }

// Validate checks the settings that depend on each other and the ones a
// single key cannot check: addresses, the path prefix, header names, region
// names. It returns a *ConfigError naming the key.
func (c *Config) Validate() error {
	if _, err := c.Check(); err != nil {
		return err
	}
	return nil
}

// Check is Validate that also returns warnings about accepted settings that
// have no effect.
func (c *Config) Check() (warnings []string, err error) {
	for _, check := range []func() error{c.checkAPI, c.checkAddrs, c.checkRegions, c.checkValues, c.checkParameters, c.checkTemplates} {
		if err := check(); err != nil {
			return nil, err
		}
	}
	if !c.LogToFile && c.LogFile != defaultLogFile && c.LogFile != "" {
		warnings = append(warnings, "log_file has no effect without log_to_file = true; logs go to stderr")
	}
	if !c.Caching() && (len(c.Prefetch) > 0 || len(c.PrefetchPrefix) > 0) {
		warnings = append(warnings, "prefetch has no effect with caching off (ttl_seconds = 0 or cache_enabled = false)")
	}
	return warnings, nil
}

// checkAPI checks what the API's requests are matched against: the path
// prefix, the token headers and the token's variables.
func (c *Config) checkAPI() error {
	if !strings.HasPrefix(c.PathPrefix, "/") {
		return badValue("path_prefix", c.PathPrefix, "must begin with /")
	}
	if ok, allowed := checkPrefix(c.PathPrefix); !ok || strings.ContainsAny(c.PathPrefix, "?#% \t") {
		return badValue("path_prefix", c.PathPrefix, allowed)
	}
	if len(c.SSRFHeaders) == 0 {
		return &ConfigError{Key: "ssrf_headers", Allowed: "the list of SSRF headers can't be empty"}
	}
	for _, h := range c.SSRFHeaders {
		if !validHeaderName(h) {
			return badValue("ssrf_headers", h, "must be HTTP header names")
		}
		if strings.EqualFold(h, "X-Forwarded-For") {
			return badValue("ssrf_headers", h, "X-Forwarded-For is always refused")
		}
	}
	if len(c.SSRFEnvVariables) == 0 {
		return &ConfigError{Key: "ssrf_env_variables", Allowed: "the list of SSRF environment variables can't be empty"}
	}
	for _, v := range c.SSRFEnvVariables {
		if !validEnvName(v) {
			return badValue("ssrf_env_variables", v, "must be environment variable names")
		}
	}
	return nil
}

// checkAddrs checks the listen addresses.
func (c *Config) checkAddrs() error {
	if c.HTTPAddress != "" && c.ListenAddr == "" && !validIPHost(c.HTTPAddress) {
		return badValue("http_address", c.HTTPAddress, "must be an IP address such as 127.0.0.1 or 0.0.0.0")
	}
	if c.ListenAddr != "" {
		if err := checkHostPort("listen_addr", c.ListenAddr); err != nil {
			return err
		}
	}
	if c.AdminEnabled() {
		return checkHostPort("admin_addr", c.AdminAddr)
	}
	return nil
}

// checkRegions checks region and regions, and that they agree.
func (c *Config) checkRegions() error {
	if c.Region != "" && !validRegion(c.Region) {
		return badValue("region", c.Region, regionRule)
	}
	for _, r := range c.Regions {
		if !validRegion(r) {
			return badValue("regions", r, regionRule)
		}
	}
	if c.Region != "" && len(c.Regions) > 0 && c.Regions[0] != c.Region {
		return &ConfigError{Key: "regions", Allowed: fmt.Sprintf("the first region %q conflicts with region = %q; set one of them", c.Regions[0], c.Region)}
	}
	return nil
}

// checkValues checks the numbers against their keys' ranges, the prefetch
// ids against the cache's rule, and the file paths.
func (c *Config) checkValues() error {
	for _, name := range []string{"refresh_ahead", "prefetch_jitter_seconds"} {
		if err := c.checkKey(name); err != nil {
			return err
		}
	}
	for _, id := range c.Prefetch {
		if secretcache.CheckID(id) != nil {
			return badValue("prefetch", id, fmt.Sprintf("must be secret names or ARNs: 1 to %d bytes of UTF-8 without spaces or control characters", secretcache.MaxIDLength))
		}
	}
	for _, name := range []string{"http_port", "ttl_seconds", "cache_size", "max_conn", "max_stale_seconds",
		"fetch_timeout_ms", "request_timeout_seconds", "shutdown_timeout_seconds", "max_backend_connections"} {
		if err := c.checkKey(name); err != nil {
			return err
		}
	}
	if !validPath(c.CredentialsFilePath) {
		return badValue("credentials_file_path", c.CredentialsFilePath, pathRule)
	}
	if c.LogToFile && (c.LogFile == "" || !validPath(c.LogFile)) {
		return badValue("log_file", c.LogFile, pathRule+" (log_to_file = true writes there)")
	}
	return nil
}

// checkKey tests the value of a number key against its range (see rule).
func (c *Config) checkKey(name string) error {
	k, _ := findKey(name)
	return k.check(c, name)
}

// ListenWarnings returns a warning for each listener of c that binds beyond
// loopback (see listenWarnings). Listening at start logs the same ones for
// the addresses actually bound.
func (c *Config) ListenWarnings() []string {
	admin := ""
	if c.AdminEnabled() {
		admin = c.AdminAddr
	}
	return listenWarnings(c.Addr(), admin)
}

// listenWarnings returns the warnings for an API listener on api and an
// admin listener on admin ("" for none) that bind beyond loopback.
func listenWarnings(api, admin string) []string {
	var out []string
	if !isLoopback(api) {
		out = append(out, "the API listens beyond loopback ("+api+"); every client that can reach it and knows the token can read secrets")
	}
	if admin != "" && !isLoopback(admin) {
		out = append(out, "the admin listener listens beyond loopback ("+admin+"); every client that can reach it sees secret names, versions and metrics, with no token (admin_addr)")
	}
	return out
}

func checkHostPort(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return badValue(name, addr, "must be host:port, such as 127.0.0.1:2774")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return badValue(name, addr, "port must be an integer from 0 to 65535")
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return badValue(name, addr, "host must be an IP address or localhost")
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" || len(h) > 128 {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !(b == '-' || b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
			return false
		}
	}
	return true
}

// validRegion is awsname's region rule, the one awssm.New applies, so that
// a configuration the agent accepts never fails when the source is built.
func validRegion(r string) bool { return awsname.CheckRegion(r) == nil }

// isLoopback reports whether addr (host:port, or a bare host) binds only
// the loopback interface. A malformed address, an empty host (all
// interfaces) or a host name other than localhost is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validPath reports whether s can name a file: "" (unset), or up to 4096
// bytes without control characters.
func validPath(s string) bool {
	return len(s) <= 4096 && !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

func validIPHost(s string) bool {
	return s == "localhost" || net.ParseIP(strings.Trim(s, "[]")) != nil
}

func validEnvName(s string) bool {
	return s != "" && len(s) <= 256 && !strings.ContainsAny(s, "= \t\n\x00")
}

func validSSRFHeader(h string) bool {
	return validHeaderName(h) && !strings.EqualFold(h, "X-Forwarded-For")
}

const (
	hostPortRule = "must be host:port with an IP address or localhost, such as 127.0.0.1:2773 or 0.0.0.0:2773"
	pathRule     = "must be a file path of at most 4096 bytes without control characters"
)

// regionChars says what awsname.CheckRegion accepts, for the messages of
// region and regions.
var (
	regionChars = fmt.Sprintf("1 to %d lowercase letters, digits and single hyphens", awsname.MaxRegionLength)
	regionRule  = "must be an AWS region name such as us-east-1: " + regionChars
)

func validAllowedHost(s string) bool { _, err := canonicalHostName(s); return err == nil }
