package sqlsecret_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/sqlsecret"
	"github.com/secretcache/secretcache/sqlsecret/pgxsecret"
)

// acceptCounter is a loopback listener that counts the connections made to
// it: a bad secret must not get as far as one.
type acceptCounter struct {
	ln      net.Listener
	accepts atomic.Int64
}

func countAccepts(t *testing.T) *acceptCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &acceptCounter{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.accepts.Add(1)
			_ = c.Close()
		}
	}()
	return a
}

func (a *acceptCounter) port() int { return a.ln.Addr().(*net.TCPAddr).Port }

// staticCache serves value as the AWSCURRENT version of every secret.
func staticCache(t *testing.T, value string) *secretcache.Cache {
	t.Helper()
	c, err := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: value}, nil
	}), secretcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Bad secrets, for each engine and pool: an error that names the field,
// never a value of the secret, and no connection attempt.
func TestBadSecretsPerEngine(t *testing.T) {
	const leak = "Leak3dSecretValue"
	ln := countAccepts(t)
	port := strconv.Itoa(ln.port())
	type badCase struct {
		name, value, field string
		kind               error
	}
	casesFor := func(engine string) []badCase {
		e := `"engine":"` + engine + `",`
		ok := `"host":"127.0.0.1","port":` + port + `,"username":"u","password":"` + leak + `"`
		return []badCase{
			{"not json", leak, "", secretcache.ErrNotJSON},
			{"missing host", `{` + e + `"port":` + port + `,"username":"u","password":"` + leak + `"}`, "host", secretcache.ErrInvalidRequest},
			{"missing username", `{` + e + `"host":"127.0.0.1","port":` + port + `,"password":"` + leak + `"}`, "username", secretcache.ErrInvalidRequest},
			{"missing password", `{` + e + `"host":"127.0.0.1","port":` + port + `,"username":"` + leak + `"}`, "password", secretcache.ErrInvalidRequest},
			{"username not a string", `{` + e + `"host":"127.0.0.1","username":5,"password":"` + leak + `"}`, "username", secretcache.ErrNotJSON},
			{"port not a number", `{` + e + `"host":"127.0.0.1","port":"x` + leak + `","username":"u","password":"p"}`, "port", secretcache.ErrNotJSON},
			{"port a boolean", `{` + e + `"host":"127.0.0.1","port":true,"username":"u","password":"` + leak + `"}`, "port", secretcache.ErrNotJSON},
			{"port over 65535", `{` + e + `"host":"127.0.0.1","port":70000,"username":"u","password":"` + leak + `"}`, "port", secretcache.ErrNotJSON},
			{"port negative", `{` + e + `"host":"127.0.0.1","port":-1,"username":"u","password":"` + leak + `"}`, "port", secretcache.ErrNotJSON},
			{"engine not a string", `{"engine":["` + leak + `"],` + ok + `}`, "engine", secretcache.ErrNotJSON},
			{"unknown engine", `{"engine":"sqlserver",` + ok + `}`, "engine", secretcache.ErrInvalidRequest},
			{"host with a space", `{` + e + `"host":"127.0.0.1 ` + leak + `","username":"u","password":"p"}`, "host", secretcache.ErrInvalidRequest},
		}
	}
	type way struct {
		name    string
		connect func(c *secretcache.Cache) (sqlsecret.Stats, error)
	}
	viaConnector := func(opts ...sqlsecret.Option) func(c *secretcache.Cache) (sqlsecret.Stats, error) {
		return func(c *secretcache.Cache) (sqlsecret.Stats, error) {
			conn, err := sqlsecret.New(c, "bad/db", append(opts, sqlsecret.WithLogger(quiet()))...)
			if err != nil {
				return sqlsecret.Stats{}, err
			}
			_, err = conn.Connect(context.Background())
			return conn.Stats(), err
		}
	}
	viaPgxpool := func(c *secretcache.Cache) (sqlsecret.Stats, error) {
		conn, err := sqlsecret.New(c, "bad/db", sqlsecret.WithLogger(quiet()))
		if err != nil {
			return sqlsecret.Stats{}, err
		}
		cfg, _ := pgxpool.ParseConfig("sslmode=disable")
		pool, err := pgxsecret.NewPool(context.Background(), conn, cfg)
		if err != nil {
			return sqlsecret.Stats{}, err
		}
		defer pool.Close()
		err = pool.Ping(context.Background())
		return conn.Stats(), err
	}
	for _, row := range []struct {
		engine string
		ways   []way
	}{
		{"postgres", []way{{"database/sql", viaConnector(sqlsecret.WithParam("sslmode", "disable"))}, {"pgxpool", viaPgxpool}}},
		{"aurora-postgresql", []way{{"database/sql", viaConnector()}}},
		{"mysql", []way{{"database/sql", viaConnector()}}},
		{"mariadb", []way{{"database/sql", viaConnector()}}},
		{"aurora-mysql", []way{{"database/sql", viaConnector()}}},
	} {
		for _, w := range row.ways {
			for _, tc := range casesFor(row.engine) {
				t.Run(row.engine+"/"+w.name+"/"+tc.name, func(t *testing.T) {
					st, err := w.connect(staticCache(t, tc.value))
					if !errors.Is(err, tc.kind) {
						t.Fatalf("%v, want %v", err, tc.kind)
					}
					msg := err.Error()
					for _, s := range []string{msg, fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
						if strings.Contains(s, leak) {
							t.Fatalf("a value of the secret in the error: %s", s)
						}
					}
					if tc.field != "" && !strings.Contains(msg, tc.field) {
						t.Fatalf("the error does not name %q: %s", tc.field, msg)
					}
					if st.Attempts != 0 || st.Failures != 1 {
						t.Fatalf("%+v", st)
					}
				})
			}
		}
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Fatalf("%d connections reached the server", n)
	}
}

// The engine field decides the driver; WithEngine forces one; options of
// the other engine are refused before any connection.
func TestEngineChoice(t *testing.T) {
	const leak = "Leak3dSecretValue"
	ln := countAccepts(t)
	secret := func(engine string) string {
		return `{"engine":"` + engine + `","host":"127.0.0.1","port":` + strconv.Itoa(ln.port()) + `,"username":"u","password":"` + leak + `"}`
	}
	for _, tc := range []struct {
		name, engine string
		opts         []sqlsecret.Option
		want         string // in the error
		attempt      bool
	}{
		{"WithParam on MySQL", "mysql", []sqlsecret.Option{sqlsecret.WithParam("sslmode", "verify-full")}, "option WithParam does not apply to a MySQL secret", false},
		{"WithMySQLConfig on PostgreSQL", "postgres", []sqlsecret.Option{sqlsecret.WithMySQLConfig(func(*mysql.Config) error { return nil })}, "option WithMySQLConfig does not apply to a PostgreSQL secret", false},
		{"unknown engine", "oracle", nil, `engine "oracle" is not one of postgres, postgresql, aurora-postgresql, mysql, mariadb, aurora, aurora-mysql`, false},
		{"unknown engine forced to MySQL", "oracle", []sqlsecret.Option{sqlsecret.WithEngine("mariadb")}, "", true},
		{"MySQL config function error", "mariadb", []sqlsecret.Option{sqlsecret.WithMySQLConfig(func(*mysql.Config) error { return errors.New("no TLS profile") })}, "MySQL config function: no TLS profile", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ln.accepts.Load()
			conn, err := sqlsecret.New(staticCache(t, secret(tc.engine)), "db", append(tc.opts, sqlsecret.WithLogger(quiet()))...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.Connect(context.Background())
			if err == nil || strings.Contains(err.Error(), leak) || (tc.want != "" && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("%v", err)
			}
			if got := conn.Stats().Attempts != 0; got != tc.attempt {
				t.Fatalf("attempts: %+v", conn.Stats())
			}
			if !tc.attempt && ln.accepts.Load() != before {
				t.Fatal("a connection reached the server")
			}
		})
	}
	if _, err := sqlsecret.New(staticCache(t, secret("mysql")), "db", sqlsecret.WithEngine("db2")); err == nil || !strings.Contains(err.Error(), `engine "db2": want one of postgres`) {
		t.Fatal(err)
	}
	if _, err := sqlsecret.New(staticCache(t, secret("mysql")), "db", sqlsecret.WithMySQLConfig(nil)); err == nil {
		t.Fatal("nil MySQL config function accepted")
	}
}
