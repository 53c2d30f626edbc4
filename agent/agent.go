package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/monitor"
)

// Agent is the secretcache sidecar: an HTTP server compatible with the AWS
// Secrets Manager Agent in front of a secretcache.Cache, with an admin
// listener for the status page and monitoring. Create it with New, then
// call Run (or Listen and Serve). It is safe for concurrent use.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	src     secretcache.Source
	cache   *secretcache.Cache
	hits    *hitTable
	api     *api
	conns   *connTracker // the API listener's connections
	hosts   *hostPolicy
	admin   http.Handler
	ready   atomic.Bool
	started time.Time
	extras  []func(mux *http.ServeMux) error
	links   []string
	// monitorReport is the monitor package's report, when monitoring is on.
	monitorReport func() string
	closeOnce     sync.Once
	closers       []func()

	mu       sync.Mutex
	apiLn    net.Listener
	adminLn  net.Listener
	prefetch PrefetchStatus

	mon *monitor.Monitor

	start StartInfo
}

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

// NewLogger returns the logger the configuration asks for: level debug,
// info, warn, error or none (any case), format text or json, writing to w.
// An unknown level means info and an unknown format text (Config.Validate
// refuses both before this is reached).
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "none":
		return slog.New(slog.DiscardHandler)
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
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
	log := o.logger
	closeLog := func() error { return nil }
	if log == nil {
		if log, closeLog, err = cfg.OpenLogger(os.Stderr); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	token, tokenSrc := o.token, TokenSource{Bytes: len(o.token)}
	if !o.hasToken {
		lookup := o.lookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		if token, tokenSrc, err = LoadToken(cfg.SSRFEnvVariables, lookup, log); err != nil {
			_ = closeLog()
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	hosts, err := newHostPolicy(append(slices.Clone(cfg.AllowedHosts), o.hosts...))
	if err != nil {
		_ = closeLog()
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, started: time.Now(), hosts: hosts,
		hits:    &hitTable{max: int64(2*cfg.CacheSize + 100)},
		closers: []func(){func() { _ = closeLog() }},
		start:   StartInfo{Token: tokenSrc}}
	monOpts := []monitor.Option{monitor.WithLogger(log)}
	if r := cfg.PrimaryRegion(); r != "" {
		monOpts = append(monOpts, monitor.WithRegion(r))
	}
	a.mon = monitor.New(nil, monOpts...)
	a.src = o.src
	if a.src == nil {
		src, info, err := newAWSSource(ctx, cfg, o.awsCfg, log, a.mon.ObserveCall)
		if err != nil {
			a.runClosers()
			return nil, err
		}
		a.src, a.start.AWS = src, &info
	}
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
		secretcache.WithLogger(log),
		secretcache.WithReadHook(a.hits.hook),
	}
	if cfg.AuditLog {
		copts = append(copts, secretcache.WithReadHook(monitor.AuditHook(log)))
	}
	for _, p := range cfg.TTLPolicies {
		copts = append(copts, secretcache.WithPolicy(p.Pattern, time.Duration(p.TTLSeconds)*time.Second))
	}
	copts = append(copts, o.cacheOpts...)
	cache, err := secretcache.New(a.src, copts...)
	if err != nil {
		a.runClosers()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.cache = cache
	a.api = &api{
		cache: cache, tok: newTokenChecker(token, cfg.SSRFHeaders), hosts: hosts, refs: a.hits,
		prefix: cfg.PathPrefix, maxConn: int64(cfg.MaxConn),
		timeout:      time.Duration(cfg.RequestTimeoutSeconds) * time.Second,
		fetchTimeout: time.Duration(cfg.FetchTimeoutMS) * time.Millisecond,
		caching:      cfg.Caching(), serveStale: cfg.IgnoreTransientErrors, ready: &a.ready, log: log,
	}
	a.conns = newConnTracker(cfg.MaxConn, max(a.api.timeout, 2*a.api.fetchTimeout))
	if err := a.setupMonitoring(); err != nil {
		_ = cache.Close()
		a.runClosers()
		return nil, err
	}
	admin, err := a.newAdmin()
	if err != nil {
		_ = cache.Close()
		a.runClosers()
		return nil, err
	}
	a.admin = admin
	return a, nil
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
func (a *Agent) Handler() http.Handler { return a.api }

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
func (a *Agent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.apiLn == nil {
		return ""
	}
	return a.apiLn.Addr().String()
}

// AdminAddr returns the address the admin listener listens on, or "".
func (a *Agent) AdminAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.adminLn == nil {
		return ""
	}
	return a.adminLn.Addr().String()
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
		Handler:                      a.api,
		ConnState:                    a.conns.connState,
		MaxHeaderBytes:               MaxHeaderBytes,
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     errLog,
	}
	stopBackground := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { a.conns.run(stopBackground) })
	bg.Go(func() { a.pruneLoop(stopBackground) })
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

// PrefetchStatus describes the start-up prefetch.
type PrefetchStatus struct {
	IDs      int               `json:"ids"`               // secrets asked for (ids plus names listed by prefix)
	Fetched  int               `json:"fetched"`           // cached successfully
	Failed   map[string]string `json:"failed,omitempty"`  // id -> error kind (at most 100 listed)
	Attempts int               `json:"attempts"`          // rounds run (transient failures are retried)
	Started  time.Time         `json:"started,omitzero"`  // when it began, after the jitter
	Finished time.Time         `json:"finished,omitzero"` // when it ended
	Error    string            `json:"error,omitempty"`   // why it could not run (listing failed, say)
}

// prefetchRounds is how many times transient prefetch failures are tried.
const prefetchRounds = 3

// runPrefetch waits a random jitter, fetches the configured secrets in
// batches, retries transient failures, then marks the agent ready.
func (a *Agent) runPrefetch(ctx context.Context) {
	defer a.ready.Store(true)
	if !a.cfg.Caching() || (len(a.cfg.Prefetch) == 0 && len(a.cfg.PrefetchPrefix) == 0) {
		return
	}
	if j := a.cfg.PrefetchJitterSeconds; j > 0 {
		d := time.Duration(rand.Float64() * j * float64(time.Second))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if err := a.Prefetch(ctx); err != nil {
		a.log.Warn("prefetch incomplete", "err", err)
	}
}

// Prefetch fetches the secrets of the prefetch and prefetch_prefix settings
// (names under each prefix are listed through the source, which must then
// have a ListNames method, as awssm.Source does), in batches, and retries
// transient failures twice with a backoff. A secret counts as fetched only
// once the cache holds it; a listed name the cache would refuse is reported
// as failed (invalid_request) and not asked for. It returns what failed;
// the status page shows it too.
func (a *Agent) Prefetch(ctx context.Context) error {
	st := PrefetchStatus{Started: time.Now()}
	defer func() {
		st.Finished = time.Now()
		a.mu.Lock()
		a.prefetch = st
		a.mu.Unlock()
	}()
	ids := slices.Clone(a.cfg.Prefetch)
	if len(a.cfg.PrefetchPrefix) > 0 {
		lister, ok := a.src.(interface {
			ListNames(ctx context.Context, prefix string) ([]string, error)
		})
		if !ok {
			st.Error = "the source cannot list secret names; prefetch_prefix ignored"
			a.log.Warn(st.Error)
		} else {
			for _, p := range a.cfg.PrefetchPrefix {
				names, err := lister.ListNames(ctx, p)
				if err != nil {
					st.Error = fmt.Sprintf("listing names under %q failed: %s", truncate(p, 128), secretcache.KindName(err))
					a.log.Warn("prefetch: listing names failed", "prefix", p, "kind", secretcache.KindName(err))
					continue
				}
				ids = append(ids, names...)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > a.cfg.CacheSize {
		a.log.Warn("prefetch: more secrets than cache_size; fetching the first ones", "ids", len(ids), "cache_size", a.cfg.CacheSize)
		ids = ids[:a.cfg.CacheSize]
	}
	st.IDs = len(ids)
	failed := map[string]error{}
	todo := make([]string, 0, len(ids))
	for _, id := range ids {
		// prefetch is checked by Config.Check; names listed under a
		// prefix are not, and the cache would refuse these.
		if !validSecretID(id) {
			failed[id] = secretcache.NewError(secretcache.ErrInvalidRequest, truncate(id, 64), errors.New("not a valid secret id"))
			continue
		}
		todo = append(todo, id)
	}
	for round := 0; round < prefetchRounds && len(todo) > 0; round++ {
		if round > 0 {
			t := time.NewTimer(time.Duration(round) * time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return a.prefetchResult(&st, failed, ids)
			case <-t.C:
			}
		}
		st.Attempts++
		err := a.cache.Warm(ctx, todo...)
		errs := perID(err)
		// An id counts as fetched only when the cache holds it: not
		// because Warm named no error for it (Warm may end early, for a
		// cancelled context say, with one error naming no id).
		cached := a.cachedIDs(todo)
		var again []string
		for _, id := range todo {
			e, named := errs[id]
			if !named && cached[id] {
				delete(failed, id)
				continue
			}
			if !named {
				e = err // the whole call failed, or ended before this id
				if e == nil {
					e = secretcache.NewError(secretcache.ErrUnavailable, truncate(id, 64), errors.New("fetched but no longer cached"))
				}
			}
			failed[id] = e
			if secretcache.IsTransient(e) || !named && !errors.Is(e, secretcache.ErrClosed) {
				again = append(again, id)
			}
		}
		todo = again
	}
	return a.prefetchResult(&st, failed, ids)
}

func (a *Agent) prefetchResult(st *PrefetchStatus, failed map[string]error, ids []string) error {
	st.Fetched = len(ids) - len(failed)
	if len(failed) == 0 {
		a.log.Info("prefetch done", "secrets", len(ids))
		return nil
	}
	st.Failed = map[string]string{}
	names := make([]string, 0, len(failed))
	for id := range failed {
		names = append(names, id)
	}
	slices.Sort(names)
	for i, id := range names {
		if i < 100 {
			st.Failed[id] = secretcache.KindName(failed[id])
		}
		a.log.Warn("prefetch: secret not fetched", "secret", id, "kind", secretcache.KindName(failed[id]))
	}
	return fmt.Errorf("agent: prefetch: %d of %d secrets not fetched", len(failed), len(ids))
}

// cachedIDs returns which of ids the cache holds a value of (the current
// version, as Warm fetches).
func (a *Agent) cachedIDs(ids []string) map[string]bool {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]bool, len(ids))
	for e := range a.cache.Entries() {
		if e.Ref.VersionID == "" && (e.Ref.VersionStage == "" || e.Ref.VersionStage == awsname.StageCurrent) && want[e.Ref.ID] {
			out[e.Ref.ID] = true
		}
	}
	return out
}

// perID maps the per-secret errors inside a Warm error to their ids.
func perID(err error) map[string]error {
	out := map[string]error{}
	var walk func(error)
	walk = func(e error) {
		if se, ok := e.(*secretcache.Error); ok && se.ID != "" {
			out[se.ID] = e
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
