package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/internal/gcfloor"
)

type agentFlags struct {
	fs                                                *flag.FlagSet
	config, listen, admin, region, regions, logLevel  *string
	logFormat, prefetch, prefetchPrefix, allowedHosts *string
	port, ttl, maxConn                                *string
	check, dev                                        *bool
	devSecrets, devParameters                         *string
	devExitAfter                                      *time.Duration
}

// agentAliases are the short flags of the agent: -c is the AWS agent's.
var agentAliases = map[string]string{"c": "config"}

func newAgentFlags() *agentFlags {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	def := agent.DefaultConfig()
	return &agentFlags{
		fs:             fs,
		config:         fs.String("config", "", "TOML `file` with the AWS agent's keys and ours (see README.md)"),
		port:           fs.String("port", strconv.Itoa(def.HTTPPort), "API `port` (http_port), 0 to 65535; 0 picks a free one"),
		listen:         fs.String("listen-addr", "", "API `host:port` (listen_addr); 127.0.0.1 unless set, 0.0.0.0 for containers"),
		admin:          fs.String("admin-addr", def.AdminAddr, "admin listener `host:port`, or off (admin_addr): status page, /metrics, /health/secrets"),
		region:         fs.String("region", "", "AWS `region` (region); default from the AWS SDK (AWS_REGION, profile) or, on EC2, instance metadata"),
		regions:        fs.String("regions", "", "failover `regions`, primary first, comma-separated (regions)"),
		ttl:            fs.String("ttl", strconv.Itoa(def.TTLSeconds), "`seconds` a value stays fresh, 0 to 3600; 0 turns caching off (ttl_seconds)"),
		maxConn:        fs.String("max-conn", strconv.Itoa(def.MaxConn), "most client `requests` in progress, 1 to 10000; more get 429; also the open connections kept before the idle ones are closed (max_conn)"),
		logLevel:       fs.String("log-level", "info", "`level`: debug, info, warn, error or none (log_level)"),
		logFormat:      fs.String("log-format", "text", "`format`: text or json (log_format)"),
		prefetch:       fs.String("prefetch", "", "secret `ids` to fetch at start, comma-separated (prefetch)"),
		prefetchPrefix: fs.String("prefetch-prefix", "", "fetch at start every secret whose name starts with one of these `prefixes` (prefetch_prefix)"),
		allowedHosts:   fs.String("allowed-hosts", "", "`names` answered as Host besides loopback, comma-separated, no port (allowed_hosts); others get 421"),
		check:          fs.Bool("check", false, "run every check of a start (configuration, token, region, credentials), print the configuration as applied (never the token), and exit"),
		dev:            fs.Bool("dev", false, "run on a built-in Secrets Manager emulator with demo secrets: no AWS account needed"),
		devSecrets:     fs.String("dev-secrets", "", "with --dev, seed the emulator from this JSON `file` ({\"name\": \"value\" or {object}})"),
		devParameters:  fs.String("dev-parameters", "", "with --dev, seed the Parameter Store emulator from this JSON `file` ({\"name\": \"value\" or {\"type\": \"SecureString\", \"value\": ...}})"),
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
AWS_CONTAINER_AUTHORIZATION_TOKEN; file:///path reads it from a file (one
trailing newline dropped; the file must not be writable by every user and
must be owned by root or the agent's user). A token must be 1 to 4096
bytes of printable ASCII without leading or trailing spaces (under 16 bytes
draws a warning). With --dev and
none of them set, a random token is made and printed.

Once listening, the agent prints "Agent/VERSION listening on http://ADDR"
on stdout, as the AWS agent does. Logs go to stderr, or with log_to_file =
true to log_file (default logs/secrets_manager_agent.log, rotated at 10 MB,
5 kept).

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
	flagHelp(w, newAgentFlags().fs, agentAliases)
	fmt.Fprint(w, `
Exit codes: 0 stopped cleanly (or --check passed), 1 runtime failure (a
port in use, say), 2 bad flags, configuration, token, region or credentials.

Examples:
  secretcache agent --dev
  AWS_TOKEN=file:///var/run/awssmatoken secretcache agent -c /etc/secretcache/agent.toml
  AWS_TOKEN=file:///var/run/awssmatoken secretcache agent -c /etc/secretcache/agent.toml --check
`)
}

// agent runs the agent command: the configuration, then the same start
// for --check and for serving, then serving.
func (c *cli) agent(ctx context.Context, args []string) int {
	f := newAgentFlags()
	set, code := c.agentArgs(f, args)
	if code >= 0 {
		return code
	}
	cfg, ignored, err := c.agentConfig(f, set)
	if err != nil {
		return c.usageErr("agent", "%v", err)
	}
	lambdaRT, inLambda := c.lookupEnv(envLambdaRuntimeAPI)
	inLambda = inLambda && lambdaRT != "" && !*f.dev && !*f.check
	if inLambda {
		// Lambda gives extensions about 2 s to stop, and starts them all
		// at once: no jitter needed.
		cfg.ShutdownSeconds = 1
		cfg.PrefetchJitterSeconds = 0
	}
	warnings, err := cfg.Check()
	if err != nil {
		return c.usageErr("agent", "%v", err)
	}
	log, closeLog, err := cfg.OpenLogger(c.stderr)
	if err != nil {
		return c.fatal("agent", exitUsage, err)
	}
	defer closeLog()
	for _, name := range ignored {
		log.Warn("ignoring a Lambda extension setting the agent does not use", "env", name)
	}
	opts := []agent.Option{agent.WithLogger(log), agent.WithLookupEnv(c.lookupEnv)}
	traceOpts, flushTraces, err := c.agentTracing(ctx, cfg, log)
	if err != nil {
		return c.fatal("agent", exitUsage, err)
	}
	defer flushTraces()
	opts = append(opts, traceOpts...)
	var dev *devMode
	if *f.dev {
		if dev, err = c.startDev(&cfg, f, set, log); err != nil {
			return c.fatal("agent", exitUsage, err)
		}
		defer dev.srv.Close()
		opts = append(opts, agent.WithAWSConfig(dev.srv.AWSConfig(cfg.PrimaryRegion())), agent.WithToken(dev.token))
		popt, err := startDevParameters(dev, cfg.PrimaryRegion(), *f.devParameters, set["dev-parameters"]) // parameters.go
		if err != nil {
			return c.fatal("agent", exitUsage, err)
		}
		defer dev.ssm.Close()
		opts = append(opts, popt)
	}
	// As a Lambda extension, register first, so that a failure to start is
	// reported to Lambda.
	var ext *lambdaExtension
	if inLambda {
		if ext, err = registerLambda(ctx, lambdaRT, c.extensionName(), log); err != nil {
			return c.fatal("agent", exitError, err)
		}
	}
	// --check runs this same start, up to listening.
	a, err := agent.New(ctx, cfg, opts...)
	if err != nil {
		return c.startFailed(ext, err)
	}
	if *f.check {
		defer a.Close()
		return c.printCheck(cfg, warnings, a)
	}
	return c.serveAgent(ctx, a, f, dev, ext, log)
}

// agentArgs parses the agent's flags; code is -1 to go on, else the exit
// code (help printed, or a usage error reported).
func (c *cli) agentArgs(f *agentFlags, args []string) (set flagSources, code int) {
	set, code = c.parseFlagsOnly(f.fs, args, c.agentHelp, agentAliases, "the agent")
	switch {
	case code >= 0:
		return nil, code
	case !*f.dev && (set.has("dev-secrets") || set.has("dev-parameters") || set.has("dev-exit-after")):
		return nil, c.usageErr("agent", "--dev-secrets, --dev-parameters and --dev-exit-after need --dev")
	case *f.devExitAfter < 0:
		return nil, c.usageErr("agent", "%s %s: must be a duration of 0 or more, such as 30s", set["dev-exit-after"], *f.devExitAfter)
	}
	return set, -1
}

// agentConfig applies, in order, the defaults, the --config file, the
// Lambda extension's variables, the flags (and their SECRETCACHE_
// variables), and what --dev implies. ignored lists the Lambda variables
// the agent does not use.
func (c *cli) agentConfig(f *agentFlags, set flagSources) (cfg agent.Config, ignored []string, err error) {
	cfg = agent.DefaultConfig()
	if *f.config != "" {
		if err := cfg.LoadFile(*f.config); err != nil {
			return cfg, nil, err
		}
	}
	if ignored, err = cfg.ApplyLambdaEnv(c.lookupEnv); err != nil {
		return cfg, nil, err
	}
	if err := applyAgentFlags(&cfg, f, set); err != nil {
		return cfg, nil, err
	}
	if *f.dev {
		cfg.PrefetchJitterSeconds = 0
		cfg.ValidateCredentials = true // static credentials of the emulator
		if len(cfg.Regions) == 0 && cfg.Region == "" {
			cfg.Regions = []string{devRegion, devReplica}
		}
	}
	return cfg, ignored, nil
}

// startFailed reports an error of agent.New (to Lambda too, as an
// extension): a usage error when the configuration, token or credentials
// are at fault.
func (c *cli) startFailed(ext *lambdaExtension, err error) int {
	if ext != nil {
		ext.reportInitError(err.Error())
	}
	var ce *agent.ConfigError
	if errors.As(err, &ce) || errors.Is(err, agent.ErrNoToken) || errors.Is(err, agent.ErrBadToken) || errors.Is(err, agent.ErrNoCredentials) {
		return c.fatal("agent", exitUsage, err)
	}
	return c.fatal("agent", exitError, err)
}

// serveAgent listens, prints the AWS agent's start line, and serves until
// ctx ends (or, as an extension, Lambda's SHUTDOWN; with --dev-exit-after,
// that duration).
func (c *cli) serveAgent(ctx context.Context, a *agent.Agent, f *agentFlags, dev *devMode, ext *lambdaExtension, log *slog.Logger) int {
	if err := a.Listen(); err != nil {
		a.Close()
		if ext != nil {
			ext.reportInitError(err.Error())
		}
		return c.fatal("agent", exitError, err)
	}
	// The AWS agent's start line, which its integration harness waits for
	// as the first line of stdout.
	fmt.Fprintf(c.stdout, "Agent/%s listening on http://%s\n", secretcache.Version, a.Addr())
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
	if ext == nil {
		// A collection every few thousand requests over a 1-3 MiB live
		// heap was most of the agent's CPU per request over a bare
		// server's; Lambda, one invocation at a time, keeps its memory.
		gcctx, stopGC := context.WithCancel(ctx)
		defer stopGC()
		go gcfloor.Run(gcctx, agentHeapFloor, time.Second)
	}
	if err := a.Serve(ctx); err != nil {
		return c.fatal("agent", exitError, err)
	}
	return exitOK
}

// agentHeapFloor is the smallest heap goal the agent keeps (see gcfloor):
// about 12 MiB more memory than Go's default at the agent's usual live
// heap, for about a fifth less CPU per cached request.
const agentHeapFloor = 16 << 20

// printCheck prints what --check found: a summary line, the warnings,
// where the token and AWS settings come from (never the token), and the
// configuration as applied, as TOML that loads back unchanged.
func (c *cli) printCheck(cfg agent.Config, warnings []string, a *agent.Agent) int {
	admin := "off"
	if cfg.AdminEnabled() {
		admin = cfg.AdminAddr
	}
	fmt.Fprintf(c.stdout, "configuration OK: API %s, admin %s, TTL %ds, cache_size %d, max_conn %d\n",
		cfg.Addr(), admin, cfg.TTLSeconds, cfg.CacheSize, cfg.MaxConn)
	for _, w := range append(warnings, cfg.ListenWarnings()...) {
		fmt.Fprintf(c.stdout, "warning: %s\n", w)
	}
	info := a.StartInfo()
	fmt.Fprintf(c.stdout, "# token: %s (never shown)\n", info.Token)
	if info.AWS != nil {
		fmt.Fprintf(c.stdout, "# region: %s, from %s\n", info.AWS.Region, info.AWS.RegionFrom)
		fmt.Fprintf(c.stdout, "# AWS credentials: %s\n", info.AWS.Credentials)
	}
	fmt.Fprintln(c.stdout, "# the configuration as applied (defaults, --config file, Lambda variables, SECRETCACHE_* variables, flags):")
	if err := toml.NewEncoder(c.stdout).Encode(cfg); err != nil {
		return c.fatal("agent", exitError, err)
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
// SECRETCACHE_ variables) over cfg; errors name the flag or variable and
// the key.
func applyAgentFlags(cfg *agent.Config, f *agentFlags, set flagSources) error {
	for _, p := range []struct {
		flag, key string
		value     *string
	}{
		{"listen-addr", "listen_addr", f.listen},
		{"admin-addr", "admin_addr", f.admin},
		{"region", "region", f.region},
		{"regions", "regions", f.regions},
		{"ttl", "ttl_seconds", f.ttl},
		{"max-conn", "max_conn", f.maxConn},
		{"log-level", "log_level", f.logLevel},
		{"log-format", "log_format", f.logFormat},
		{"prefetch", "prefetch", f.prefetch},
		{"prefetch-prefix", "prefetch_prefix", f.prefetchPrefix},
		{"allowed-hosts", "allowed_hosts", f.allowedHosts},
		{"port", "http_port", f.port},
	} {
		if !set.has(p.flag) {
			continue
		}
		if err := cfg.SetFrom(p.key, set[p.flag], *p.value); err != nil {
			return err
		}
	}
	if set.has("port") {
		return cfg.SetPort(cfg.HTTPPort) // keeps the host of listen_addr
	}
	return nil
}
