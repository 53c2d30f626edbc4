package pgxsecret_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/sqlsecret"
	"github.com/secretcache/secretcache/sqlsecret/pgxsecret"
)

// exampleCache serves one RDS-shaped secret whose database is not running.
func exampleCache() *secretcache.Cache {
	c, _ := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"},
			String: `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"orders","password":"pw","dbname":"orders"}`}, nil
	}), secretcache.WithLogger(quiet()))
	return c
}

// A pgxpool whose connections log in with the secret: the pool's settings
// come from its own connection string, the server and credentials from
// the secret.
func ExampleNewPool() {
	c := exampleCache()
	defer c.Close()
	conn, err := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=10 pool_max_conn_lifetime=5m")
	if err != nil {
		fmt.Println(err)
		return
	}
	pool, err := pgxsecret.NewPool(context.Background(), conn, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	err = pool.Ping(context.Background()) // nothing listens on port 1
	var se *sqlsecret.Error
	fmt.Println(errors.As(err, &se), se.Stage, errors.Is(err, sqlsecret.ErrAuth), conn.Stats().Failures)
	// Output: true AWSCURRENT false 1
}

// Configure sets up a pgxpool.Config built elsewhere.
func ExampleConfigure() {
	c := exampleCache()
	defer c.Close()
	conn, _ := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithLogger(quiet()))
	cfg, _ := pgxpool.ParseConfig("sslmode=verify-full")
	fmt.Println(pgxsecret.Configure(conn, cfg), cfg.BeforeConnect != nil)
	fmt.Println(pgxsecret.Configure(conn, nil))
	// Output:
	// <nil> true
	// secretcache: pgxsecret invalid request: nil pgxpool.Config
}
