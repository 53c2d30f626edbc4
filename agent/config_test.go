package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDefaultConfigMatchesAWSAgent(t *testing.T) {
	c := DefaultConfig()
	if c.LogLevel != "info" || c.HTTPPort != 2773 || c.TTLSeconds != 300 || c.CacheSize != 1000 ||
		c.MaxConn != 800 || c.PathPrefix != "/v1/" || !c.IgnoreTransientErrors || c.Region != "" ||
		c.Addr() != "127.0.0.1:2773" || !slices.Equal(c.SSRFHeaders, []string{"X-Aws-Parameters-Secrets-Token", "X-Vault-Token"}) ||
		!slices.Equal(c.SSRFEnvVariables, []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}) {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if !IsLoopback(c.Addr()) || !IsLoopback(c.AdminAddr) {
		t.Error("defaults bind beyond loopback")
	}
}

func TestParseAWSAgentFile(t *testing.T) {
	// The AWS agent's own sample: quoted and bare numbers, upper-case level.
	doc := `# comment
log_level = "DEBUG"
http_address = "0.0.0.0"
http_port = "65535"
ssrf_headers = ["X-Aws-Parameters-Secrets-Token"]
ssrf_env_variables = ["MY_TOKEN"]
path_prefix = "/other"
ttl_seconds = 300
cache_size = '1000'
max_conn = 10
region = "us-west-2"
ignore_transient_errors = false
validate_credentials = false
log_to_file = true
`
	c := DefaultConfig()
	if err := c.Parse([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.Addr() != "0.0.0.0:65535" || c.MaxConn != 10 || c.PathPrefix != "/other" ||
		c.IgnoreTransientErrors || c.ValidateCredentials || c.Region != "us-west-2" || c.SSRFEnvVariables[0] != "MY_TOKEN" {
		t.Errorf("parsed %+v", c)
	}
	w, err := c.Check()
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "log_to_file") {
		t.Errorf("Check: %v %v", w, err)
	}
}

func TestParseOurKeys(t *testing.T) {
	doc := `
listen_addr = "0.0.0.0:8080"
admin_addr = "127.0.0.1:9000"
regions = ["eu-west-1", "eu-central-1"]
refresh_ahead = 0.3
max_stale_seconds = 60
prefetch = ["db/password", "api/key"]
prefetch_prefix = "app/"
prefetch_jitter_seconds = 2.5
fetch_timeout_ms = 3000
request_timeout_seconds = 20
shutdown_timeout_seconds = 30
max_backend_connections = 16
cache_enabled = true
log_format = "JSON"

[[ttl_policies]]
pattern = "prod/*"
ttl_seconds = 60

[[ttl_policies]]
pattern = "*/static/*"
ttl_seconds = 3600
`
	c := DefaultConfig()
	if err := c.Parse([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Addr() != "0.0.0.0:8080" || c.AdminAddr != "127.0.0.1:9000" || c.PrimaryRegion() != "eu-west-1" ||
		c.RefreshAhead != 0.3 || c.MaxStaleSeconds != 60 || len(c.Prefetch) != 2 || c.PrefetchPrefix[0] != "app/" ||
		c.PrefetchJitterSeconds != 2.5 || c.FetchTimeoutMS != 3000 || c.LogFormat != "json" ||
		len(c.TTLPolicies) != 2 || c.TTLPolicies[1] != (TTLPolicy{"*/static/*", 3600}) || c.MaxBackendConns != 16 {
		t.Errorf("parsed %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`ttl_seconds = 3601`, "ttl_seconds = 3601: must be an integer from 0 to 3600"},
		{`ttl_seconds = -1`, "ttl_seconds = -1: must be an integer from 0 to 3600"},
		{`ttl_seconds = "not a number"`, `ttl_seconds = "not a number": must be an integer from 0 to 3600`},
		{`ttl_seconds = 1.5`, "ttl_seconds = 1.5: must be an integer"},
		{`cache_size = 0`, "cache_size = 0: must be an integer from 1 to 100000"},
		{`max_conn = 0`, "max_conn = 0: must be an integer from 1 to 10000"},
		{`max_conn = "-1"`, "max_conn"},
		{`http_port = 65536`, "http_port = 65536: must be an integer from 0 to 65535"},
		{`log_level = "information"`, `log_level = "information": must be one of debug, info, warn, error, none`},
		{`log_level = 3`, "log_level = 3: must be one of"},
		{`ignore_transient_errors = "maybe"`, "ignore_transient_errors"},
		{`ssrf_headers = "X-A, X-B"` + "\nssrf_headers = []", "parse error"},
		{`ssrf_headers = [1]`, "ssrf_headers"},
		{`refresh_ahead = 1`, "refresh_ahead = 1: must be a number in [0, 1)"},
		{`refresh_ahead = -0.1`, "refresh_ahead"},
		{`max_stale_seconds = 100000`, "max_stale_seconds = 100000: must be an integer from 0 to 86400"},
		{`prefetch_jitter_seconds = 301`, "prefetch_jitter_seconds"},
		{`fetch_timeout_ms = 0`, "fetch_timeout_ms = 0: must be an integer from 1 to 300000"},
		{`log_format = "xml"`, "log_format"},
		{`bogus = 1`, "bogus: unknown key"},
		{`Log_Level = "info"`, "Log_Level: unknown key"},
		{`[section]` + "\nx = 1", "section: unknown key"},
		{`ttl_seconds = `, "TOML parse error at line 1"},
		{"\n\nttl_seconds = [", "TOML parse error at line"},
		{`[[ttl_policies]]` + "\npattern = \"a\"", "ttl_policies[0]: needs both pattern and ttl_seconds"},
		{`[[ttl_policies]]` + "\npattern = \"a\"\nttl_seconds = 0", "ttl_policies[0].ttl_seconds = 0"},
		{`[[ttl_policies]]` + "\npattern = \"a\"\nttl = 5", "ttl_policies[0].ttl: unknown key"},
		{`ttl_policies = "x"`, "ttl_policies"},
		{`region = "` + strings.Repeat("r", 65) + `"`, "region"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		before := cfg
		err := cfg.Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.doc, err, c.want)
		}
		if cfg.TTLSeconds != before.TTLSeconds || cfg.MaxConn != before.MaxConn {
			t.Errorf("Parse(%q) changed the config on error", c.doc)
		}
	}
	var ce *ConfigError
	cfg := DefaultConfig()
	if err := cfg.Parse([]byte("ttl_seconds = 9999")); !errors.As(err, &ce) || ce.Key != "ttl_seconds" {
		t.Errorf("error %v is not a *ConfigError for ttl_seconds", err)
	}
}

func TestParseHostileInput(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Parse(make([]byte, MaxConfigBytes+1)); err == nil {
		t.Error("oversized document accepted")
	}
	for _, doc := range []string{"", "\x00\x01", "= = =", strings.Repeat("[", 10000), "a = \"\xff\""} {
		cfg := DefaultConfig()
		err := cfg.Parse([]byte(doc))
		if doc == "" && err != nil {
			t.Errorf("empty document: %v", err)
		}
		if doc != "" && err == nil {
			t.Errorf("Parse(%q) accepted", truncate(doc, 20))
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.PathPrefix = "v1" }, "path_prefix"},
		{func(c *Config) { c.PathPrefix = "/" }, "path_prefix"},
		{func(c *Config) { c.PathPrefix = "/secretsmanager/" }, "path_prefix"},
		{func(c *Config) { c.PathPrefix = "/ping" }, "path_prefix"},
		{func(c *Config) { c.SSRFHeaders = nil }, "ssrf_headers"},
		{func(c *Config) { c.SSRFHeaders = []string{"Bad Header"} }, "ssrf_headers"},
		{func(c *Config) { c.SSRFHeaders = []string{"X-Forwarded-For"} }, "ssrf_headers"},
		{func(c *Config) { c.SSRFEnvVariables = nil }, "ssrf_env_variables"},
		{func(c *Config) { c.SSRFEnvVariables = []string{"A=B"} }, "ssrf_env_variables"},
		{func(c *Config) { c.HTTPAddress = "invalid" }, "http_address"},
		{func(c *Config) { c.ListenAddr = "nohostport" }, "listen_addr"},
		{func(c *Config) { c.ListenAddr = "example.com:80" }, "listen_addr"},
		{func(c *Config) { c.AdminAddr = "127.0.0.1:99999" }, "admin_addr"},
		{func(c *Config) { c.Region = "US_EAST" }, "region"},
		{func(c *Config) { c.Region = "us-east-1"; c.Regions = []string{"us-west-2"} }, "regions"},
		{func(c *Config) { c.Prefetch = []string{"has space"} }, "prefetch"},
		{func(c *Config) { c.RefreshAhead = 1 }, "refresh_ahead"},
	}
	for i, c := range cases {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: Validate = %v, want an error naming %s", i, err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.AdminAddr = "OFF"
	cfg.Region = "us-east-1"
	cfg.Regions = []string{"us-east-1", "us-west-2"}
	if err := cfg.Validate(); err != nil || cfg.AdminEnabled() {
		t.Errorf("admin off, matching regions: %v", err)
	}
}

func TestSet(t *testing.T) {
	c := DefaultConfig()
	for k, v := range map[string]string{"ttl_seconds": "60", "prefetch": "a, b,,c", "ignore_transient_errors": "false",
		"refresh_ahead": "0.5", "log_level": "WARN", "regions": "eu-west-1,eu-west-2"} {
		if err := c.Set(k, v); err != nil {
			t.Errorf("Set(%s, %s): %v", k, v, err)
		}
	}
	if c.TTLSeconds != 60 || !slices.Equal(c.Prefetch, []string{"a", "b", "c"}) || c.IgnoreTransientErrors ||
		c.RefreshAhead != 0.5 || c.LogLevel != "warn" || len(c.Regions) != 2 {
		t.Errorf("after Set: %+v", c)
	}
	for k, v := range map[string]string{"nope": "1", "ttl_policies": "x", "ttl_seconds": "1h", "max_conn": ""} {
		if err := c.Set(k, v); err == nil {
			t.Errorf("Set(%s, %q) accepted", k, v)
		}
	}
	if err := c.SetPort(8080); err != nil || c.Addr() != "127.0.0.1:8080" {
		t.Errorf("SetPort: %v %s", err, c.Addr())
	}
	c.ListenAddr = "0.0.0.0:1"
	if err := c.SetPort(9); err != nil || c.Addr() != "0.0.0.0:9" {
		t.Errorf("SetPort with listen_addr: %s", c.Addr())
	}
	if err := c.SetPort(70000); err == nil {
		t.Error("SetPort(70000) accepted")
	}
	if got := Keys(); len(got) != len(keys) || got[0] != "log_level" {
		t.Errorf("Keys() = %v", got)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(p, []byte("ttl_seconds = 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.LoadFile(p); err != nil || c.TTLSeconds != 42 {
		t.Errorf("LoadFile: %v %d", err, c.TTLSeconds)
	}
	if err := c.LoadFile(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte("ttl_seconds = 4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadFile(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "ttl_seconds") {
		t.Errorf("bad file: %v", err)
	}
}

func TestLambdaEnv(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c := DefaultConfig()
	ignored, err := c.ApplyLambdaEnv(env(
		EnvLambdaPort, "2999", EnvLambdaCacheSize, "50", EnvLambdaMaxConns, "3",
		EnvLambdaLogLevel, "DEBUG", EnvLambdaTTL, "120", EnvLambdaTimeoutMillis, "1500",
		"SSM_PARAMETER_STORE_TTL", "30"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPPort != 2999 || c.CacheSize != 50 || c.MaxBackendConns != 3 || c.LogLevel != "debug" ||
		c.TTLSeconds != 120 || c.FetchTimeoutMS != 1500 || !c.Caching() || !slices.Equal(ignored, []string{"SSM_PARAMETER_STORE_TTL"}) {
		t.Errorf("after Lambda env: %+v ignored %v", c, ignored)
	}
	for _, kv := range [][]string{{EnvLambdaCacheSize, "0"}, {EnvLambdaCacheEnabled, "false"}, {EnvLambdaTTL, "0"}} {
		c := DefaultConfig()
		if _, err := c.ApplyLambdaEnv(env(kv...)); err != nil || c.Caching() {
			t.Errorf("%v: caching still on (%v)", kv, err)
		}
	}
	bad := [][]string{
		{EnvLambdaPort, "0"}, {EnvLambdaPort, "65536"}, {EnvLambdaCacheSize, "1001"}, {EnvLambdaTTL, "301"},
		{EnvLambdaTTL, "five"}, {EnvLambdaMaxConns, "0"}, {EnvLambdaLogLevel, "loud"}, {EnvLambdaCacheEnabled, "yes please"},
		{EnvLambdaTimeoutMillis, "-5"},
	}
	for _, kv := range bad {
		c := DefaultConfig()
		_, err := c.ApplyLambdaEnv(env(kv...))
		if err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v, want an error naming the variable", kv[0], kv[1], err)
		}
		if c.HTTPPort != DefaultHTTPPort || c.TTLSeconds != DefaultTTLSeconds {
			t.Errorf("%s=%s changed the config on error", kv[0], kv[1])
		}
	}
	c = DefaultConfig()
	c.ListenAddr = "0.0.0.0:1"
	if _, err := c.ApplyLambdaEnv(env(EnvLambdaPort, "3000")); err != nil || c.Addr() != "0.0.0.0:3000" {
		t.Errorf("port with listen_addr: %s %v", c.Addr(), err)
	}
}

// Check refuses every prefetch id the cache would refuse, naming the key,
// and accepts what the cache accepts.
func TestCheckPrefetchIDsAsTheCache(t *testing.T) {
	for _, id := range []string{"", "has space", "tab\there", "nul\x00", "del\x7f", "rep\uFFFDlace", "bad\xffutf8",
		"trunc\xe2\x82", strings.Repeat("x", 2049)} {
		cfg := DefaultConfig()
		cfg.Prefetch = []string{"fine/one", id}
		_, err := cfg.Check()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "prefetch" {
			t.Errorf("Check(prefetch %.20q) = %v, want a ConfigError for prefetch", id, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Prefetch = []string{"prod/db", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "é/ünïcode", "a+b=c@d", strings.Repeat("x", 2048)}
	if _, err := cfg.Check(); err != nil {
		t.Errorf("valid ids refused: %v", err)
	}
	// The same ids set as a flag or variable would be.
	if err := cfg.Set("prefetch", "a, b\uFFFD"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "prefetch") {
		t.Errorf("Validate after Set: %v", err)
	}
}
