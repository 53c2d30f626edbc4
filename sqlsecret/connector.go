package sqlsecret

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// How credentials that are no version of a stage were chosen, as
// Error.Stage and Attempt.Stage name them (besides the stages "AWSCURRENT"
// and "AWSPENDING").
const (
	StageLastGood = "last-good"
	StagePinned   = "pinned" // the version a PoolSpec pool was built from
)

// Stats counts what a Connector did.
type Stats struct {
	Connects     uint64 // Connect calls that returned a connection
	Failures     uint64 // Connect calls that returned an error
	Attempts     uint64 // connection attempts
	AuthFailures uint64 // attempts refused for the credentials (PostgreSQL's SQLSTATE 28P01 or 28000, MySQL's error 1045)
	Refreshes    uint64 // fresh reads of the secret asked for after an authentication failure (shared ones reach Secrets Manager once)
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
	eng     *engine
	version string
	at      int64 // unix nanos: when the first connection with them was made
}

// Connector is a database/sql/driver.Connector for PostgreSQL (pgx) and
// MySQL or MariaDB (go-sql-driver/mysql) that reads the RDS secret JSON
// (engine, host, port, username, password, dbname) from a
// secretcache.Cache at each new connection, so a pool picks up rotated
// credentials as it opens connections; the connections it has keep
// working. The secret's engine field chooses the driver ("postgres",
// "aurora-postgresql" or none: pgx; "mysql", "mariadb", "aurora-mysql":
// go-sql-driver/mysql) unless WithEngine forces one.
//
// When the server refuses the credentials (PostgreSQL's SQLSTATE 28P01 or
// 28000, MySQL's error 1045), the
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
	cache *secretcache.Cache // every read and refresh of the secret goes through it
	id    string
	cfg   config
	extra string // cfg's WithParam settings, rendered once for every connection string

	// lastGood are the credentials that last connected: the fallback while
	// a new version is refused.
	lastGood atomic.Pointer[goodCreds]
	// refusal is the AWSCURRENT version the server refused last, and pinRef
	// a PoolSpec pool's own: for ReprobeInterval, new connections try
	// lastGood first instead of paying a refused login each.
	refusal atomic.Pointer[refusal]
	pinRef  atomic.Pointer[refusal]

	// The counters of Stats.
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
	if secretcache.CheckID(id) != nil {
		return nil, &secretcache.Error{Op: "sqlsecret", ID: clip.ID(id), Kind: secretcache.ErrInvalidRequest,
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

// Driver implements driver.Connector: the driver of the engine WithEngine
// forces, else of the last connection made (pgx's stdlib driver before
// the first one). database/sql only returns it from DB.Driver.
func (c *Connector) Driver() driver.Driver {
	if c.cfg.engine != nil {
		return c.cfg.engine.driver
	}
	if g := c.lastGood.Load(); g != nil {
		return g.eng.driver
	}
	return postgres.driver
}

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
	eng     *engine
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
// the secret cannot be read, and with a secretcache.ErrInvalidRequest or
// secretcache.ErrNotJSON error naming the field when the secret is not a
// valid database secret of an engine the Connector serves. Other errors of
// the driver (a database that does not exist, a network error) end the
// Connect at once, the driver's error reachable with errors.As.
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
	cand, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	return c.connectFrom(ctx, cand)
}

// current returns the credentials a new connection tries first: the
// AWSCURRENT version as the cache has it, or the last good ones (see
// first).
func (c *Connector) current(ctx context.Context) (candidate, error) {
	s, err := c.cache.Get(ctx, c.id)
	if err != nil {
		return candidate{}, err
	}
	cand, err := c.parse(s, awsname.StageCurrent)
	if err != nil {
		return candidate{}, err
	}
	return c.first(cand, c.refusal.Load()), nil
}

// first returns the credentials to try first instead of cand: the last
// good ones, when the server refused cand's version (rf) less than
// ReprobeInterval ago and other credentials have worked since. The refused
// version is then probed again once per ReprobeInterval only.
func (c *Connector) first(cand candidate, rf *refusal) candidate {
	if rf != nil && c.cfg.lastGood && rf.version == cand.version && time.Now().UnixNano()-rf.at < int64(ReprobeInterval) {
		if g := c.lastGood.Load(); g != nil && g.version != cand.version {
			return candidate{db: g.db, eng: g.eng, version: g.version, stage: StageLastGood}
		}
	}
	return cand
}

// fresh returns the stage of the secret as Secrets Manager had it at mark
// or later: the cached value when it was fetched after mark, else the
// cache's refresh, joined while it runs, so that the connections refused
// together share one read (Cache.Refresh with IfOlderThan).
func (c *Connector) fresh(ctx context.Context, stage string, mark int64) (*secretcache.Secret, error) {
	c.refreshes.Add(1)
	since := secretcache.IfOlderThan(max(time.Duration(time.Now().UnixNano()-mark), 1))
	if stage == awsname.StagePending {
		return c.cache.Refresh(ctx, c.id, secretcache.WithVersionStage(awsname.StagePending), since)
	}
	return c.cache.Refresh(ctx, c.id, since)
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
	var eng *engine
	if err == nil {
		if eng = c.cfg.engine; eng == nil {
			eng = engineNamed(db.Engine)
		}
		if eng == nil {
			err = &secretcache.Error{Op: "sqlsecret", Kind: secretcache.ErrInvalidRequest,
				Err: fmt.Errorf("engine %.32q is not one of %s (WithEngine forces one)", db.Engine, engineList())}
		} else {
			err = c.fits(eng)
		}
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
	if db.Port == 0 {
		db.Port = creds.Port(eng.defaultPort)
	}
	return candidate{db: db, eng: eng, version: s.VersionID, stage: stage, unset: stage == awsname.StagePending && !s.HasStage(awsname.StageCurrent)}, nil
}

// dial opens one connection with cand's credentials.
func (c *Connector) dial(ctx context.Context, cand candidate) (driver.Conn, error) {
	c.attempts.Add(1)
	return cand.eng.connect(ctx, c, cand.db)
}

func (c *Connector) succeeded(cand candidate) {
	switch cand.stage {
	case awsname.StagePending:
		c.pendingUsed.Add(1)
	case StageLastGood:
		c.lastGoodUsed.Add(1)
		return // the current version is still refused
	}
	if cand.stage == awsname.StageCurrent && c.refusal.Load() != nil {
		c.refusal.Store(nil)
	}
	if pr := c.pinRef.Load(); cand.stage == StagePinned && pr != nil && pr.version == cand.version {
		c.pinRef.CompareAndSwap(pr, nil)
	}
	if g := c.lastGood.Load(); g == nil || g.version != cand.version {
		c.lastGood.Store(&goodCreds{db: cand.db, eng: cand.eng, version: cand.version, at: time.Now().UnixNano()})
	}
}
