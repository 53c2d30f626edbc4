package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
	"github.com/secretcache/secretcache/render"
)

// Agent is the secretcache sidecar: an HTTP server compatible with the AWS
// Secrets Manager Agent in front of a secretcache.Cache, with an admin
// listener for the status page and monitoring. Create it with New, then
// call Run (or Listen and Serve). It is safe for concurrent use.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	src     secretcache.Source // WithSource's, or the AWS source New built
	cache   *secretcache.Cache
	hits    *hitTable // per-ref read counts (the core counts the whole cache only) and answers built once
	api     *api
	apiH    http.Handler // api, or api wrapped by WithTracing's middleware
	conns   *connTracker // the API listener's connections: its limits live here, not in net/http's timers
	hosts   *hostPolicy  // shared by both listeners, against DNS rebinding
	admin   http.Handler
	links   []string // admin endpoints the status page links to, from newAdmin's table
	mon     *monitor.Monitor
	ready   atomic.Bool // the start-up prefetch is done: /ready and the Lambda extension wait for it
	started time.Time
	start   StartInfo // where the token and the AWS settings came from, for --check

	closeOnce sync.Once
	closers   []func() // what New opened besides the cache (the log file), undone last first

	mu       sync.Mutex // guards the listeners and the prefetch status
	apiLn    net.Listener
	adminLn  net.Listener
	prefetch PrefetchStatus
	fl       fleetRun // [fleet] and [events] (fleet.go)
	params   *params  // [parameters]: the Parameter Store endpoint (parameters.go)

	templates []*render.File // [[template]] (templates.go)
}

// New validates cfg and builds the agent: the token, the source (AWS
// Secrets Manager through awssm unless WithSource is given), the cache, the
// API and admin handlers. It does not listen yet. Errors name the setting
// at fault; the token never appears in them.
func New(ctx context.Context, cfg Config, opts ...Option) (*Agent, error) {
	var o options
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("agent: nil option")
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	warnings, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, started: time.Now(), hits: &hitTable{max: int64(2*cfg.CacheSize + 100)}}
	if err := a.build(ctx, &o, warnings); err != nil {
		if a.cache != nil {
			_ = a.cache.Close()
		}
		a.runClosers()
		return nil, err
	}
	return a, nil
}

// build makes, in order, what the agent runs on; New undoes what it made
// when it fails.
func (a *Agent) build(ctx context.Context, o *options, warnings []string) error {
	if err := a.openLog(o.logger); err != nil {
		return err
	}
	for _, w := range warnings {
		a.log.Warn(w)
	}
	token, err := a.loadToken(o)
	if err != nil {
		return err
	}
	if a.hosts, err = newHostPolicy(append(slices.Clone(a.cfg.AllowedHosts), o.hosts...)); err != nil {
		return err
	}
	monOpts := []monitor.Option{monitor.WithLogger(a.log)}
	if r := a.cfg.PrimaryRegion(); r != "" {
		monOpts = append(monOpts, monitor.WithRegion(r))
	}
	a.mon = monitor.New(nil, monOpts...)
	if a.src = o.src; a.src == nil {
		src, info, err := newAWSSource(ctx, a.cfg, o.awsCfg, a.log, a.mon.ObserveCall, awsTracing(o)...)
		if err != nil {
			return err
		}
		a.src, a.start.AWS = src, &info
	}
	if err := a.setupFleet(ctx); err != nil { // fleet.go
		return err
	}
	if o.tracing != nil {
		o.cacheOpts = append(o.cacheOpts, secretcache.WithTracer(o.tracing))
	}
	if a.cache, err = secretcache.New(a.src, append(a.cacheOptions(), o.cacheOpts...)...); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := a.startEvents(ctx); err != nil { // fleet.go
		return err
	}
	if a.templates, err = loadTemplates(a.cfg); err != nil { // templates.go
		return err
	}
	a.api = newAPI(a.cfg, a.cache, newTokenChecker(token, a.cfg.SSRFHeaders), a.hosts, a.hits, &a.ready, a.log)
	if err := a.setupParameters(o); err != nil { // parameters.go
		return err
	}
	a.apiH = a.apiHandler(o)
	a.conns = newConnTracker(a.cfg.MaxConn, max(a.api.timeout, 2*a.api.fetchTimeout))
	metrics, err := a.setupMonitoring()
	if err != nil {
		return err
	}
	a.admin = a.newAdmin(metrics)
	return nil
}

// openLog sets the logger: WithLogger's, or the configuration's (which may
// open a log file, closed with the agent).
func (a *Agent) openLog(l *slog.Logger) error {
	if a.log = l; l != nil {
		return nil
	}
	l, closeLog, err := a.cfg.OpenLogger(os.Stderr)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.log = l
	a.closers = append(a.closers, func() { _ = closeLog() })
	return nil
}

// loadToken returns WithToken's token, or the one of the environment
// variables of ssrf_env_variables, and notes where it came from.
func (a *Agent) loadToken(o *options) (string, error) {
	if o.hasToken {
		a.start.Token = TokenSource{Bytes: len(o.token)}
		return o.token, nil
	}
	lookup := o.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	token, src, err := LoadToken(a.cfg.SSRFEnvVariables, lookup, a.log)
	if err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	a.start.Token = src
	return token, nil
}

// cacheOptions are the cache's options the configuration implies.
func (a *Agent) cacheOptions() []secretcache.Option {
	cfg := a.cfg
	ttl := cfg.TTL()
	if ttl <= 0 {
		ttl = time.Second // caching is off: reads go through Refresh
	}
	maxStale := time.Duration(cfg.MaxStaleSeconds) * time.Second
	if !cfg.IgnoreTransientErrors {
		maxStale = 0
	}
	copts := []secretcache.Option{
		secretcache.WithTTL(ttl),
		secretcache.WithRefreshAhead(cfg.RefreshAhead),
		secretcache.WithMaxStale(maxStale),
		secretcache.WithMaxEntries(cfg.CacheSize),
		secretcache.WithFetchTimeout(time.Duration(cfg.FetchTimeoutMS) * time.Millisecond),
		secretcache.WithLogger(a.log),
		secretcache.WithReadHook(a.hits.hook),
	}
	if cfg.AuditLog {
		copts = append(copts, secretcache.WithReadHook(monitor.AuditHook(a.log)))
	}
	for _, p := range cfg.TTLPolicies {
		copts = append(copts, secretcache.WithPolicy(p.Pattern, time.Duration(p.TTLSeconds)*time.Second))
	}
	return copts
}

func (a *Agent) runClosers() {
	for _, fn := range slices.Backward(a.closers) {
		fn()
	}
}

// Config returns the configuration the agent runs with.
func (a *Agent) Config() Config { return a.cfg }

// Cache returns the agent's cache.
func (a *Agent) Cache() *secretcache.Cache { return a.cache }

// Handler returns the API handler (the AWS-agent-compatible endpoints; see
// the package documentation for every rule). It refuses other Hosts (421),
// requests over max_conn in progress (429), oversized targets (414),
// forwarded requests (400), bad tokens (403), other methods (405), unknown
// paths (404) and malformed or unknown parameters (400) before touching the
// cache. The connection bounds (idle connections closed over max_conn,
// HeaderTimeout, IdleTimeout) and the header size cap apply only when it is
// served by Serve.
func (a *Agent) Handler() http.Handler { return a.apiH }

// AdminHandler returns the admin handler: status page, readiness and
// monitoring endpoints. It refuses other Hosts (421, as the API), answers
// GET and HEAD only (405 otherwise), refuses targets over MaxURLBytes
// (414), 404s unknown paths, and never shows a secret value.
func (a *Agent) AdminHandler() http.Handler { return a.admin }

// Ready reports whether the start-up prefetch is done.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Listen binds the API listener and, unless admin_addr is "off", the admin
// listener. Errors name the address (a port in use, an address not on this
// host); calling it twice is an error.
func (a *Agent) Listen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.apiLn != nil {
		return errors.New("agent: already listening")
	}
	ln, err := net.Listen("tcp", a.cfg.Addr())
	if err != nil {
		return fmt.Errorf("agent: could not bind the API listener to %s: %w", a.cfg.Addr(), err)
	}
	if a.cfg.AdminEnabled() {
		aln, err := net.Listen("tcp", a.cfg.AdminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("agent: could not bind the admin listener to %s (admin_addr): %w", a.cfg.AdminAddr, err)
		}
		a.adminLn = aln
	}
	a.apiLn = &apiListener{Listener: ln, t: a.conns}
	return nil
}

// Addr returns the address the API listens on, or "" before Listen.
func (a *Agent) Addr() string { return a.listening(&a.apiLn) }

// AdminAddr returns the address the admin listener listens on, or "".
func (a *Agent) AdminAddr() string { return a.listening(&a.adminLn) }

// listening returns the address *ln listens on, or "" before Listen.
func (a *Agent) listening(ln *net.Listener) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if *ln == nil {
		return ""
	}
	return (*ln).Addr().String()
}

// Run listens and serves until ctx is done; see Serve.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		a.Close()
		return err
	}
	return a.Serve(ctx)
}

// Serve serves on the listeners of Listen until ctx is done, prefetching
// in the background; then it stops accepting, lets in-flight requests
// finish (up to shutdown_timeout_seconds), closes the cache and returns nil.
// It returns an error if a listener fails.
func (a *Agent) Serve(ctx context.Context) error {
	a.mu.Lock()
	apiLn, adminLn := a.apiLn, a.adminLn
	a.mu.Unlock()
	if apiLn == nil {
		return errors.New("agent: Serve before Listen")
	}
	defer a.Close()
	errLog := slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)
	// No per-request timeouts on the API server: the connection tracker
	// enforces HeaderTimeout, IdleTimeout and the request bound with one
	// sweep (see connTracker), and its ConnState hook keeps connections that
	// serve nothing from keeping clients out.
	apiSrv := &http.Server{
		Handler:                      a.apiH,
		ConnState:                    a.conns.connState,
		MaxHeaderBytes:               MaxHeaderBytes,
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     errLog,
	}
	stopBackground := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { a.conns.run(stopBackground) })
	bg.Go(func() { a.pruneLoop(stopBackground) })
	bg.Go(func() { a.runTemplates(stopBackground) }) // templates.go
	defer func() { close(stopBackground); bg.Wait() }()
	servers := []*http.Server{apiSrv}
	errc := make(chan error, 2)
	go func() { errc <- apiSrv.Serve(apiLn) }()
	if adminLn != nil {
		adminSrv := &http.Server{
			Handler:           a.admin,
			ReadHeaderTimeout: HeaderTimeout,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      time.Minute,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          errLog,
		}
		servers = append(servers, adminSrv)
		go func() { errc <- adminSrv.Serve(adminLn) }()
	}
	attrs := []any{"addr", apiLn.Addr().String(), "version", secretcache.Version}
	if adminLn != nil {
		attrs = append(attrs, "admin", adminLn.Addr().String())
	}
	a.log.Info("secretcache agent listening", attrs...)
	adminAt := ""
	if adminLn != nil {
		adminAt = adminLn.Addr().String()
	}
	for _, w := range listenWarnings(apiLn.Addr().String(), adminAt) {
		a.log.Warn(w)
	}
	pctx, stopPrefetch := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { a.runPrefetch(pctx) })

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("agent: %w", err)
		}
	}
	stopPrefetch()
	a.log.Info("secretcache agent shutting down: draining requests", "timeout", time.Duration(a.cfg.ShutdownSeconds)*time.Second)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(a.cfg.ShutdownSeconds)*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("requests still running at the end of the drain; closing them", "err", err)
			_ = srv.Close()
		}
	}
	pwg.Wait()
	a.log.Info("secretcache agent stopped")
	return serveErr
}

// Close closes the cache and the source the agent built. Serve calls it on
// the way out; it is safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		if a.apiLn != nil {
			_ = a.apiLn.Close()
		}
		if a.adminLn != nil {
			_ = a.adminLn.Close()
		}
		a.mu.Unlock()
		_ = a.cache.Close()
		a.runClosers()
	})
	return nil
}
