package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Defaults, chosen to match the AWS Secrets Manager Agent where it has the
// same setting.
const (
	DefaultHTTPAddress    = "127.0.0.1"
	DefaultHTTPPort       = 2773
	DefaultAdminAddr      = "127.0.0.1:2774"
	DefaultTTLSeconds     = 300
	DefaultCacheSize      = 1000
	DefaultMaxConn        = 800
	DefaultPathPrefix     = "/v1/"
	DefaultMaxStale       = 900
	DefaultRequestTimeout = 61
	DefaultFetchTimeoutMS = 10000
	DefaultShutdown       = 10
	DefaultPrefetchJitter = 1.0

	// DefaultLogFile is where log_to_file writes, relative to the working
	// directory: the AWS agent's path.
	DefaultLogFile = "logs/secrets_manager_agent.log"
	// LogFileMaxMB and LogFileBackups are the log file's rotation, as the
	// AWS agent's: a new file at 10 MB, 5 old ones kept (gzipped).
	LogFileMaxMB   = 10
	LogFileBackups = 5

	// MaxConfigBytes caps the size of a configuration file.
	MaxConfigBytes = 1 << 20
)

// DefaultSSRFHeaders are the request headers that may carry the token, in
// the order they are checked.
var DefaultSSRFHeaders = []string{"X-Aws-Parameters-Secrets-Token", "X-Vault-Token"}

// DefaultSSRFEnvVariables are the environment variables the token is read
// from: the first one set wins; a value file:///path names a file holding it.
var DefaultSSRFEnvVariables = []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}

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
}

// DefaultConfig returns the defaults: the AWS agent's for its keys.
func DefaultConfig() Config {
	return Config{
		LogLevel: "info", HTTPAddress: DefaultHTTPAddress, HTTPPort: DefaultHTTPPort,
		TTLSeconds: DefaultTTLSeconds, CacheSize: DefaultCacheSize, MaxConn: DefaultMaxConn,
		PathPrefix:  DefaultPathPrefix,
		SSRFHeaders: slices.Clone(DefaultSSRFHeaders), SSRFEnvVariables: slices.Clone(DefaultSSRFEnvVariables),
		IgnoreTransientErrors: true, LogToFile: false, ValidateCredentials: true,
		AdminAddr: DefaultAdminAddr, RefreshAhead: secretcache.DefaultRefreshAhead,
		MaxStaleSeconds: DefaultMaxStale, PrefetchJitterSeconds: DefaultPrefetchJitter,
		CacheEnabled: true, FetchTimeoutMS: DefaultFetchTimeoutMS,
		RequestTimeoutSeconds: DefaultRequestTimeout, ShutdownSeconds: DefaultShutdown,
		LogFormat: "text", LogFile: DefaultLogFile,
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

// key describes one setting: how to store a decoded TOML value (a string,
// int64, float64, bool, or []any) into a Config.
type key struct {
	name string
	set  func(c *Config, name string, v any) error
}

func intKey(p func(*Config) *int, lo, hi int) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		allowed := fmt.Sprintf("must be an integer from %d to %d", lo, hi)
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return badValue(name, v, allowed)
			}
			n = int64(x)
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return badValue(name, v, allowed)
			}
			n = i
		default:
			return badValue(name, v, allowed)
		}
		if n < int64(lo) || n > int64(hi) {
			return badValue(name, v, allowed)
		}
		*p(c) = int(n)
		return nil
	}
}

func floatKey(p func(*Config) *float64, lo, hi float64, hiOpen bool) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		closing := "]"
		if hiOpen {
			closing = ")"
		}
		allowed := fmt.Sprintf("must be a number in [%g, %g%s", lo, hi, closing)
		var f float64
		switch x := v.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		case string:
			g, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return badValue(name, v, allowed)
			}
			f = g
		default:
			return badValue(name, v, allowed)
		}
		if math.IsNaN(f) || f < lo || f > hi || (hiOpen && f == hi) {
			return badValue(name, v, allowed)
		}
		*p(c) = f
		return nil
	}
}

func boolKey(p func(*Config) *bool) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		switch x := v.(type) {
		case bool:
			*p(c) = x
			return nil
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				*p(c) = b
				return nil
			}
		}
		return badValue(name, v, "must be true or false")
	}
}

func stringKey(p func(*Config) *string, maxLen int) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		s, ok := v.(string)
		if !ok || len(s) > maxLen {
			return badValue(name, v, fmt.Sprintf("must be a string of at most %d bytes", maxLen))
		}
		*p(c) = s
		return nil
	}
}

func enumKey(p func(*Config) *string, values ...string) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		s, ok := v.(string)
		if ok {
			for _, x := range values {
				if strings.EqualFold(s, x) {
					*p(c) = x
					return nil
				}
			}
		}
		return badValue(name, v, "must be one of "+strings.Join(values, ", "))
	}
}

// listItem says which items a list key accepts.
type listItem struct {
	ok   func(string) bool
	what string // "AWS region names such as us-east-1"
}

var anyItem = listItem{func(s string) bool { return s != "" && len(s) <= secretcache.MaxIDLength }, "non-empty strings"}

// listKey accepts a list of strings, or one string holding a
// comma-separated list (empty items dropped).
func listKey(p func(*Config) *[]string, maxItems int, item listItem) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		allowed := fmt.Sprintf("must be a list of at most %d %s", maxItems, item.what)
		var out []string
		switch x := v.(type) {
		case string:
			for s := range strings.SplitSeq(x, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return badValue(name, v, allowed)
				}
				out = append(out, s)
			}
		case []string:
			out = slices.Clone(x)
		default:
			return badValue(name, v, allowed)
		}
		for _, s := range out {
			if !item.ok(s) {
				return badValue(name, s, allowed)
			}
		}
		if len(out) > maxItems {
			return &ConfigError{Key: name, Value: fmt.Sprintf("(%d items)", len(out)), Allowed: allowed}
		}
		*p(c) = out
		return nil
	}
}

// checkedString accepts a string that ok approves of; what says what it
// must be.
func checkedString(p func(*Config) *string, ok func(string) bool, what string) func(*Config, string, any) error {
	return func(c *Config, name string, v any) error {
		s, isString := v.(string)
		if !isString || !ok(s) {
			return badValue(name, v, what)
		}
		*p(c) = s
		return nil
	}
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

func policiesKey(c *Config, name string, v any) error {
	const allowed = `must be a list of tables {pattern = "glob", ttl_seconds = 1..86400}`
	var items []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		items = x
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return badValue(name, v, allowed)
			}
			items = append(items, m)
		}
	default:
		return badValue(name, v, allowed)
	}
	if len(items) > 1000 {
		return badValue(name, fmt.Sprintf("%d items", len(items)), allowed)
	}
	var out []TTLPolicy
	for i, m := range items {
		var p TTLPolicy
		for k, val := range m {
			field := fmt.Sprintf("%s[%d].%s", name, i, k)
			switch k {
			case "pattern":
				s, ok := val.(string)
				if !ok || s == "" || len(s) > secretcache.MaxIDLength {
					return badValue(field, val, fmt.Sprintf("must be a glob of 1 to %d bytes", secretcache.MaxIDLength))
				}
				p.Pattern = s
			case "ttl_seconds":
				var tmp Config
				if err := intKey(func(c *Config) *int { return &c.TTLSeconds }, 1, 86400)(&tmp, field, val); err != nil {
					return err
				}
				p.TTLSeconds = tmp.TTLSeconds
			default:
				return &ConfigError{Key: field, Allowed: "unknown key (known: pattern, ttl_seconds)"}
			}
		}
		if p.Pattern == "" || p.TTLSeconds == 0 {
			return &ConfigError{Key: fmt.Sprintf("%s[%d]", name, i), Allowed: "needs both pattern and ttl_seconds"}
		}
		out = append(out, p)
	}
	c.TTLPolicies = out
	return nil
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

// keys lists every TOML key with its allowed values.
var keys = []key{
	{"log_level", enumKey(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error", "none")},
	{"http_address", checkedString(func(c *Config) *string { return &c.HTTPAddress }, validIPHost, "must be an IP address such as 127.0.0.1 or 0.0.0.0")},
	{"http_port", intKey(func(c *Config) *int { return &c.HTTPPort }, 0, 65535)},
	{"ttl_seconds", intKey(func(c *Config) *int { return &c.TTLSeconds }, 0, 3600)},
	{"cache_size", intKey(func(c *Config) *int { return &c.CacheSize }, 1, 100000)},
	{"max_conn", intKey(func(c *Config) *int { return &c.MaxConn }, 1, 10000)},
	{"region", checkedString(func(c *Config) *string { return &c.Region }, func(s string) bool { return s == "" || validRegion(s) }, regionRule)},
	{"path_prefix", stringKey(func(c *Config) *string { return &c.PathPrefix }, 256)},
	{"ssrf_headers", listKey(func(c *Config) *[]string { return &c.SSRFHeaders }, 16, listItem{validSSRFHeader, "HTTP header names (letters, digits, - and _), not X-Forwarded-For"})},
	{"ssrf_env_variables", listKey(func(c *Config) *[]string { return &c.SSRFEnvVariables }, 16, listItem{validEnvName, "environment variable names"})},
	{"ignore_transient_errors", boolKey(func(c *Config) *bool { return &c.IgnoreTransientErrors })},
	{"log_to_file", boolKey(func(c *Config) *bool { return &c.LogToFile })},
	{"validate_credentials", boolKey(func(c *Config) *bool { return &c.ValidateCredentials })},
	{"credentials_file_path", checkedString(func(c *Config) *string { return &c.CredentialsFilePath }, validPath, pathRule)},

	{"listen_addr", checkedString(func(c *Config) *string { return &c.ListenAddr }, func(s string) bool { return s == "" || checkHostPort("", s) == nil }, hostPortRule)},
	{"admin_addr", checkedString(func(c *Config) *string { return &c.AdminAddr }, func(s string) bool { return strings.EqualFold(s, "off") || checkHostPort("", s) == nil }, hostPortRule+", or off")},
	{"regions", listKey(func(c *Config) *[]string { return &c.Regions }, 16, listItem{validRegion, "AWS region names such as us-east-1, primary first (each " + regionChars + ")"})},
	{"refresh_ahead", floatKey(func(c *Config) *float64 { return &c.RefreshAhead }, 0, 1, true)},
	{"max_stale_seconds", intKey(func(c *Config) *int { return &c.MaxStaleSeconds }, 0, 86400)},
	{"ttl_policies", policiesKey},
	{"prefetch", listKey(func(c *Config) *[]string { return &c.Prefetch }, 10000, anyItem)},
	{"allowed_hosts", listKey(func(c *Config) *[]string { return &c.AllowedHosts }, MaxAllowedHosts, listItem{validAllowedHost, "DNS names or IP addresses without port (Host values answered besides loopback)"})},
	{"prefetch_prefix", listKey(func(c *Config) *[]string { return &c.PrefetchPrefix }, 100, anyItem)},
	{"prefetch_jitter_seconds", floatKey(func(c *Config) *float64 { return &c.PrefetchJitterSeconds }, 0, 300, false)},
	{"cache_enabled", boolKey(func(c *Config) *bool { return &c.CacheEnabled })},
	{"fetch_timeout_ms", intKey(func(c *Config) *int { return &c.FetchTimeoutMS }, 1, 300000)},
	{"request_timeout_seconds", intKey(func(c *Config) *int { return &c.RequestTimeoutSeconds }, 1, 300)},
	{"shutdown_timeout_seconds", intKey(func(c *Config) *int { return &c.ShutdownSeconds }, 1, 300)},
	{"max_backend_connections", intKey(func(c *Config) *int { return &c.MaxBackendConns }, 0, 10000)},
	{"log_format", enumKey(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{"audit_log", boolKey(func(c *Config) *bool { return &c.AuditLog })},
	{"log_file", checkedString(func(c *Config) *string { return &c.LogFile }, func(s string) bool { return s != "" && validPath(s) }, pathRule)},
}

func findKey(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// Keys returns the TOML keys the configuration accepts, in documentation
// order; any other key in a file is an error.
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Set sets one key from its text form, as a flag or environment variable
// gives it: numbers and booleans as text, lists comma-separated (empty
// items dropped; an empty value is an empty list). An unknown key, an empty
// or malformed number or boolean, or a value out of range returns a
// *ConfigError naming the key and what it accepts, and changes nothing.
// ttl_policies cannot be set this way.
func (c *Config) Set(name, value string) error {
	return c.SetFrom(name, name, value)
}

// SetFrom is Set for a value that came from source, the flag or
// environment variable named in errors (--ttl, SECRETCACHE_TTL): the
// error then reads "--ttl 5000 (ttl_seconds): must be an integer from 0 to
// 3600".
func (c *Config) SetFrom(name, source, value string) error {
	k, ok := findKey(name)
	switch {
	case name == "ttl_policies":
		return &ConfigError{Key: source, Setting: name, Allowed: "cannot be set from a flag or variable; use [[ttl_policies]] tables in the configuration file"}
	case !ok:
		return &ConfigError{Key: source, Allowed: "unknown setting" + suggestKey(name)}
	}
	err := k.set(c, source, value)
	var ce *ConfigError
	if errors.As(err, &ce) && source != name {
		ce.Setting = name
	}
	return err
}

// suggestKey returns "; did you mean KEY?" for the known key closest to
// name, if one is close, and the list of keys otherwise.
func suggestKey(name string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(name), k.name); d < bestD {
			best, bestD = k.name, d
		}
	}
	if best != "" {
		return "; did you mean " + best + "? (every key is listed under Configuration in README.md)"
	}
	return " (every key is listed under Configuration in README.md)"
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Parse applies a TOML document to c. Keys not set in it keep their value.
// It returns an error for malformed TOML (with its line and column), an
// unknown key (with the closest known key), or a bad value (a *ConfigError
// naming the key and what it accepts); on error c is unchanged. An empty
// document changes nothing. Numbers may be written bare or quoted, as the
// AWS agent accepts both. A document over MaxConfigBytes is refused.
func (c *Config) Parse(data []byte) error {
	if len(data) > MaxConfigBytes {
		return fmt.Errorf("the configuration is %d bytes, over the limit of %d", len(data), MaxConfigBytes)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("TOML parse error at line %d, column %d: %s (the configuration is TOML: one key = value per line, strings in double quotes)",
				pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return fmt.Errorf("TOML parse error: %w", err)
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names)
	next := *c
	for _, name := range names {
		k, ok := findKey(name)
		if !ok {
			return &ConfigError{Key: clip.String(name, 64), Allowed: "unknown key" + suggestKey(name)}
		}
		if err := k.set(&next, name, raw[name]); err != nil {
			return err
		}
	}
	*c = next
	return nil
}

// LoadFile applies the TOML file at path to c; see Parse. Errors name the
// file. The file must pass the rule of the agent's key files (see
// LoadToken): a regular file that every user may not write to, owned by
// root or the agent's user, since it decides who may read secrets. A file
// over MaxConfigBytes is refused.
func (c *Config) LoadFile(path string) error {
	data, _, err := readChecked(path, "configuration file", MaxConfigBytes)
	if err != nil {
		return err
	}
	if err := c.Parse(data); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
			return err
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Lambda extension environment variables.
const (
	EnvLambdaPort          = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
	EnvLambdaCacheEnabled  = "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED"
	EnvLambdaCacheSize     = "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE"
	EnvLambdaMaxConns      = "PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS"
	EnvLambdaLogLevel      = "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL"
	EnvLambdaTTL           = "SECRETS_MANAGER_TTL"
	EnvLambdaTimeoutMillis = "SECRETS_MANAGER_TIMEOUT_MILLIS"
)

// ApplyLambdaEnv applies the AWS Parameters and Secrets Lambda Extension's
// environment variables, read through lookup (os.LookupEnv in production):
// the port (1-65535), cache enabled (true/false), cache size (0-1000, 0 turns
// caching off), max connections to AWS (>= 1), log level, Secrets Manager
// TTL (0-300 s, 0 turns caching off) and timeout (ms, 0 = default). A bad
// value returns a *ConfigError naming the variable and its allowed range.
// It returns the names of variables it saw but ignores (Parameter Store
// settings), for the caller to log.
func (c *Config) ApplyLambdaEnv(lookup func(string) (string, bool)) (ignored []string, err error) {
	next := *c
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	if v, ok := get(EnvLambdaPort); ok {
		if err := intKey(func(c *Config) *int { return &c.HTTPPort }, 1, 65535)(&next, EnvLambdaPort, v); err != nil {
			return nil, withSetting(err, "http_port")
		}
		if next.ListenAddr != "" {
			next.ListenAddr = withPort(next.ListenAddr, next.HTTPPort)
		}
	}
	if v, ok := get(EnvLambdaCacheEnabled); ok {
		if err := boolKey(func(c *Config) *bool { return &c.CacheEnabled })(&next, EnvLambdaCacheEnabled, v); err != nil {
			return nil, withSetting(err, "cache_enabled")
		}
	}
	if v, ok := get(EnvLambdaCacheSize); ok {
		var size int
		if err := intKey(func(*Config) *int { return &size }, 0, 1000)(&next, EnvLambdaCacheSize, v); err != nil {
			return nil, withSetting(err, "cache_size")
		}
		if size == 0 {
			next.CacheEnabled = false
		} else {
			next.CacheSize = size
		}
	}
	if v, ok := get(EnvLambdaMaxConns); ok {
		if err := intKey(func(c *Config) *int { return &c.MaxBackendConns }, 1, 10000)(&next, EnvLambdaMaxConns, v); err != nil {
			return nil, withSetting(err, "max_backend_connections")
		}
	}
	if v, ok := get(EnvLambdaLogLevel); ok {
		if err := enumKey(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error", "none")(&next, EnvLambdaLogLevel, v); err != nil {
			return nil, withSetting(err, "log_level")
		}
	}
	if v, ok := get(EnvLambdaTTL); ok {
		if err := intKey(func(c *Config) *int { return &c.TTLSeconds }, 0, 300)(&next, EnvLambdaTTL, v); err != nil {
			return nil, withSetting(err, "ttl_seconds")
		}
	}
	if v, ok := get(EnvLambdaTimeoutMillis); ok {
		var ms int
		if err := intKey(func(*Config) *int { return &ms }, 0, 300000)(&next, EnvLambdaTimeoutMillis, v); err != nil {
			return nil, withSetting(err, "fetch_timeout_ms")
		}
		if ms > 0 {
			next.FetchTimeoutMS = ms
		}
	}
	for _, name := range []string{"SSM_PARAMETER_STORE_TTL", "SSM_PARAMETER_STORE_TIMEOUT_MILLIS"} {
		if _, ok := get(name); ok {
			ignored = append(ignored, name)
		}
	}
	*c = next
	return ignored, nil
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
	if port < 0 || port > 65535 {
		return badValue("http_port", port, "must be an integer from 0 to 65535")
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
	if !strings.HasPrefix(c.PathPrefix, "/") {
		return nil, badValue("path_prefix", c.PathPrefix, "must begin with /")
	}
	if c.PathPrefix == "/" || strings.HasPrefix("/secretsmanager/get", c.PathPrefix) ||
		c.PathPrefix == "/ping" || c.PathPrefix == "/ready" || strings.ContainsAny(c.PathPrefix, "?#% \t") {
		return nil, badValue("path_prefix", c.PathPrefix, "must be a path of its own, like /v1/ (not /, /ping, /ready or a prefix of /secretsmanager/get)")
	}
	if len(c.SSRFHeaders) == 0 {
		return nil, &ConfigError{Key: "ssrf_headers", Allowed: "the list of SSRF headers can't be empty"}
	}
	for _, h := range c.SSRFHeaders {
		if !validHeaderName(h) {
			return nil, badValue("ssrf_headers", h, "must be HTTP header names")
		}
		if strings.EqualFold(h, "X-Forwarded-For") {
			return nil, badValue("ssrf_headers", h, "X-Forwarded-For is always refused")
		}
	}
	if len(c.SSRFEnvVariables) == 0 {
		return nil, &ConfigError{Key: "ssrf_env_variables", Allowed: "the list of SSRF environment variables can't be empty"}
	}
	for _, v := range c.SSRFEnvVariables {
		if !validEnvName(v) {
			return nil, badValue("ssrf_env_variables", v, "must be environment variable names")
		}
	}
	if c.HTTPAddress != "" && c.ListenAddr == "" && !validIPHost(c.HTTPAddress) {
		return nil, badValue("http_address", c.HTTPAddress, "must be an IP address such as 127.0.0.1 or 0.0.0.0")
	}
	if c.ListenAddr != "" {
		if err := checkHostPort("listen_addr", c.ListenAddr); err != nil {
			return nil, err
		}
	}
	if c.AdminEnabled() {
		if err := checkHostPort("admin_addr", c.AdminAddr); err != nil {
			return nil, err
		}
	}
	if c.Region != "" && !validRegion(c.Region) {
		return nil, badValue("region", c.Region, regionRule)
	}
	for _, r := range c.Regions {
		if !validRegion(r) {
			return nil, badValue("regions", r, regionRule)
		}
	}
	if c.Region != "" && len(c.Regions) > 0 && c.Regions[0] != c.Region {
		return nil, &ConfigError{Key: "regions", Allowed: fmt.Sprintf("the first region %q conflicts with region = %q; set one of them", c.Regions[0], c.Region)}
	}
	if c.RefreshAhead < 0 || c.RefreshAhead >= 1 || math.IsNaN(c.RefreshAhead) {
		return nil, badValue("refresh_ahead", c.RefreshAhead, "must be a number in [0, 1)")
	}
	if c.PrefetchJitterSeconds < 0 || c.PrefetchJitterSeconds > 300 || math.IsNaN(c.PrefetchJitterSeconds) {
		return nil, badValue("prefetch_jitter_seconds", c.PrefetchJitterSeconds, "must be a number in [0, 300]")
	}
	for _, id := range c.Prefetch {
		if secretcache.CheckID(id) != nil {
			return nil, badValue("prefetch", id, fmt.Sprintf("must be secret names or ARNs: 1 to %d bytes of UTF-8 without spaces or control characters", secretcache.MaxIDLength))
		}
	}
	for _, r := range []struct {
		key    string
		v      int
		lo, hi int
	}{
		{"http_port", c.HTTPPort, 0, 65535},
		{"ttl_seconds", c.TTLSeconds, 0, 3600},
		{"cache_size", c.CacheSize, 1, 100000},
		{"max_conn", c.MaxConn, 1, 10000},
		{"max_stale_seconds", c.MaxStaleSeconds, 0, 86400},
		{"fetch_timeout_ms", c.FetchTimeoutMS, 1, 300000},
		{"request_timeout_seconds", c.RequestTimeoutSeconds, 1, 300},
		{"shutdown_timeout_seconds", c.ShutdownSeconds, 1, 300},
		{"max_backend_connections", c.MaxBackendConns, 0, 10000},
	} {
		if r.v < r.lo || r.v > r.hi {
			return nil, badValue(r.key, r.v, fmt.Sprintf("must be an integer from %d to %d", r.lo, r.hi))
		}
	}
	if !validPath(c.CredentialsFilePath) {
		return nil, badValue("credentials_file_path", c.CredentialsFilePath, pathRule)
	}
	if c.LogToFile && (c.LogFile == "" || !validPath(c.LogFile)) {
		return nil, badValue("log_file", c.LogFile, pathRule+" (log_to_file = true writes there)")
	}
	if !c.LogToFile && c.LogFile != DefaultLogFile && c.LogFile != "" {
		warnings = append(warnings, "log_file has no effect without log_to_file = true; logs go to stderr")
	}
	if !c.Caching() && (len(c.Prefetch) > 0 || len(c.PrefetchPrefix) > 0) {
		warnings = append(warnings, "prefetch has no effect with caching off (ttl_seconds = 0 or cache_enabled = false)")
	}
	return warnings, nil
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
	if !IsLoopback(api) {
		out = append(out, "the API listens beyond loopback ("+api+"); every client that can reach it and knows the token can read secrets")
	}
	if admin != "" && !IsLoopback(admin) {
		out = append(out, "the admin listener listens beyond loopback ("+admin+"); every client that can reach it sees secret names, versions and metrics, with no token (admin_addr)")
	}
	return out
}

// OpenLogger returns the logger the configuration asks for (log_level,
// log_format) and a function closing what it opened. With log_to_file it
// writes to log_file, rotated as the AWS agent rotates its log (a new file
// at LogFileMaxMB, LogFileBackups old ones kept, gzipped), created with
// mode 0600 in a directory created if needed; otherwise it writes to w
// (stderr). A log file that cannot be created is an error naming log_file;
// one in a directory every user may write to (not sticky) is refused, since
// anyone could replace it with a link to another file.
func (c *Config) OpenLogger(w io.Writer) (*slog.Logger, func() error, error) {
	if !c.LogToFile {
		return NewLogger(c.LogLevel, c.LogFormat, w), func() error { return nil }, nil
	}
	path := c.LogFile
	if path == "" {
		path = DefaultLogFile
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("log_to_file: cannot create the directory of log_file %s: %w", path, err)
	}
	if di, err := os.Stat(dir); err == nil && di.Mode().Perm()&0o002 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return nil, nil, fmt.Errorf("log_to_file: the directory of log_file %s is writable by every user (mode %04o, not sticky); refused: choose another log_file", path, di.Mode().Perm())
	}
	lj := &lumberjack.Logger{Filename: path, MaxSize: LogFileMaxMB, MaxBackups: LogFileBackups, Compress: true}
	if _, err := lj.Write(nil); err != nil { // opens (or creates) the file now
		return nil, nil, fmt.Errorf("log_to_file: cannot open log_file %s: %w", path, err)
	}
	return NewLogger(c.LogLevel, c.LogFormat, lj), lj.Close, nil
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

// IsLoopback reports whether addr (host:port, or a bare host) binds only
// the loopback interface. A malformed address, an empty host (all
// interfaces) or a host name other than localhost is not loopback.
func IsLoopback(addr string) bool {
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
