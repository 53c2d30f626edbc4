package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/internal/clip"
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
	if !isLoopback(c.Addr()) || !isLoopback(c.AdminAddr) {
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
	// log_to_file is the AWS agent's: a log file instead of stderr, no
	// warning.
	w, err := c.Check()
	if err != nil || len(w) != 0 || !c.LogToFile || c.LogFile != defaultLogFile {
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
			t.Errorf("Parse(%q) accepted", clip.String(doc, 20))
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
	if got := keyNames(); len(got) != len(keys) || got[0] != "log_level" {
		t.Errorf("keyNames() = %v", got)
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
		envLambdaPort, "2999", envLambdaCacheSize, "50", envLambdaMaxConns, "3",
		envLambdaLogLevel, "DEBUG", envLambdaTTL, "120", envLambdaTimeoutMillis, "1500",
		"SSM_PARAMETER_STORE_TTL", "30"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPPort != 2999 || c.CacheSize != 50 || c.MaxBackendConns != 3 || c.LogLevel != "debug" ||
		c.TTLSeconds != 120 || c.FetchTimeoutMS != 1500 || !c.Caching() || len(ignored) != 0 || c.Parameters.TTLSeconds != 30 {
		t.Errorf("after Lambda env: %+v ignored %v", c, ignored)
	}
	for _, kv := range [][]string{{envLambdaCacheSize, "0"}, {envLambdaCacheEnabled, "false"}, {envLambdaTTL, "0"}} {
		c := DefaultConfig()
		if _, err := c.ApplyLambdaEnv(env(kv...)); err != nil || c.Caching() {
			t.Errorf("%v: caching still on (%v)", kv, err)
		}
	}
	bad := [][]string{
		{envLambdaPort, "0"}, {envLambdaPort, "65536"}, {envLambdaCacheSize, "1001"}, {envLambdaTTL, "301"},
		{envLambdaTTL, "five"}, {envLambdaMaxConns, "0"}, {envLambdaLogLevel, "loud"}, {envLambdaCacheEnabled, "yes please"},
		{envLambdaTimeoutMillis, "-5"},
	}
	for _, kv := range bad {
		c := DefaultConfig()
		_, err := c.ApplyLambdaEnv(env(kv...))
		if err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v, want an error naming the variable", kv[0], kv[1], err)
		}
		if c.HTTPPort != DefaultConfig().HTTPPort || c.TTLSeconds != DefaultConfig().TTLSeconds {
			t.Errorf("%s=%s changed the config on error", kv[0], kv[1])
		}
	}
	c = DefaultConfig()
	c.ListenAddr = "0.0.0.0:1"
	if _, err := c.ApplyLambdaEnv(env(envLambdaPort, "3000")); err != nil || c.Addr() != "0.0.0.0:3000" {
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

// Every error names the key (or the flag or variable that set it, and the
// file), the value, and what is accepted, once, with no package prefix
// for the caller to double.
func TestConfigErrorMessages(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.toml")
	cases := []struct {
		name string
		run  func(c *Config) error
		want string
	}{
		{"flag", func(c *Config) error { return c.SetFrom("ttl_seconds", "--ttl", "5000") }, "--ttl 5000 (ttl_seconds): must be an integer from 0 to 3600"},
		{"flag with a space", func(c *Config) error { return c.SetFrom("log_level", "--log-level", "very loud") }, `--log-level "very loud" (log_level): must be one of debug, info, warn, error, none`},
		{"empty flag", func(c *Config) error { return c.SetFrom("max_conn", "--max-conn", "") }, `--max-conn "" (max_conn): must be an integer from 1 to 10000`},
		{"variable", func(c *Config) error { return c.SetFrom("max_conn", "SECRETCACHE_MAX_CONN", "0") }, "SECRETCACHE_MAX_CONN=0 (max_conn): must be an integer from 1 to 10000"},
		{"Lambda variable", func(c *Config) error {
			_, err := c.ApplyLambdaEnv(lookupOf(map[string]string{envLambdaTTL: "301"}))
			return err
		}, "SECRETS_MANAGER_TTL=301 (ttl_seconds): must be an integer from 0 to 300"},
		{"region flag", func(c *Config) error { return c.SetFrom("region", "--region", "US_EAST") }, "--region US_EAST (region): must be an AWS region name such as us-east-1"},
		{"regions item", func(c *Config) error { return c.SetFrom("regions", "--regions", "us-east-1,Mars") }, "--regions Mars (regions): must be a list of at most 16 AWS region names such as us-east-1, primary first"},
		{"listen flag", func(c *Config) error { return c.SetFrom("listen_addr", "--listen-addr", "nohostport") }, "--listen-addr nohostport (listen_addr): must be host:port with an IP address or localhost"},
		{"admin flag", func(c *Config) error { return c.SetFrom("admin_addr", "--admin-addr", "example.com:80") }, "--admin-addr example.com:80 (admin_addr): must be host:port with an IP address or localhost, such as 127.0.0.1:2773 or 0.0.0.0:2773, or off"},
		{"policies by flag", func(c *Config) error { return c.SetFrom("ttl_policies", "--x", "a") }, "--x (ttl_policies): cannot be set from a flag or variable; use [[ttl_policies]] tables in the configuration file"},
		{"unknown setting", func(c *Config) error { return c.Set("ttl_second", "1") }, "ttl_second: unknown setting; did you mean ttl_seconds?"},
		{"unknown key", func(c *Config) error { return c.Parse([]byte("cache_sise = 5")) }, "cache_sise: unknown key; did you mean cache_size? (every key is listed under Configuration in README.md)"},
		{"far unknown key", func(c *Config) error { return c.Parse([]byte("zzz = 5")) }, "zzz: unknown key (every key is listed under Configuration in README.md)"},
		{"TOML syntax", func(c *Config) error { return c.Parse([]byte("ttl_seconds = 30\nregion = us-east-1\n")) }, "TOML parse error at line 2, column 10: "},
		{"field", func(c *Config) error {
			return c.Parse([]byte("[[ttl_policies]]\npattern = \"a\"\nttl_seconds = \"x\""))
		}, `ttl_policies[0].ttl_seconds = "x": must be an integer from 1 to 86400`},
		{"file", func(c *Config) error {
			if err := os.WriteFile(file, []byte("max_conn = 0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return c.LoadFile(file)
		}, file + ": max_conn = 0: must be an integer from 1 to 10000"},
		{"file syntax", func(c *Config) error {
			if err := os.WriteFile(file, []byte("max_conn = = 0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return c.LoadFile(file)
		}, file + ": TOML parse error at line 1"},
		{"missing file", func(c *Config) error { return c.LoadFile(filepath.Join(dir, "none.toml")) }, "configuration file: open " + filepath.Join(dir, "none.toml") + ": no such file or directory"},
		{"credentials path", func(c *Config) error { return c.Parse([]byte(`credentials_file_path = "a\u0000b"`)) }, `credentials_file_path = "a\x00b": must be a file path of at most 4096 bytes without control characters`},
		{"log file", func(c *Config) error { return c.Parse([]byte(`log_file = ""`)) }, `log_file = "": must be a file path`},
		{"timeouts", func(c *Config) error { c.ShutdownSeconds = 0; return c.Validate() }, "shutdown_timeout_seconds = 0: must be an integer from 1 to 300"},
		{"ttl range", func(c *Config) error { c.TTLSeconds = -1; return c.Validate() }, "ttl_seconds = -1: must be an integer from 0 to 3600"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		err := c.run(&cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\n want %q", c.name, err, c.want)
			continue
		}
		if strings.HasPrefix(err.Error(), "config:") || strings.HasPrefix(err.Error(), "agent:") {
			t.Errorf("%s: %q has a package prefix", c.name, err)
		}
	}
}

// A configuration file writable by every user is refused: it decides who
// may read secrets (ssrf_env_variables, listen_addr, credentials_file_path).
func TestLoadFileRefusesWorldWritable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte("ttl_seconds = 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(p, 0o666)
	c := DefaultConfig()
	if err := c.LoadFile(p); err == nil || !strings.Contains(err.Error(), "configuration file "+p+" is writable by every user") || c.TTLSeconds == 42 {
		t.Errorf("world-writable configuration: %v (ttl %d)", err, c.TTLSeconds)
	}
	_ = os.Chmod(p, 0o644)
	if err := c.LoadFile(p); err != nil || c.TTLSeconds != 42 {
		t.Errorf("0644 configuration: %v", err)
	}
}

// The AWS agent's configuration files load unchanged, credentials_file_path
// and log_to_file included.
func TestParseAWSAgentNewerKeys(t *testing.T) {
	c := DefaultConfig()
	doc := "region = \"us-east-1\"\ncredentials_file_path = \"/path/to/credentials\"\nlog_to_file = true\nhttp_port = 2775\nlog_level = \"debug\"\n"
	if err := c.Parse([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if c.CredentialsFilePath != "/path/to/credentials" || !c.LogToFile || c.LogFile != "logs/secrets_manager_agent.log" {
		t.Errorf("parsed %+v", c)
	}
	if w, err := c.Check(); err != nil || len(w) != 0 {
		t.Errorf("Check: %v %v", w, err)
	}
}

// log_to_file writes the log to log_file (mode 0600, directory created),
// rotated by size as the AWS agent's; stderr gets nothing.
func TestOpenLoggerToFile(t *testing.T) {
	dir := t.TempDir()
	c := DefaultConfig()
	c.LogToFile = true
	c.LogFile = filepath.Join(dir, "logs", "agent.log")
	var stderr strings.Builder
	log, closeLog, err := c.OpenLogger(&stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello from the agent", "n", 1)
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(c.LogFile)
	if err != nil || !strings.Contains(string(b), "hello from the agent") || stderr.Len() != 0 {
		t.Errorf("log file %q %v, stderr %q", b, err, stderr.String())
	}
	if fi, _ := os.Stat(c.LogFile); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v", fi.Mode())
	}
	if logFileMaxMB != 10 || logFileBackups != 5 {
		t.Errorf("rotation %d MB x %d, want the AWS agent's 10 MB x 5", logFileMaxMB, logFileBackups)
	}
	// Without log_to_file, w.
	c.LogToFile = false
	log, _, _ = c.OpenLogger(&stderr)
	log.Warn("to stderr")
	if !strings.Contains(stderr.String(), "to stderr") {
		t.Errorf("stderr %q", stderr.String())
	}
	// A log file that cannot be created is an error naming log_file; a
	// directory every user may write to is refused.
	c.LogToFile = true
	blocker := filepath.Join(dir, "file")
	_ = os.WriteFile(blocker, nil, 0o600)
	c.LogFile = filepath.Join(blocker, "agent.log")
	if _, _, err := c.OpenLogger(&stderr); err == nil || !strings.Contains(err.Error(), "log_to_file: cannot create the directory of log_file "+c.LogFile) {
		t.Errorf("uncreatable log file: %v", err)
	}
	open := filepath.Join(dir, "open")
	_ = os.Mkdir(open, 0o777)
	_ = os.Chmod(open, 0o777)
	c.LogFile = filepath.Join(open, "agent.log")
	if _, _, err := c.OpenLogger(&stderr); err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("log file in a world-writable directory: %v", err)
	}
}

// New without WithLogger logs as the configuration says: log_to_file too.
func TestNewLogsToFile(t *testing.T) {
	c := testConfig()
	c.LogToFile = true
	c.LogFile = filepath.Join(t.TempDir(), "agent.log")
	c.Prefetch = []string{"nope"}
	a, err := New(context.Background(), c, WithToken(testToken), WithSource(namedSource{}))
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Prefetch(context.Background())
	a.Close()
	if b, _ := os.ReadFile(c.LogFile); !strings.Contains(string(b), "prefetch") {
		t.Errorf("log file %q", b)
	}
}

// The agent accepts exactly the regions the AWS source accepts, so that a
// configuration that passes --check never fails when awssm.New builds the
// source.
func TestRegionRuleIsTheSourcesRule(t *testing.T) {
	for _, r := range []string{"us-east-1", "eu-isoe-west-1", "a", strings.Repeat("r", 32), strings.Repeat("r", 33),
		"US-EAST-1", "us_east_1", "-us", "us-", "us--east-1", "us east", "é"} {
		_, srcErr := awssm.New(aws.Config{Region: r})
		cfg := DefaultConfig()
		cfg.Region = r
		cfgErr := cfg.Validate()
		list := DefaultConfig()
		setErr := list.Set("regions", r)
		if (srcErr == nil) != (cfgErr == nil) || (cfgErr == nil) != (setErr == nil) {
			t.Errorf("region %q: awssm.New %v, Validate %v, Set(regions) %v", r, srcErr, cfgErr, setErr)
		}
		if cfgErr != nil && !strings.Contains(cfgErr.Error(), "region") {
			t.Errorf("region %q: %v does not name the key", r, cfgErr)
		}
	}
}

// isLoopback tells whether an address stays on the host.
func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:2773": true, "[::1]:2773": true, "localhost:1": true,
		"0.0.0.0:2773": false, ":2773": false, "garbage": false, "example.com:80": false} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
	if names := keyNames(); len(names) <= 20 || !slices.Equal(names[:3], []string{"log_level", "http_address", "http_port"}) {
		t.Errorf("keyNames() = %v", names)
	}
}

// newLogger builds the configured logger: level in any case.
func TestNewLogger(t *testing.T) {
	var b strings.Builder
	log := newLogger("WARN", "text", &b)
	log.Info("not shown")
	if !log.Enabled(context.Background(), slog.LevelWarn) || b.Len() != 0 {
		t.Errorf("WARN logger: enabled %v, wrote %q", log.Enabled(context.Background(), slog.LevelWarn), b.String())
	}
}
