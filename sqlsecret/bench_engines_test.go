package sqlsecret_test

import (
	"context"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
