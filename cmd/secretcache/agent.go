package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/smtest"
)

// Demo secrets of --dev. The values are fake and printed nowhere.
var demoSecrets = map[string]string{
	"demo/db":      `{"engine":"postgres","host":"localhost","port":5432,"username":"app","password":"demo-password-not-secret","dbname":"app"}`,
	"demo/api-key": "demo-api-key-0123456789",
}

const (
	demoBinaryName = "demo/tls-key"
	devRegion      = "us-east-1"
	devReplica     = "us-west-2"
)

type agentFlags struct {
	fs                                               *flag.FlagSet
	config, listen, admin, region, regions, logLevel *string
	logFormat, prefetch, prefetchPrefix              *string
	port, ttl, maxConn                               *int
	check, dev                                       *bool
	devSecrets                                       *string
	devExitAfter                                     *time.Duration
}

func newAgentFlags() *agentFlags {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	return &agentFlags{
		fs:             fs,
		config:         fs.String("config", "", "TOML `file` with the AWS agent's keys and ours (see README.md)"),
		port:           fs.Int("port", agent.DefaultHTTPPort, "API `port` (http_port); 0 picks a free one"),
		listen:         fs.String("listen-addr", "", "API `host:port` (listen_addr); 127.0.0.1 unless set, 0.0.0.0 for containers"),
		admin:          fs.String("admin-addr", agent.DefaultAdminAddr, "admin listener `host:port`, or off (admin_addr): status page, /metrics, /health/secrets"),
		region:         fs.String("region", "", "AWS `region` (region); default from the AWS SDK (AWS_REGION, profile)"),
		regions:        fs.String("regions", "", "failover `regions`, primary first, comma-separated (regions)"),
		ttl:            fs.Int("ttl", agent.DefaultTTLSeconds, "`seconds` a value stays fresh, 0 to 3600; 0 turns caching off (ttl_seconds)"),
		maxConn:        fs.Int("max-conn", agent.DefaultMaxConn, "most open client `connections`; more get 429 (max_conn)"),
		logLevel:       fs.String("log-level", "info", "debug, info, warn, error or none (log_level)"),
		logFormat:      fs.String("log-format", "text", "text or json (log_format)"),
		prefetch:       fs.String("prefetch", "", "secret `ids` to fetch at start, comma-separated (prefetch)"),
		prefetchPrefix: fs.String("prefetch-prefix", "", "fetch at start every secret whose name starts with one of these `prefixes` (prefetch_prefix)"),
		check:          fs.Bool("check", false, "validate the configuration, print it as applied, and exit"),
		dev:            fs.Bool("dev", false, "run on a built-in Secrets Manager emulator with demo secrets: no AWS account needed"),
		devSecrets:     fs.String("dev-secrets", "", "with --dev, seed the emulator from this JSON `file` ({\"name\": \"value\" or {object}})"),
		devExitAfter:   fs.Duration("dev-exit-after", 0, "with --dev, stop cleanly after this `duration` (for demos and CI)"),
	}
}

func (c *cli) agentHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: secretcache agent [flags]

Serves secrets over HTTP with the AWS Secrets Manager Agent's API:

  GET /secretsmanager/get?secretId=ID[&versionStage=S][&versionId=V][&refreshNow=true][&field=KEY]
  GET /v1/ID[?versionStage=S][&versionId=V][&refreshNow=true][&field=KEY]
  GET /ping          (no token)      GET /ready   (200 once the start-up prefetch is done)

Requests carry the token in X-Aws-Parameters-Secrets-Token (or X-Vault-Token).
The token is read from the first set of AWS_TOKEN, AWS_SESSION_TOKEN and
AWS_CONTAINER_AUTHORIZATION_TOKEN; file:///path reads it from a file.
With --dev and none of them set, a random token is made and printed.

Settings apply in this order, later ones winning: defaults, the --config file,
the Lambda extension's variables (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE, SECRETS_MANAGER_TTL, ...),
SECRETCACHE_* variables, flags. SIGINT or SIGTERM drains in-flight requests
and exits 0.

As a Lambda extension (AWS_LAMBDA_RUNTIME_API set, the binary in
/opt/extensions), the agent registers with the Extensions API under its file
name, lets Lambda start the function only once the prefetch is done, and
stops on the SHUTDOWN event; the token is then AWS_SESSION_TOKEN, as with the
AWS Parameters and Secrets Lambda Extension.

Flags:
`)
	flagHelp(w, newAgentFlags().fs)
	fmt.Fprint(w, `
Exit codes: 0 stopped cleanly, 1 runtime failure (a port in use, say),
2 bad flags or configuration.

Examples:
  secretcache agent --dev
  AWS_TOKEN=file:///var/run/awssmatoken secretcache agent --config /etc/secretcache/agent.toml
`)
}

// agent runs the agent command.
func (c *cli) agent(ctx context.Context, args []string) int {
	f := newAgentFlags()
	set, pos, code := c.parseFlags(f.fs, args, c.agentHelp)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(c.stderr, "secretcache agent: unexpected argument %q\n", truncate(pos[0], 64))
		return exitUsage
	}
	if !*f.dev && (set["dev-secrets"] || set["dev-exit-after"]) {
		fmt.Fprintln(c.stderr, "secretcache agent: --dev-secrets and --dev-exit-after need --dev")
		return exitUsage
	}
	if *f.devExitAfter < 0 {
		fmt.Fprintln(c.stderr, "secretcache agent: --dev-exit-after must not be negative")
		return exitUsage
	}
	cfg := agent.DefaultConfig()
	if *f.config != "" {
		if err := cfg.LoadFile(*f.config); err != nil {
			fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
			return exitUsage
		}
	}
	ignored, err := cfg.ApplyLambdaEnv(c.lookupEnv)
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
		return exitUsage
	}
	if err := applyAgentFlags(&cfg, f, set); err != nil {
		fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
		return exitUsage
	}
	lambdaRT, inLambda := c.lookupEnv(envLambdaRuntimeAPI)
	inLambda = inLambda && lambdaRT != "" && !*f.dev
	if inLambda {
		// Lambda gives extensions about 2 s to stop, and starts them all
		// at once: no jitter needed.
		cfg.ShutdownSeconds = 1
		cfg.PrefetchJitterSeconds = 0
	}
	if *f.dev {
		cfg.PrefetchJitterSeconds = 0
		cfg.ValidateCredentials = true // static credentials of the emulator
		if len(cfg.Regions) == 0 && cfg.Region == "" {
			cfg.Regions = []string{devRegion, devReplica}
		}
	}
	warnings, err := cfg.Check()
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
		return exitUsage
	}
	if *f.check {
		fmt.Fprintf(c.stdout, "configuration OK: API %s, admin %s, TTL %ds, cache_size %d, max_conn %d\n",
			cfg.Addr(), map[bool]string{true: cfg.AdminAddr, false: "off"}[cfg.AdminEnabled()],
			cfg.TTLSeconds, cfg.CacheSize, cfg.MaxConn)
		for _, w := range warnings {
			fmt.Fprintf(c.stdout, "warning: %s\n", w)
		}
		return exitOK
	}
	log := agent.NewLogger(cfg.LogLevel, cfg.LogFormat, c.stderr)
	for _, name := range ignored {
		log.Warn("ignoring a Parameter Store setting: the agent serves Secrets Manager only", "env", name)
	}
	opts := []agent.Option{agent.WithLogger(log), agent.WithLookupEnv(c.lookupEnv)}
	var dev *devMode
	if *f.dev {
		dev, err = c.startDev(&cfg, f, set, log)
		if err != nil {
			fmt.Fprintf(c.stderr, "secretcache agent --dev: %v\n", err)
			return exitUsage
		}
		defer dev.srv.Close()
		opts = append(opts, agent.WithAWSConfig(dev.srv.AWSConfig(cfg.PrimaryRegion())), agent.WithToken(dev.token))
	}
	// As a Lambda extension, register first, so that a failure to start is
	// reported to Lambda.
	var ext *lambdaExtension
	if inLambda {
		if ext, err = registerLambda(ctx, lambdaRT, c.extensionName(), log); err != nil {
			fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
			return exitError
		}
	}
	a, err := agent.New(ctx, cfg, opts...)
	if err != nil {
		if ext != nil {
			ext.reportInitError(err.Error())
		}
		fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
		var ce *agent.ConfigError
		if errors.As(err, &ce) || errors.Is(err, agent.ErrNoToken) {
			return exitUsage
		}
		return exitError
	}
	if err := a.Listen(); err != nil {
		a.Close()
		if ext != nil {
			ext.reportInitError(err.Error())
		}
		fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
		return exitError
	}
	if ext != nil {
		log.Info("lambda: registered as an extension", "name", c.extensionName())
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		go ext.loop(lctx, a.Ready, stop)
		ctx = lctx
	}
	if dev != nil {
		dev.banner(c.stdout, a)
		if *f.devExitAfter > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *f.devExitAfter)
			defer cancel()
		}
	}
	if err := a.Serve(ctx); err != nil {
		fmt.Fprintf(c.stderr, "secretcache agent: %v\n", err)
		return exitError
	}
	return exitOK
}

// extensionName is the name Lambda knows the extension by: the file name of
// the executable in /opt/extensions.
func (c *cli) extensionName() string {
	if c.argv0 == "" {
		return "secretcache"
	}
	return filepath.Base(c.argv0)
}

// applyAgentFlags applies the flags given (on the command line or through
// SECRETCACHE_ variables) over cfg.
func applyAgentFlags(cfg *agent.Config, f *agentFlags, set map[string]bool) error {
	type kv struct{ flag, key, value string }
	var pairs []kv
	if set["listen-addr"] {
		pairs = append(pairs, kv{"listen-addr", "listen_addr", *f.listen})
	}
	if set["admin-addr"] {
		pairs = append(pairs, kv{"admin-addr", "admin_addr", *f.admin})
	}
	if set["region"] {
		pairs = append(pairs, kv{"region", "region", *f.region})
	}
	if set["regions"] {
		pairs = append(pairs, kv{"regions", "regions", *f.regions})
	}
	if set["ttl"] {
		pairs = append(pairs, kv{"ttl", "ttl_seconds", strconv.Itoa(*f.ttl)})
	}
	if set["max-conn"] {
		pairs = append(pairs, kv{"max-conn", "max_conn", strconv.Itoa(*f.maxConn)})
	}
	if set["log-level"] {
		pairs = append(pairs, kv{"log-level", "log_level", *f.logLevel})
	}
	if set["log-format"] {
		pairs = append(pairs, kv{"log-format", "log_format", *f.logFormat})
	}
	if set["prefetch"] {
		pairs = append(pairs, kv{"prefetch", "prefetch", *f.prefetch})
	}
	if set["prefetch-prefix"] {
		pairs = append(pairs, kv{"prefetch-prefix", "prefetch_prefix", *f.prefetchPrefix})
	}
	for _, p := range pairs {
		if err := cfg.Set(p.key, p.value); err != nil {
			return fmt.Errorf("--%s: %w", p.flag, err)
		}
	}
	if set["port"] {
		if err := cfg.SetPort(*f.port); err != nil {
			return fmt.Errorf("--port: %w", err)
		}
	}
	return nil
}

type devMode struct {
	srv     *smtest.Server
	token   string
	names   []string
	seeded  string // where the secrets came from
	regions []string
}

// startDev starts the emulator, seeds it, and points cfg at it.
func (c *cli) startDev(cfg *agent.Config, f *agentFlags, set map[string]bool, log *slog.Logger) (*devMode, error) {
	d := &devMode{}
	tok, err := agent.ResolveToken(cfg.SSRFEnvVariables, c.lookupEnv)
	switch {
	case err == nil:
		d.token = tok
	case errors.Is(err, agent.ErrNoToken):
		d.token = agent.NewToken()
	default:
		return nil, err
	}
	primary := cfg.PrimaryRegion()
	d.srv = smtest.NewServer(smtest.WithDefaultRegion(primary))
	if *f.devSecrets != "" {
		if err := d.srv.LoadFile(primary, *f.devSecrets); err != nil {
			d.srv.Close()
			return nil, err
		}
		d.seeded = *f.devSecrets
	} else {
		for name, v := range demoSecrets {
			if _, err := d.srv.CreateSecret(primary, name, v); err != nil {
				d.srv.Close()
				return nil, err
			}
		}
		if _, err := d.srv.CreateBinarySecret(primary, demoBinaryName, []byte("-----DEMO KEY-----\x00\x01\x02")); err != nil {
			d.srv.Close()
			return nil, err
		}
		d.seeded = "demo secrets"
	}
	d.names = seededNames(d.srv, primary, *f.devSecrets)
	d.regions = slices.Clone(cfg.Regions)
	for _, replica := range cfg.Regions[min(1, len(cfg.Regions)):] {
		for _, n := range d.names {
			if err := d.srv.Replicate(n, primary, replica); err != nil {
				log.Warn("dev: cannot replicate", "secret", n, "region", replica, "err", err)
			}
		}
	}
	if len(cfg.Prefetch) == 0 && len(cfg.PrefetchPrefix) == 0 {
		cfg.Prefetch = slices.Clone(d.names)
	}
	// The default ports may be taken (another agent); then any free port.
	if !set["port"] && !set["listen-addr"] && cfg.ListenAddr == "" && !portFree(cfg.Addr()) {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if !set["admin-addr"] && cfg.AdminEnabled() && !portFree(cfg.AdminAddr) {
		cfg.AdminAddr = "127.0.0.1:0"
	}
	return d, nil
}

// seededNames lists the secrets of the dev emulator: the names in the seed
// file, or the demo secrets.
func seededNames(srv *smtest.Server, region, file string) []string {
	var names []string
	if file == "" {
		for n := range demoSecrets {
			names = append(names, n)
		}
		names = append(names, demoBinaryName)
	} else if data, err := os.ReadFile(file); err == nil {
		var doc map[string]json.RawMessage
		if json.Unmarshal(data, &doc) == nil {
			for n := range doc {
				if _, ok := srv.Secret(region, n); ok {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// banner prints what to do next. The token is printed: it is a random,
// local, dev-only token (or the one the user set).
func (d *devMode) banner(w io.Writer, a *agent.Agent) {
	api := "http://" + a.Addr()
	hdr := "X-Aws-Parameters-Secrets-Token: " + d.token
	first := "demo/db"
	if !slices.Contains(d.names, first) && len(d.names) > 0 {
		first = d.names[0]
	}
	fmt.Fprintf(w, "%s: agent in dev mode, no AWS account needed.\n", versionString())
	fmt.Fprintf(w, "  emulator  %s (%s; regions %s), %d secrets: %s\n", d.srv.URL, d.seeded,
		strings.Join(d.regions, ", "), len(d.names), strings.Join(firstN(d.names, 8), ", "))
	fmt.Fprintf(w, "  API       %s\n", api)
	if aa := a.AdminAddr(); aa != "" {
		fmt.Fprintf(w, "  status    http://%s/   (metrics at /metrics, health at /health/secrets)\n", aa)
	}
	fmt.Fprintf(w, "  token     %s\n\n", d.token)
	fmt.Fprintf(w, "Try:\n")
	fmt.Fprintf(w, "  curl -s -H '%s' '%s/secretsmanager/get?secretId=%s'\n", hdr, api, first)
	if first == "demo/db" {
		fmt.Fprintf(w, "  curl -s -H '%s' -H 'Accept: text/plain' '%s/v1/demo/db?field=password'\n", hdr, api)
	}
	fmt.Fprintf(w, "  AWS_TOKEN=%s secretcache get %s --agent-url %s\n\n", d.token, first, api)
	fmt.Fprintf(w, "Stop with Ctrl-C.\n")
	if f, ok := w.(*os.File); ok {
		_ = f.Sync()
	}
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), "...")
}
