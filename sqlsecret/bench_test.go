package sqlsecret_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/internal/pgtest"
	"github.com/secretcache/secretcache/sqlsecret"
)

// BenchmarkConnect measures the set-up of one connection (open and close)
// against a real PostgreSQL over TCP on loopback: the pgx stdlib connector
// with a fixed configuration (the reference), and the Connector, which
// reads the secret from the cache and builds the configuration each time.
// Both with scram-sha-256 (the default of PostgreSQL 14+ and RDS) and md5
// password authentication.
func BenchmarkConnect(b *testing.B) {
	for _, auth := range []string{"scram", "md5"} {
		var pg *pgtest.Server
		if auth == "md5" {
			pg = pgtest.Start(b, pgtest.WithMD5())
		} else {
			pg = pgtest.Start(b)
		}
		e := &env{pg: pg, db: pgDatabase{pg}}
		pw := randomPassword()
		pg.CreateRole(b, "bench", pw)
		d := e.dbSecret("bench", pw)
		raw, _ := d.SecretJSON()
		c, err := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
			return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: string(raw)}, nil
		}), secretcache.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		cs, _ := d.ConnString()
		cfg, err := pgx.ParseConfig(cs + " sslmode=disable")
		if err != nil {
			b.Fatal(err)
		}
		plain := stdlib.GetConnector(*cfg)
		ours, err := sqlsecret.New(c, "bench/db", sqlsecret.WithParam("sslmode", "disable"), sqlsecret.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.Run(auth+"/pgx-stdlib", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				conn, err := plain.Connect(ctx)
				if err != nil {
					b.Fatal(err)
				}
				_ = conn.Close()
			}
		})
		b.Run(auth+"/sqlsecret", func(b *testing.B) {
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
}

// BenchmarkConnectConfig is the part of the Connector's set-up that runs
// in Go before dialling: a cached read of the secret, decoding its JSON and
// building the pgx configuration.
func BenchmarkConnectConfig(b *testing.B) {
	d := creds.Database{Engine: "postgres", Host: "db.example.internal", Port: 5432, Username: "app", Password: "p4ssw0rd-of-some-length", DBName: "orders"}
	raw, _ := d.SecretJSON()
	c, _ := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: string(raw)}, nil
	}), secretcache.WithLogger(quiet()))
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Get(ctx, "bench/db")
		if err != nil {
			b.Fatal(err)
		}
		d, err := creds.ParseDatabase(s.String)
		if err != nil {
			b.Fatal(err)
		}
		cs, err := d.ConnString()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pgx.ParseConfig(cs + " sslmode='disable'"); err != nil {
			b.Fatal(err)
		}
	}
}
