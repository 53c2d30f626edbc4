package pgxsecret_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/internal/pgtest"
	"github.com/secretcache/secretcache/sqlsecret"
	"github.com/secretcache/secretcache/sqlsecret/pgxsecret"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// stages is a secret source whose versions tests move between stages.
type stages struct {
	mu     sync.Mutex
	byName map[string]*secretcache.Secret // stage -> version
}

func (s *stages) set(stage, version string, d creds.Database) {
	raw, _ := d.SecretJSON()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName == nil {
		s.byName = map[string]*secretcache.Secret{}
	}
	s.byName[stage] = &secretcache.Secret{Name: "db", VersionID: version, VersionStages: []string{stage}, String: string(raw)}
}

func (s *stages) get(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	stage := ref.VersionStage
	if stage == "" {
		stage = "AWSCURRENT"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.byName[stage]; ok && ref.ID == "db" {
		cp := *v
		return &cp, nil
	}
	return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
}

func password() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type fixture struct {
	pg    *pgtest.Server
	src   *stages
	cache *secretcache.Cache
	conn  *sqlsecret.Connector
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{pg: pgtest.Start(t, pgtest.WithMD5()), src: &stages{}}
	c, err := secretcache.New(secretcache.SourceFunc(f.src.get), secretcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	f.cache = c
	if f.conn, err = sqlsecret.New(c, "db", sqlsecret.WithLogger(quiet())); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) secret(user, pw string) creds.Database {
	return creds.Database{Engine: "postgres", Host: f.pg.Host, Port: creds.Port(f.pg.Port), Username: user, Password: pw, DBName: "postgres"}
}

func (f *fixture) pool(t *testing.T, connString string) (*pgxpool.Pool, *pgxpool.Config) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxsecret.NewPool(context.Background(), f.conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, cfg
}

func who(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var u string
	if err := pool.QueryRow(context.Background(), "select current_user").Scan(&u); err != nil {
		t.Fatal(err)
	}
	return u
}

// A pool logs in with the secret, whatever its own connection string
// says, follows a rotation (the database has the AWSPENDING password), and
// runs the caller's hooks once per connection.
func TestPool(t *testing.T) {
	f := newFixture(t)
	pw1 := password()
	f.pg.CreateRole(t, "app", pw1)
	f.src.set("AWSCURRENT", "v1", f.secret("app", pw1))
	var before, after atomic.Int64
	cfg, err := pgxpool.ParseConfig("host=192.0.2.1 port=1 user=nobody password=nothing dbname=nowhere sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error { before.Add(1); return nil }
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		after.Add(1)
		_, err := c.Exec(ctx, "set application_name = 'pgxsecret-test'")
		return err
	}
	cfg.MaxConns = 1
	pool, err := pgxsecret.NewPool(context.Background(), f.conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if u := who(t, pool); u != "app" {
		t.Fatal(u)
	}
	var app string
	if err := pool.QueryRow(context.Background(), "show application_name").Scan(&app); err != nil || app != "pgxsecret-test" {
		t.Fatal(app, err)
	}

	// setSecret ran (the database has the pending password), finishSecret
	// not yet: a new connection is refused AWSCURRENT and finds AWSPENDING.
	pw2 := password()
	if err := f.pg.SetPassword(context.Background(), "app", pw2); err != nil {
		t.Fatal(err)
	}
	f.src.set("AWSPENDING", "v2", f.secret("app", pw2))
	pool.Reset() // new connections from now on
	if u := who(t, pool); u != "app" {
		t.Fatal(u)
	}
	st := f.conn.Stats()
	if st.Connects != 2 || st.AuthFailures != 1 || st.PendingUsed != 1 || st.LastGoodVersion != "v2" || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
	if before.Load() != 2 || after.Load() != 2 {
		t.Fatalf("BeforeConnect ran %d times, AfterConnect %d, want 2 each", before.Load(), after.Load())
	}

	// Nobody knows the password: the pool fails with the Connector's error,
	// no password in it.
	if err := f.pg.SetPassword(context.Background(), "app", password()); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	err = pool.Ping(context.Background())
	var se *sqlsecret.Error
	if !errors.As(err, &se) || !errors.Is(err, sqlsecret.ErrAuth) || se.Code != "28P01" {
		t.Fatalf("%v", err)
	}
	for _, pw := range []string{pw1, pw2} {
		if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
			t.Fatal("password in error")
		}
	}
}

// A query canceled by its context is canceled on the server: the cancel
// request dials the server, not the handed-over connection.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	pw := password()
	f.pg.CreateRole(t, "app", pw)
	f.src.set("AWSCURRENT", "v1", f.secret("app", pw))
	pool, _ := f.pool(t, "sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := pool.Exec(ctx, "select pg_sleep(20)")
	var pgErr *pgconn.PgError
	if took := time.Since(start); err == nil || took > 10*time.Second {
		t.Fatalf("%v after %v", err, took)
	}
	if errors.As(err, &pgErr) && pgErr.Code != "57014" {
		t.Fatal(err)
	}
	if u := who(t, pool); u != "app" {
		t.Fatal(u)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	cfg, _ := pgxpool.ParseConfig("")
	if err := pgxsecret.Configure(nil, cfg); !errors.Is(err, secretcache.ErrInvalidRequest) || !strings.Contains(err.Error(), "nil Connector") {
		t.Fatal(err)
	}
	if err := pgxsecret.Configure(f.conn, nil); !errors.Is(err, secretcache.ErrInvalidRequest) || !strings.Contains(err.Error(), "nil pgxpool.Config") {
		t.Fatal(err)
	}
	if _, err := pgxsecret.NewPool(context.Background(), nil, nil); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	// Connector options that shape database/sql connections are refused,
	// not silently dropped (sslmode=verify-full would be lost).
	withParam, err := sqlsecret.New(f.cache, "db", sqlsecret.WithParam("sslmode", "verify-full"))
	if err != nil {
		t.Fatal(err)
	}
	pcfg, _ := pgxpool.ParseConfig("sslmode=disable")
	ppool, err := pgxsecret.NewPool(context.Background(), withParam, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ppool.Close()
	if err := ppool.Ping(context.Background()); !errors.Is(err, secretcache.ErrInvalidRequest) || !strings.Contains(err.Error(), "WithParam") {
		t.Fatalf("a Connector with WithParam: %v", err)
	}
	// A MySQL secret: refused before any login.
	leak := password()
	d := f.secret("app", leak)
	d.Engine = "mysql"
	f.src.set("AWSCURRENT", "v1", d)
	pool, _ := f.pool(t, "sslmode=disable")
	err = pool.Ping(context.Background())
	if !errors.Is(err, secretcache.ErrInvalidRequest) || !strings.Contains(err.Error(), "MySQL") || strings.Contains(err.Error(), leak) {
		t.Fatal(err)
	}
	// A secret with a missing field: named, no value.
	f.src.set("AWSCURRENT", "v2", creds.Database{Host: f.pg.Host, Username: "app", Password: ""})
	_, _ = f.cache.Refresh(context.Background(), "db")
	pool.Reset()
	if err := pool.Ping(context.Background()); !errors.Is(err, secretcache.ErrInvalidRequest) || !strings.Contains(err.Error(), "password") {
		t.Fatal(err)
	}
}

// WithEngine wins over the secret's engine field: a Connector forced to
// PostgreSQL logs a pool in though the secret says mysql.
func TestWithEngineWinsOverTheField(t *testing.T) {
	f := newFixture(t)
	pw := password()
	f.pg.CreateRole(t, "app", pw)
	d := f.secret("app", pw)
	d.Engine = "mysql"
	f.src.set("AWSCURRENT", "v1", d)
	forced, err := sqlsecret.New(f.cache, "db", sqlsecret.WithEngine("postgres"), sqlsecret.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := pgxpool.ParseConfig("sslmode=disable")
	pool, err := pgxsecret.NewPool(context.Background(), forced, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatalf("a Connector forced to PostgreSQL: %v", err)
	}
}
