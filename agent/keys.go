package agent

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// key is one setting and its rule.
type key struct {
	name string
	rule
}

// rule is how a key stores a decoded TOML value (a string, int64, float64,
// bool, or []any) into a Config, and, for numbers, how Check tests the
// value a program set on the Config directly: one range for both.
type rule struct {
	set   func(c *Config, name string, v any) error
	check func(c *Config, name string) error // nil: Check has no test for this key, or its own
}

func intKey(p func(*Config) *int, lo, hi int) rule {
	allowed := fmt.Sprintf("must be an integer from %d to %d", lo, hi)
	check := func(c *Config, name string) error {
		if v := *p(c); v < lo || v > hi {
			return badValue(name, v, allowed)
		}
		return nil
	}
	return rule{check: check, set: func(c *Config, name string, v any) error {
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
	}}
}

func floatKey(p func(*Config) *float64, lo, hi float64, hiOpen bool) rule {
	closing := "]"
	if hiOpen {
		closing = ")"
	}
	allowed := fmt.Sprintf("must be a number in [%g, %g%s", lo, hi, closing)
	inRange := func(f float64) bool { return !math.IsNaN(f) && f >= lo && f <= hi && (!hiOpen || f != hi) }
	check := func(c *Config, name string) error {
		if f := *p(c); !inRange(f) {
			return badValue(name, f, allowed)
		}
		return nil
	}
	return rule{check: check, set: func(c *Config, name string, v any) error {
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
		if !inRange(f) {
			return badValue(name, v, allowed)
		}
		*p(c) = f
		return nil
	}}
}

func boolKey(p func(*Config) *bool) rule {
	return rule{set: func(c *Config, name string, v any) error {
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
	}}
}

func stringKey(p func(*Config) *string, maxLen int) rule {
	return rule{set: func(c *Config, name string, v any) error {
		s, ok := v.(string)
		if !ok || len(s) > maxLen {
			return badValue(name, v, fmt.Sprintf("must be a string of at most %d bytes", maxLen))
		}
		*p(c) = s
		return nil
	}}
}

func enumKey(p func(*Config) *string, values ...string) rule {
	return rule{set: func(c *Config, name string, v any) error {
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
	}}
}

// listItem says which items a list key accepts.
type listItem struct {
	ok   func(string) bool
	what string // "AWS region names such as us-east-1"
}

var anyItem = listItem{func(s string) bool { return s != "" && len(s) <= secretcache.MaxIDLength }, "non-empty strings"}

// listKey accepts a list of strings, or one string holding a
// comma-separated list (empty items dropped).
func listKey(p func(*Config) *[]string, maxItems int, item listItem) rule {
	return rule{set: func(c *Config, name string, v any) error {
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
	}}
}

// checkedString accepts a string that ok approves of; what says what it
// must be.
func checkedString(p func(*Config) *string, ok func(string) bool, what string) rule {
	return rule{set: func(c *Config, name string, v any) error {
		s, isString := v.(string)
		if !isString || !ok(s) {
			return badValue(name, v, what)
		}
		*p(c) = s
		return nil
	}}
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
				if err := intKey(func(c *Config) *int { return &c.TTLSeconds }, 1, 86400).set(&tmp, field, val); err != nil {
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

// keys lists every TOML key with its allowed values.
var keys = []key{
	{"log_level", enumKey(func(c *Config) *string { return &c.LogLevel }, logLevels...)},
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
	{"ttl_policies", rule{set: policiesKey}},
	{"prefetch", listKey(func(c *Config) *[]string { return &c.Prefetch }, 10000, anyItem)},
	{"allowed_hosts", listKey(func(c *Config) *[]string { return &c.AllowedHosts }, MaxAllowedHosts, listItem{validAllowedHost, "DNS names or IP addresses without port (Host values answered besides loopback)"})},
	{"fleet", tableKey("fleet")}, {"events", tableKey("events")}, // fleet.go
	{"parameters", parametersKey},         // parameters.go
	{"template", rule{set: templatesKey}}, // templates.go
	{"prefetch_prefix", listKey(func(c *Config) *[]string { return &c.PrefetchPrefix }, 100, anyItem)},
	{"prefetch_jitter_seconds", floatKey(func(c *Config) *float64 { return &c.PrefetchJitterSeconds }, 0, 300, false)},
	{"cache_enabled", boolKey(func(c *Config) *bool { return &c.CacheEnabled })},
	{"fetch_timeout_ms", intKey(func(c *Config) *int { return &c.FetchTimeoutMS }, 1, 300000)},
	{"request_timeout_seconds", intKey(func(c *Config) *int { return &c.RequestTimeoutSeconds }, 1, 300)},
	{"shutdown_timeout_seconds", intKey(func(c *Config) *int { return &c.ShutdownSeconds }, 1, 300)},
	{"max_backend_connections", intKey(func(c *Config) *int { return &c.MaxBackendConns }, 0, 10000)},
	{"log_format", enumKey(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
	{"audit_log", boolKey(func(c *Config) *bool { return &c.AuditLog })},
	{"tracing", boolKey(func(c *Config) *bool { return &c.Tracing })},
	{"tracing_secret_names", boolKey(func(c *Config) *bool { return &c.TracingSecretNames })},
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

// keyNames returns the TOML keys the configuration accepts, in documentation
// order; any other key in a file is an error.
func keyNames() []string {
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
