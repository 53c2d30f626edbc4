package sqlsecret

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
)

// Stage names.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StageLastGood = "last-good"
	StagePinned   = "pinned" // the version a PoolSpec pool was built from
)

// DefaultMaxAttempts is the default bound on connection attempts of one
// Connect call: the first attempt and two rounds of three (AWSCURRENT,
// AWSPENDING, last good), as described at Connector.
const DefaultMaxAttempts = 7

// Option configures a Connector.
type Option func(*config) error

type config struct {
	params      map[string]string
	dbname      string
	maxAttempts int
	pending     bool
	lastGood    bool
	configure   func(*pgx.ConnConfig) error
	logger      *slog.Logger
}

// settings owned by the secret, which WithParam may not set.
var ownKeys = map[string]bool{"host": true, "hostaddr": true, "port": true, "user": true, "password": true,
	"dbname": true, "database": true, "passfile": true, "service": true, "servicefile": true}

// WithParam adds a connection setting, as in a libpq connection string:
// WithParam("sslmode", "verify-full"), WithParam("application_name",
// "orders"). It fails for the settings the secret provides (host, port,
// user, password, dbname and their aliases), for a key that is not
// lower-case letters, digits and '_', and for a value over 1024 bytes or
// holding a NUL.
func WithParam(key, value string) Option {
	return func(c *config) error {
		if key == "" || len(key) > 64 || strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return fmt.Errorf("sqlsecret: parameter name %.64q must be lower-case letters, digits and _", key)
		}
		if ownKeys[key] {
			return fmt.Errorf("sqlsecret: %q comes from the secret and cannot be set with WithParam", key)
		}
		if len(value) > 1024 || strings.IndexByte(value, 0) >= 0 {
			return fmt.Errorf("sqlsecret: value of %q is over 1024 bytes or holds a NUL", key)
		}
		c.params[key] = value
		return nil
	}
}

// WithDatabase connects to the named database instead of the secret's
// dbname. It fails for a name over 1024 bytes or with control characters.
func WithDatabase(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 1024 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return errors.New("sqlsecret: database name must be 1..1024 bytes without control characters")
		}
		c.dbname = name
		return nil
	}
}

// WithMaxAttempts bounds the connection attempts of one Connect call, the
// first included (default DefaultMaxAttempts, 7; at most 10). A smaller
// bound cuts the search described at Connector short: while rotations run
// back to back a connection may need 5 attempts. It fails outside 1..10.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 10 {
			return fmt.Errorf("sqlsecret: max attempts must be in 1..10, got %d", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithoutPending never tries the AWSPENDING version after an authentication
// failure.
func WithoutPending() Option {
	return func(c *config) error { c.pending = false; return nil }
}

// WithoutLastGood never falls back to the last credentials that connected
// when every version of the secret is refused.
func WithoutLastGood() Option {
	return func(c *config) error { c.lastGood = false; return nil }
}

// WithConfig sets a function that adjusts each connection's pgx
// configuration (TLS, tracer, runtime parameters) before it connects. An
// error from it fails the Connect.
func WithConfig(fn func(*pgx.ConnConfig) error) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("sqlsecret: nil config function")
		}
		c.configure = fn
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()). Logs name the secret,
// versions and SQLSTATEs, never a password.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sqlsecret: nil logger")
		}
		c.logger = l
		return nil
	}
}

func newConfig(opts []Option) (config, error) {
	c := config{params: map[string]string{}, maxAttempts: DefaultMaxAttempts, pending: true, lastGood: true}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("sqlsecret: nil option")
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// paramString renders the extra settings, sorted, each value quoted.
func (c *config) paramString() string {
	keys := make([]string, 0, len(c.params))
	for k := range c.params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(" " + k + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(c.params[k]) + "'")
	}
	return b.String()
}

// Stats counts what a Connector did.
type Stats struct {
	Connects     uint64 // Connect calls that returned a connection
	Failures     uint64 // Connect calls that returned an error
	Attempts     uint64 // connection attempts
	AuthFailures uint64 // attempts refused with SQLSTATE 28P01 or 28000
	Refreshes    uint64 // secret refreshes made after an authentication failure
	SecondRounds uint64 // Connect calls that read the secret again after every candidate was refused
	PendingUsed  uint64 // connections made with the AWSPENDING version
	LastGoodUsed uint64 // connections made with the last good credentials
	// LastGoodVersion is the secret version that last connected.
	LastGoodVersion string
	// CurrentRefused tells that the last attempt with the AWSCURRENT version
	// was refused by the server and no later one succeeded.
	CurrentRefused bool
}

// ReprobeInterval is how long after the server refused the AWSCURRENT
// version the Connector connects with the last good credentials first,
// before trying that version again.
const ReprobeInterval = time.Second

// refusal records the AWSCURRENT version, or the version of a PoolSpec
// pool, that the server last refused.
type refusal struct {
	version string
	at      int64 // unix nanos
}

// goodCreds are credentials that connected, for the last-good fallback.
type goodCreds struct {
	db      creds.Database
	version string
	at      int64 // unix nanos: when the first connection with them was made
}

// Connector is a database/sql/driver.Connector for PostgreSQL (pgx) that
// reads the RDS secret JSON (engine, host, port, username, password,
// dbname) from a secretcache.Cache at each new connection, so a pool picks
// up rotated credentials as it opens connections; the connections it has
// keep working.
//
// When the server refuses the credentials (SQLSTATE 28P01 or 28000), the
// Connector looks for others, making at most WithMaxAttempts attempts and
// never sleeping, in a round of three: the AWSCURRENT version, read from
// Secrets Manager as it is since the refused login began (one
// GetSecretValue shared with the other connections refused meanwhile);
// then the AWSPENDING version, read the same way (during a rotation, the
// database has the pending password before the secret's AWSCURRENT label
// moves); then the credentials that last connected (a bad new version does
// not take the database away while the old password still works). When
// all of these were refused, it makes the round once more, both stages read
// again after the last refusal, AWSPENDING first (so that a version
// finishSecret moves from AWSPENDING to AWSCURRENT between the two reads is
// seen by one of them): a rotation may have moved on while the connection
// logged in (the AWSCURRENT it read was rotated away, the AWSPENDING it
// read was not in the database yet). A version is tried once
// per Connect, except an AWSPENDING version that was not also AWSCURRENT:
// refused, it may have been waiting for the setSecret step, so it is tried
// once more, at the end of a round, after the versions not tried yet. No
// step sleeps; besides its first (usually cached) read, a Connect forces
// at most 4 reads of the secret.
//
// A Connector never puts a password in an error or a log. It is safe for
// concurrent use.
type Connector struct {
	cache *secretcache.Cache
	id    string
	cfg   config
	extra string

	flights  [2]flights // refreshes of AWSCURRENT and AWSPENDING
	lastGood atomic.Pointer[goodCreds]
	refusal  atomic.Pointer[refusal] // of AWSCURRENT
	pinRef   atomic.Pointer[refusal] // of a pool's version

	connects, failures, attempts, authFailures, refreshes, secondRounds, pendingUsed, lastGoodUsed atomic.Uint64
}

var _ driver.Connector = (*Connector)(nil)

// New returns a Connector for the secret id, read through c. It reads
// nothing yet. It fails with secretcache.ErrInvalidRequest for a nil cache
// or an empty, oversized or malformed id, and with the option's error for
// an invalid option.
func New(c *secretcache.Cache, id string, opts ...Option) (*Connector, error) {
	if c == nil {
		return nil, &secretcache.Error{Op: "sqlsecret", ID: id, Kind: secretcache.ErrInvalidRequest, Err: errors.New("nil cache")}
	}
	if !validID(id) {
		if len(id) > 64 {
			id = id[:64] + "..."
		}
		return nil, &secretcache.Error{Op: "sqlsecret", ID: id, Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("secret id must be 1..2048 printable characters without spaces")}
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Connector{cache: c, id: id, cfg: cfg, extra: cfg.paramString()}, nil
}

// OpenDB returns a *sql.DB whose connections come from a new Connector
// (see New). Set its pool limits as usual (SetMaxOpenConns,
// SetConnMaxLifetime...).
func OpenDB(c *secretcache.Cache, id string, opts ...Option) (*sql.DB, error) {
	conn, err := New(c, id, opts...)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

func validID(id string) bool {
	if id == "" || len(id) > secretcache.MaxIDLength {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// Driver implements driver.Connector: the pgx stdlib driver.
func (c *Connector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// SecretID returns the id of the secret the Connector reads.
func (c *Connector) SecretID() string { return c.id }

// Stats returns the Connector's counters.
func (c *Connector) Stats() Stats {
	s := Stats{Connects: c.connects.Load(), Failures: c.failures.Load(), Attempts: c.attempts.Load(),
		AuthFailures: c.authFailures.Load(), Refreshes: c.refreshes.Load(), SecondRounds: c.secondRounds.Load(),
		PendingUsed: c.pendingUsed.Load(), LastGoodUsed: c.lastGoodUsed.Load(), CurrentRefused: c.refusal.Load() != nil}
	if g := c.lastGood.Load(); g != nil {
		s.LastGoodVersion = g.version
	}
	return s
}

// candidate is one set of credentials to try.
type candidate struct {
	db      creds.Database
	version string
	stage   string
	// unset tells that the database may not have these credentials yet: an
	// AWSPENDING version not also AWSCURRENT, before or during setSecret.
	unset bool
}

// Connect implements driver.Connector: it opens one connection with the
// secret's credentials, trying others after an authentication failure as
// described at Connector. It fails with an *Error (errors.Is ErrAuth when
// the server refused every credential tried), with the cache's error when
// the secret cannot be read, and with a secretcache.ErrInvalidRequest error
// naming the field when the secret is not a valid PostgreSQL secret.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	return c.count(c.connect(ctx))
}

// connectPinned connects with cand first (a PoolSpec pool), unless the
// server refused it a moment ago (see first).
func (c *Connector) connectPinned(ctx context.Context, cand candidate) (driver.Conn, error) {
	return c.count(c.connectFrom(ctx, c.first(cand, c.pinRef.Load())))
}

func (c *Connector) count(conn driver.Conn, err error) (driver.Conn, error) {
	if err != nil {
		c.failures.Add(1)
		return nil, err
	}
	c.connects.Add(1)
	return conn, nil
}

func (c *Connector) connect(ctx context.Context) (driver.Conn, error) {
	s, err := c.cache.Get(ctx, c.id)
	if err != nil {
		return nil, err
	}
	cand, err := c.parse(s, StageCurrent)
	if err != nil {
		return nil, err
	}
	return c.connectFrom(ctx, c.first(cand, c.refusal.Load()))
}

// first returns the credentials to try first instead of cand: the last
// good ones, when the server refused cand's version (rf) less than
// ReprobeInterval ago and other credentials have worked since. The refused
// version is then probed again once per ReprobeInterval only.
func (c *Connector) first(cand candidate, rf *refusal) candidate {
	if rf != nil && c.cfg.lastGood && rf.version == cand.version && time.Now().UnixNano()-rf.at < int64(ReprobeInterval) {
		if g := c.lastGood.Load(); g != nil && g.version != cand.version {
			return candidate{db: g.db, version: g.version, stage: StageLastGood}
		}
	}
	return cand
}

// stageRetry is the step of a round that tries again the AWSPENDING
// versions refused before they may have been set in the database.
const stageRetry = "retry"

// steps are where connectFrom looks for credentials after a refusal, in
// order: two rounds of AWSCURRENT and AWSPENDING, each read afresh from
// Secrets Manager, the last good credentials, and the retries.
var steps = [...]string{StageCurrent, StagePending, StageLastGood, stageRetry,
	StageCurrent, StagePending, StageLastGood, stageRetry}

// secondRound is the index in steps of the second round's first step.
const secondRound = 4

// search finds the credentials to try after a refusal.
type search struct {
	step int
	// refused holds the versions refused so far.
	refused map[string]refused
	retries []candidate
	pending *candidate // the second round's AWSPENDING, read before its AWSCURRENT
}

// refused is a version the server refused in a Connect.
type refused struct {
	at int64 // unix nanos: the refused login began
	// again tells that it may be tried once more: refused as AWSPENDING, it
	// may not have been in the database yet.
	again bool
}

// refuse records that the server refused cand in the login begun at mark.
func (s *search) refuse(cand candidate, mark int64) {
	if s.refused == nil {
		s.refused = make(map[string]refused, DefaultMaxAttempts)
	}
	_, before := s.refused[cand.version]
	s.refused[cand.version] = refused{at: mark, again: cand.unset && !before}
}

// load reads a stage as Secrets Manager has it since mark.
func (s *search) load(ctx context.Context, c *Connector, stage string, mark int64) (candidate, bool) {
	sec, err := c.fresh(ctx, stage, mark)
	if err != nil {
		return candidate{}, false
	}
	cand, err := c.parse(sec, stage)
	return cand, err == nil
}

// next returns the next credentials to try, or false when there are none
// left. The first round reads a stage as Secrets Manager has it since mark,
// the start of the refused login: a read that began after it, shared by
// all the connections refused since it began. The second round's reads
// begin after it starts, after every refusal and read so far (a login can
// take longer than a rotation step, and a read that began during it may
// predate the step that got it refused); they read AWSPENDING before
// AWSCURRENT, so that a version finishSecret moves from one label to the
// other between the two reads is seen by one of them.
func (s *search) next(ctx context.Context, c *Connector, mark int64) (candidate, bool) {
	for s.step < len(steps) && ctx.Err() == nil {
		if s.step == secondRound {
			mark = time.Now().UnixNano()
			if c.cfg.pending {
				if p, ok := s.load(ctx, c, StagePending, mark); ok {
					s.pending = &p
				}
			}
		}
		stage := steps[s.step]
		if stage == stageRetry {
			if len(s.retries) == 0 {
				s.step++
				continue
			}
			cand := s.retries[0]
			s.retries = s.retries[1:]
			if s.refused[cand.version].again {
				return cand, true
			}
			continue
		}
		s.step++
		if s.step == secondRound+1 {
			c.secondRounds.Add(1)
		}
		var cand candidate
		switch {
		case stage == StageLastGood:
			g := c.lastGood.Load()
			if !c.cfg.lastGood || g == nil {
				continue
			}
			cand = candidate{db: g.db, version: g.version, stage: StageLastGood}
		case stage == StagePending && !c.cfg.pending:
			continue
		case stage == StagePending && s.step > secondRound:
			if s.pending == nil {
				continue
			}
			cand = *s.pending
		default:
			var ok bool
			if cand, ok = s.load(ctx, c, stage, mark); !ok {
				continue
			}
		}
		r, seen := s.refused[cand.version]
		if !seen {
			return cand, true
		}
		if g := c.lastGood.Load(); r.again && g != nil && g.version == cand.version && g.at < r.at {
			// It connected before it was refused here: it was not waiting
			// for setSecret but rotated away.
			r.again = false
			s.refused[cand.version] = r
		}
		if r.again && !slices.ContainsFunc(s.retries, func(x candidate) bool { return x.version == cand.version }) {
			s.retries = append(s.retries, cand)
		}
	}
	return candidate{}, false
}

// connectFrom connects with cand, then with the other credentials as
// described at Connector.
func (c *Connector) connectFrom(ctx context.Context, cand candidate) (driver.Conn, error) {
	var s search
	var tried []Attempt
	for attempt := 1; ; attempt++ {
		mark := time.Now().UnixNano()
		conn, err := c.dial(ctx, cand)
		if err == nil {
			c.succeeded(cand)
			return conn, nil
		}
		tried = append(tried, Attempt{Stage: cand.stage, VersionID: cand.version})
		last := sanitize(err, c.id, cand.version, cand.stage, cand.db.Password, attempt)
		last.Tried = tried
		if !isAuth(err) || ctx.Err() != nil {
			return nil, last
		}
		c.authFailures.Add(1)
		s.refuse(cand, mark)
		switch cand.stage {
		case StageCurrent:
			c.refusal.Store(&refusal{version: cand.version, at: time.Now().UnixNano()})
		case StagePinned:
			c.pinRef.Store(&refusal{version: cand.version, at: time.Now().UnixNano()})
		}
		c.cfg.logger.Warn("sqlsecret: credentials refused", "secret", c.id, "version", cand.version,
			"stage", cand.stage, "sqlstate", last.SQLState, "attempt", attempt)
		if attempt >= c.cfg.maxAttempts {
			return nil, last
		}
		// Find the next credentials, never sleeping.
		var ok bool
		if cand, ok = s.next(ctx, c, mark); !ok {
			return nil, last
		}
	}
}

// flight is one refresh of a stage, shared by the connections that need
// it.
type flight struct {
	start int64 // unix nanos: the fetch began after this
	done  chan struct{}
	s     *secretcache.Secret
	err   error
}

type flights struct {
	mu     sync.Mutex
	latest *flight
}

// fresh returns the stage of the secret as Secrets Manager had it at mark
// or later: the result of a refresh that began after mark (joining one
// under way), else of a new refresh (Cache.Refresh, itself shared with the
// concurrent callers).
func (c *Connector) fresh(ctx context.Context, stage string, mark int64) (*secretcache.Secret, error) {
	i, opts := 0, []secretcache.GetOption(nil)
	if stage == StagePending {
		i, opts = 1, []secretcache.GetOption{secretcache.WithVersionStage(StagePending)}
	}
	f := &c.flights[i]
	f.mu.Lock()
	fl := f.latest
	if fl == nil || fl.start < mark {
		fl = &flight{start: time.Now().UnixNano(), done: make(chan struct{})}
		f.latest = fl
		c.refreshes.Add(1)
		go func() {
			defer close(fl.done)
			fl.s, fl.err = c.cache.Refresh(context.WithoutCancel(ctx), c.id, opts...)
		}()
	}
	f.mu.Unlock()
	select {
	case <-fl.done:
		return fl.s, fl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// parse reads the credentials of a secret version.
func (c *Connector) parse(s *secretcache.Secret, stage string) (candidate, error) {
	if s.IsBinary() {
		return candidate{}, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrWrongType, Err: errors.New("binary secret; want the RDS JSON")}
	}
	db, err := creds.ParseDatabase(s.String)
	if err == nil {
		err = db.Validate()
	}
	if err == nil && !db.IsPostgres() {
		err = &secretcache.Error{Op: "sqlsecret", Kind: secretcache.ErrInvalidRequest, Err: fmt.Errorf("engine %.32q is not PostgreSQL", db.Engine)}
	}
	if err != nil {
		var se *secretcache.Error
		if errors.As(err, &se) {
			return candidate{}, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: se.Kind, Err: se.Err}
		}
		return candidate{}, err
	}
	if c.cfg.dbname != "" {
		db.DBName = c.cfg.dbname
	}
	return candidate{db: db, version: s.VersionID, stage: stage, unset: stage == StagePending && !s.HasStage(StageCurrent)}, nil
}

// dial opens one connection with cand's credentials.
func (c *Connector) dial(ctx context.Context, cand candidate) (driver.Conn, error) {
	c.attempts.Add(1)
	cfg, err := c.connConfig(cand.db)
	if err != nil {
		return nil, err
	}
	return stdlib.GetConnector(*cfg).Connect(ctx)
}

// connConfig builds the pgx configuration of db with the extra settings.
func (c *Connector) connConfig(db creds.Database) (*pgx.ConnConfig, error) {
	cs, err := db.ConnString()
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(cs + c.extra)
	if err != nil {
		// The parse error quotes the connection string; say less.
		return nil, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("the secret's host, port, user or dbname do not make a valid connection string")}
	}
	if c.cfg.configure != nil {
		if err := c.cfg.configure(cfg); err != nil {
			return nil, fmt.Errorf("sqlsecret: config function: %w", err)
		}
	}
	return cfg, nil
}

func (c *Connector) succeeded(cand candidate) {
	switch cand.stage {
	case StagePending:
		c.pendingUsed.Add(1)
	case StageLastGood:
		c.lastGoodUsed.Add(1)
		return // the current version is still refused
	}
	if cand.stage == StageCurrent && c.refusal.Load() != nil {
		c.refusal.Store(nil)
	}
	if pr := c.pinRef.Load(); cand.stage == StagePinned && pr != nil && pr.version == cand.version {
		c.pinRef.CompareAndSwap(pr, nil)
	}
	if g := c.lastGood.Load(); g == nil || g.version != cand.version {
		c.lastGood.Store(&goodCreds{db: cand.db, version: cand.version, at: time.Now().UnixNano()})
	}
}
