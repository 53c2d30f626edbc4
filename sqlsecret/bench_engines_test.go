package sqlsecret_test

import (
	"context"
	"database/sql/driver"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/internal/mariadbtest"
	"github.com/secretcache/secretcache/internal/pgtest"
	"github.com/secretcache/secretcache/sqlsecret"
	"github.com/secretcache/secretcache/sqlsecret/pgxsecret"
)

// benchCache serves d as the only version of every secret, from memory.
func benchCache(b *testing.B, d creds.Database) *secretcache.Cache {
	raw, _ := d.SecretJSON()
	c, err := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: string(raw)}, nil
	}), secretcache.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkConnectMySQL measures the set-up of one connection (open and
// close) against a real MariaDB over TCP on loopback
// (mysql_native_password): go-sql-driver/mysql's connector with a fixed
// configuration (the reference) and the Connector on a MariaDB secret.
func BenchmarkConnectMySQL(b *testing.B) {
	srv := mariadbtest.Start(b)
	pw := randomPassword()
	srv.CreateUser(b, "bench", pw)
	d := mariaDatabase{srv}.secret("bench", pw)
	plain, err := mysql.NewConnector(srv.Config("bench", pw))
	if err != nil {
		b.Fatal(err)
	}
	ours, err := sqlsecret.New(benchCache(b, d), "bench/db", sqlsecret.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("mysql-driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			conn, err := plain.Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			_ = conn.Close()
		}
	})
	b.Run("sqlsecret", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			conn, err := ours.Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			_ = conn.Close()
		}
	})
}

// BenchmarkConnectPgxpool measures what a pgxpool does for one new
// connection (BeforeConnect, then pgx.ConnectConfig, then close) against a
// real PostgreSQL over TCP on loopback: with a fixed configuration (the
// reference, no BeforeConnect) and set up by pgxsecret, with md5 and
// scram-sha-256 logins.
func BenchmarkConnectPgxpool(b *testing.B) {
	for _, auth := range []string{"scram", "md5"} {
		var pg *pgtest.Server
		if auth == "md5" {
			pg = pgtest.Start(b, pgtest.WithMD5())
		} else {
			pg = pgtest.Start(b)
		}
		pw := randomPassword()
		pg.CreateRole(b, "bench", pw)
		d := pgDatabase{pg}.secret("bench", pw)
		cs, _ := d.ConnString()
		plain, err := pgxpool.ParseConfig(cs + " sslmode=disable")
		if err != nil {
			b.Fatal(err)
		}
		conn, err := sqlsecret.New(benchCache(b, d), "bench/db", sqlsecret.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		ours, err := pgxpool.ParseConfig("sslmode=disable")
		if err != nil {
			b.Fatal(err)
		}
		if err := pgxsecret.Configure(conn, ours); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for _, r := range []struct {
			name string
			cfg  *pgxpool.Config
		}{{"pgx", plain}, {"pgxsecret", ours}} {
			b.Run(auth+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					cc := r.cfg.ConnConfig.Copy() // as pgxpool does
					if r.cfg.BeforeConnect != nil {
						if err := r.cfg.BeforeConnect(ctx, cc); err != nil {
							b.Fatal(err)
						}
					}
					c, err := pgx.ConnectConfig(ctx, cc)
					if err != nil {
						b.Fatal(err)
					}
					_ = c.Close(ctx)
				}
			})
		}
	}
}

// BenchmarkConnectInterleaved sets up connections through the plain driver
// and through this package in turn, one of each per iteration, and reports
// the median time of each (plain-ns/conn, ours-ns/conn) and their ratio: on
// a shared machine the load changes between two sub-benchmarks run one
// after the other, not within one iteration. PostgreSQL (md5) through
// database/sql and through pgxpool, MariaDB through database/sql.
func BenchmarkConnectInterleaved(b *testing.B) {
	ctx := context.Background()
	pg := pgtest.Start(b, pgtest.WithMD5())
	pgPW := randomPassword()
	pg.CreateRole(b, "bench", pgPW)
	pgSecret := pgDatabase{pg}.secret("bench", pgPW)
	maria := mariadbtest.Start(b)
	myPW := randomPassword()
	maria.CreateUser(b, "bench", myPW)
	mySecret := mariaDatabase{maria}.secret("bench", myPW)

	sqlConnect := func(c interface {
		Connect(context.Context) (driver.Conn, error)
	}) func() error {
		return func() error {
			conn, err := c.Connect(ctx)
			if err != nil {
				return err
			}
			return conn.Close()
		}
	}
	pgxConnect := func(cfg *pgxpool.Config) func() error {
		return func() error {
			cc := cfg.ConnConfig.Copy()
			if cfg.BeforeConnect != nil {
				if err := cfg.BeforeConnect(ctx, cc); err != nil {
					return err
				}
			}
			c, err := pgx.ConnectConfig(ctx, cc)
			if err != nil {
				return err
			}
			return c.Close(ctx)
		}
	}

	cs, _ := pgSecret.ConnString()
	pgCfg, _ := pgx.ParseConfig(cs + " sslmode=disable")
	pgOurs, _ := sqlsecret.New(benchCache(b, pgSecret), "bench/db", sqlsecret.WithParam("sslmode", "disable"), sqlsecret.WithLogger(quiet()))
	myPlain, _ := mysql.NewConnector(maria.Config("bench", myPW))
	myOurs, _ := sqlsecret.New(benchCache(b, mySecret), "bench/db", sqlsecret.WithLogger(quiet()))
	poolPlain, _ := pgxpool.ParseConfig(cs + " sslmode=disable")
	poolOurs, _ := pgxpool.ParseConfig("sslmode=disable")
	poolConn, _ := sqlsecret.New(benchCache(b, pgSecret), "bench/db", sqlsecret.WithLogger(quiet()))
	if err := pgxsecret.Configure(poolConn, poolOurs); err != nil {
		b.Fatal(err)
	}
	for _, r := range []struct {
		name        string
		plain, ours func() error
	}{
		{"postgres-database-sql", sqlConnect(stdlib.GetConnector(*pgCfg)), sqlConnect(pgOurs)},
		{"postgres-pgxpool", pgxConnect(poolPlain), pgxConnect(poolOurs)},
		{"mariadb-database-sql", sqlConnect(myPlain), sqlConnect(myOurs)},
	} {
		b.Run(r.name, func(b *testing.B) {
			var plain, ours []time.Duration
			for b.Loop() {
				for _, s := range []struct {
					f   func() error
					out *[]time.Duration
				}{{r.plain, &plain}, {r.ours, &ours}} {
					start := time.Now()
					if err := s.f(); err != nil {
						b.Fatal(err)
					}
					*s.out = append(*s.out, time.Since(start))
				}
			}
			p, o := median(plain), median(ours)
			b.ReportMetric(float64(p.Nanoseconds()), "plain-ns/conn")
			b.ReportMetric(float64(o.Nanoseconds()), "ours-ns/conn")
			b.ReportMetric(float64(o)/float64(p), "ratio")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
