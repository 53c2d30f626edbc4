package sqlsecret_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/sqlsecret"
)

func opts(more ...sqlsecret.Option) []sqlsecret.Option {
	return append([]sqlsecret.Option{sqlsecret.WithParam("sslmode", "disable"), sqlsecret.WithLogger(quiet())}, more...)
}

func currentUser(t *testing.T, db *sql.DB) string {
	t.Helper()
	var u string
	if err := db.QueryRow("select current_user").Scan(&u); err != nil {
		t.Fatal(err)
	}
	return u
}

// put stores a new version of the secret with the given stages.
func (e *env) put(t *testing.T, id, user, password string, stages ...string) string {
	t.Helper()
	raw, _ := e.dbSecret(user, password).SecretJSON()
	v, err := e.sm.PutSecretValue("", id, string(raw), stages...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func noPassword(t *testing.T, err error, passwords ...string) {
	t.Helper()
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, p := range passwords {
			if strings.Contains(s, p) {
				t.Fatalf("password in error: %s", s)
			}
		}
	}
}

// connectorTest is the secret and database user that TestConnector's
// subtests share, one after the other.
type connectorTest struct {
	e       *env
	id, pw1 string
}

func TestConnector(t *testing.T) {
	k := &connectorTest{e: newEnv(t, secretcache.WithTTL(time.Hour)), id: "test/database/app", pw1: randomPassword()}
	k.e.addUser(t, k.id, "app", k.pw1)

	t.Run("connects and reads the secret per connection", k.connects)
	t.Run("refreshes AWSCURRENT after a rotation", k.refreshesCurrent)
	t.Run("uses AWSPENDING while the database is ahead of the secret", k.usesPending)
	t.Run("falls back to the last good credentials when the new version is wrong", k.fallsBackToLastGood)
	t.Run("max attempts", k.maxAttempts)
}

func (k *connectorTest) connects(t *testing.T) {
	e, id := k.e, k.id
	conn, err := sqlsecret.New(e.cache, id, opts(sqlsecret.WithParam("application_name", "it's me"))...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if u := currentUser(t, db); u != "app" {
		t.Fatal(u)
	}
	var app string
	if err := db.QueryRow("select current_setting('application_name')").Scan(&app); err != nil || app != "it's me" {
		t.Fatal(app, err)
	}
	if st := conn.Stats(); st.Connects != 1 || st.Attempts != 1 || st.AuthFailures != 0 || st.LastGoodVersion == "" {
		t.Fatalf("%+v", st)
	}
	if conn.SecretID() != id || conn.Driver() == nil {
		t.Fatal("accessors")
	}
}

func (k *connectorTest) refreshesCurrent(t *testing.T) {
	e, id, ctx := k.e, k.id, context.Background()
	conn, _ := sqlsecret.New(e.cache, id, opts()...)
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0)
	currentUser(t, db) // caches the version
	pw2 := randomPassword()
	if err := e.pg.SetPassword(ctx, "app", pw2); err != nil {
		t.Fatal(err)
	}
	e.put(t, id, "app", pw2) // AWSCURRENT moves; the cache still holds pw1 for an hour
	calls := e.sm.Calls("", "GetSecretValue")
	currentUser(t, db)
	st := conn.Stats()
	if st.AuthFailures != 1 || st.Refreshes != 1 || st.Connects != 2 || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
	if got := e.sm.Calls("", "GetSecretValue") - calls; got != 1 {
		t.Fatalf("%d GetSecretValue calls", got)
	}
	currentUser(t, db) // the next connection uses the refreshed value at once
	if st := conn.Stats(); st.Attempts != 4 {
		t.Fatalf("%+v", st)
	}
}

func (k *connectorTest) usesPending(t *testing.T) {
	e, id, ctx := k.e, k.id, context.Background()
	conn, _ := sqlsecret.New(e.cache, id, opts(sqlsecret.WithoutLastGood())...)
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0)
	currentUser(t, db)
	pw3 := randomPassword()
	pending := e.put(t, id, "app", pw3, "AWSPENDING")
	if err := e.pg.SetPassword(ctx, "app", pw3); err != nil { // setSecret ran, finishSecret not yet
		t.Fatal(err)
	}
	currentUser(t, db)
	st := conn.Stats()
	if st.PendingUsed != 1 || st.LastGoodVersion != pending || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
	// finishSecret
	cur, _ := e.sm.Secret("", id)
	if err := e.sm.UpdateStage("", id, "AWSCURRENT", pending, cur.Stage("AWSCURRENT")); err != nil {
		t.Fatal(err)
	}
	if err := e.sm.UpdateStage("", id, "AWSPENDING", "", pending); err != nil {
		t.Fatal(err)
	}
	currentUser(t, db)
	if st := conn.Stats(); st.Failures != 0 || st.CurrentRefused {
		t.Fatalf("%+v", st)
	}
}

func (k *connectorTest) fallsBackToLastGood(t *testing.T) {
	e, id, ctx := k.e, k.id, context.Background()
	conn, _ := sqlsecret.New(e.cache, id, opts()...)
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0)
	currentUser(t, db)
	good := conn.Stats().LastGoodVersion
	wrong := randomPassword()
	bad := e.put(t, id, "app", wrong) // the database never got it
	if _, err := e.cache.Refresh(ctx, id); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		currentUser(t, db)
	}
	st := conn.Stats()
	if st.LastGoodUsed != 5 || st.LastGoodVersion != good || !st.CurrentRefused || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
	// Within ReprobeInterval the refused version is not tried again.
	if st.AuthFailures != 1 {
		t.Fatalf("the refused version was retried: %+v", st)
	}

	// Without the fallback: a clear error, bounded, without sleeping,
	// without the password.
	strict, _ := sqlsecret.New(e.cache, id, opts(sqlsecret.WithoutLastGood())...)
	start := time.Now()
	_, err := strict.Connect(ctx)
	var se *sqlsecret.Error
	if !errors.Is(err, sqlsecret.ErrAuth) || !errors.As(err, &se) || se.SQLState != "28P01" || se.VersionID != bad {
		t.Fatalf("%v", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" || !sqlsecret.IsAuthError(err) {
		t.Fatal("no PgError", err)
	}
	if se.Attempts > sqlsecret.DefaultMaxAttempts || time.Since(start) > 5*time.Second {
		t.Fatalf("%d attempts in %v", se.Attempts, time.Since(start))
	}
	noPassword(t, err, wrong, k.pw1)

	// Fixed: the right password goes in; the connector follows.
	right := randomPassword()
	if err := e.pg.SetPassword(ctx, "app", right); err != nil {
		t.Fatal(err)
	}
	e.put(t, id, "app", right)
	currentUser(t, db)
	if st := conn.Stats(); st.CurrentRefused || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
}

func (k *connectorTest) maxAttempts(t *testing.T) {
	e, id, ctx := k.e, k.id, context.Background()
	if err := e.pg.SetPassword(ctx, "app", randomPassword()); err != nil { // nobody knows it
		t.Fatal(err)
	}
	one, _ := sqlsecret.New(e.cache, id, opts(sqlsecret.WithMaxAttempts(1))...)
	_, err := one.Connect(ctx)
	var se *sqlsecret.Error
	if !errors.As(err, &se) || se.Attempts != 1 || one.Stats().Refreshes != 0 {
		t.Fatalf("%v %+v", err, one.Stats())
	}
	many, _ := sqlsecret.New(e.cache, id, opts(sqlsecret.WithMaxAttempts(10))...)
	_, err = many.Connect(ctx)
	if !errors.As(err, &se) || se.Attempts > 10 || many.Stats().Refreshes > 4 {
		t.Fatalf("%v %+v", err, many.Stats())
	}
}

func TestConnectorBadSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	leak := "hunter2-secret"
	cases := map[string]struct {
		value string
		kind  error
	}{
		"not json":                       {leak, secretcache.ErrNotJSON},
		"array":                          {`["` + leak + `"]`, secretcache.ErrNotJSON},
		"no password":                    {`{"host":"127.0.0.1","username":"u"}`, secretcache.ErrInvalidRequest},
		"no host":                        {`{"username":"u","password":"` + leak + `"}`, secretcache.ErrInvalidRequest},
		"oracle":                         {`{"engine":"oracle","host":"h","username":"u","password":"` + leak + `"}`, secretcache.ErrInvalidRequest},
		"mysql with a PostgreSQL option": {`{"engine":"mysql","host":"h","username":"u","password":"` + leak + `"}`, secretcache.ErrInvalidRequest},
		"bad port":                       {`{"host":"h","port":"x` + leak + `","username":"u","password":"p"}`, secretcache.ErrNotJSON},
		"host inject":                    {`{"host":"h password=x","username":"u","password":"` + leak + `"}`, secretcache.ErrInvalidRequest},
	}
	for name, tc := range cases {
		id := "test/bad/" + strings.ReplaceAll(name, " ", "-")
		if _, err := e.sm.CreateSecret("", id, tc.value); err != nil {
			t.Fatal(err)
		}
		conn, err := sqlsecret.New(e.cache, id, opts()...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Connect(ctx)
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", name, err, tc.kind)
			continue
		}
		noPassword(t, err, leak)
		if conn.Stats().Failures != 1 || conn.Stats().Attempts != 0 {
			t.Errorf("%s: %+v", name, conn.Stats())
		}
	}
	if _, err := e.sm.CreateBinarySecret("", "test/bad/binary", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	conn, _ := sqlsecret.New(e.cache, "test/bad/binary", opts()...)
	if _, err := conn.Connect(ctx); !errors.Is(err, secretcache.ErrWrongType) {
		t.Fatal(err)
	}
	conn, _ = sqlsecret.New(e.cache, "test/bad/missing", opts()...)
	if _, err := conn.Connect(ctx); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestConnectorNetworkErrorsAreNotRetried(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	d := creds.Database{Engine: "postgres", Host: "127.0.0.1", Port: creds.Port(port), Username: "u", Password: "pw-" + randomPassword()}
	raw, _ := d.SecretJSON()
	if _, err := e.sm.CreateSecret("", "test/down", string(raw)); err != nil {
		t.Fatal(err)
	}
	conn, _ := sqlsecret.New(e.cache, "test/down", opts(sqlsecret.WithParam("connect_timeout", "2"))...)
	_, err = conn.Connect(context.Background())
	var se *sqlsecret.Error
	var ne net.Error
	if !errors.As(err, &se) || se.Attempts != 1 || errors.Is(err, sqlsecret.ErrAuth) || !errors.As(err, &ne) {
		t.Fatalf("%v", err)
	}
	noPassword(t, err, d.Password)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := conn.Connect(ctx); err == nil {
		t.Fatal("cancelled connect succeeded")
	}
}

func TestConnectorWithConfigAndDatabase(t *testing.T) {
	e := newEnv(t)
	const id = "test/database/cfg"
	e.addUser(t, id, "cfg_user", randomPassword())
	e.pg.MustExec(t, "CREATE DATABASE other OWNER cfg_user")
	called := 0
	conn, err := sqlsecret.New(e.cache, id, opts(sqlsecret.WithDatabase("other"), sqlsecret.WithConfig(func(c *pgx.ConnConfig) error {
		called++
		c.RuntimeParams["search_path"] = "public"
		return nil
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var name string
	if err := db.QueryRow("select current_database()").Scan(&name); err != nil || name != "other" || called != 1 {
		t.Fatal(name, err, called)
	}
	failing, _ := sqlsecret.New(e.cache, id, opts(sqlsecret.WithConfig(func(*pgx.ConnConfig) error { return errors.New("no TLS material") }))...)
	if _, err := failing.Connect(context.Background()); err == nil || !strings.Contains(err.Error(), "no TLS material") {
		t.Fatal(err)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	c, _ := secretcache.New(secretcache.SourceFunc(func(context.Context, secretcache.Ref) (*secretcache.Secret, error) {
		return nil, secretcache.NewError(secretcache.ErrNotFound, "", nil)
	}), secretcache.WithLogger(quiet()))
	defer c.Close()
	if _, err := sqlsecret.New(nil, "id"); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if _, err := sqlsecret.OpenDB(nil, "id"); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	for _, id := range []string{"", "a b", "x\x00", strings.Repeat("x", 3000)} {
		if _, err := sqlsecret.New(c, id); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Fatalf("%.20q: %v", id, err)
		}
	}
	bad := []sqlsecret.Option{nil, sqlsecret.WithParam("password", "x"), sqlsecret.WithParam("host", "x"),
		sqlsecret.WithParam("Bad Key", "x"), sqlsecret.WithParam("", "x"), sqlsecret.WithParam("k", "a\x00b"),
		sqlsecret.WithParam("k", strings.Repeat("v", 2000)), sqlsecret.WithDatabase(""), sqlsecret.WithDatabase("a\nb"),
		sqlsecret.WithMaxAttempts(0), sqlsecret.WithMaxAttempts(11), sqlsecret.WithConfig(nil), sqlsecret.WithLogger(nil)}
	for i, o := range bad {
		if _, err := sqlsecret.New(c, "id", o); err == nil {
			t.Fatalf("bad option %d accepted", i)
		}
		if _, err := sqlsecret.PoolSpec(c, "id", nil, o); err == nil {
			t.Fatalf("bad option %d accepted by PoolSpec", i)
		}
	}
	db, err := sqlsecret.OpenDB(c, "id", sqlsecret.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := sqlsecret.PoolSpec(nil, "id", nil); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	spec, err := sqlsecret.PoolSpec(c, "prod/database/a", nil, sqlsecret.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	other := &secretcache.Secret{Name: "prod/database/b", VersionID: "v1", String: `{"host":"h","username":"u","password":"p"}`}
	if _, err := spec.Build(context.Background(), other); !errors.Is(err, secretcache.ErrMismatch) {
		t.Fatal(err)
	}
	if err := spec.Validate(context.Background(), &sql.DB{}); err == nil {
		t.Fatal("validated a foreign pool")
	}
	if sqlsecret.IsAuthError(nil) || sqlsecret.IsAuthError(errors.New("x")) {
		t.Fatal("IsAuthError")
	}
}
