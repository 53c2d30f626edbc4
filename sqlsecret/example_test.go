package sqlsecret_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
	"github.com/secretcache/secretcache/sqlsecret"
)

// exampleCache serves one RDS-shaped secret whose database is not running.
func exampleCache() *secretcache.Cache {
	c, _ := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		if ref.ID != "prod/database/orders" {
			return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"},
			String: `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"orders","password":"pw","dbname":"orders"}`}, nil
	}), secretcache.WithLogger(quiet()))
	return c
}

// The usual set-up: a pool whose connections read the secret as they open,
// recycled often enough that a rotation reaches all of them soon.
func ExampleOpenDB() {
	c := exampleCache()
	defer c.Close()
	db, err := sqlsecret.OpenDB(c, "prod/database/orders",
		sqlsecret.WithParam("sslmode", "verify-full"),
		sqlsecret.WithParam("application_name", "orders-api"),
		sqlsecret.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(20)
	db.SetConnMaxLifetime(5 * time.Minute)

	missing, _ := sqlsecret.OpenDB(c, "prod/database/nope", sqlsecret.WithLogger(quiet()))
	defer missing.Close()
	fmt.Println(errors.Is(missing.Ping(), secretcache.ErrNotFound))
	// Output: true
}

func ExampleNew() {
	c := exampleCache()
	defer c.Close()
	conn, err := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithMaxAttempts(3), sqlsecret.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	fmt.Println(conn.SecretID(), conn.Stats().Connects)

	_, err = sqlsecret.New(c, "")
	fmt.Println(err)
	_, err = sqlsecret.New(c, "prod/database/orders", sqlsecret.WithParam("password", "x"))
	fmt.Println(err)
	// Output:
	// prod/database/orders 0
	// secretcache: sqlsecret invalid request: secret id must be 1..2048 printable characters without spaces
	// sqlsecret: "password" comes from the secret and cannot be set with WithParam
}

func ExampleConnector_Connect() {
	c := exampleCache()
	defer c.Close()
	conn, _ := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithLogger(quiet()))
	_, err := conn.Connect(context.Background()) // nothing listens on port 1
	var se *sqlsecret.Error
	if errors.As(err, &se) {
		fmt.Println(se.SecretID, se.VersionID, se.Stage, se.Attempts, errors.Is(err, sqlsecret.ErrAuth))
	}
	fmt.Println(conn.Stats().Failures)
	// Output:
	// prod/database/orders v1 AWSCURRENT 1 false
	// 1
}

func ExampleIsAuthError() {
	err := fmt.Errorf("query: %w", &pgconn.PgError{Code: "28P01", Message: "password authentication failed"})
	fmt.Println(sqlsecret.IsAuthError(err), sqlsecret.IsAuthError(errors.New("timeout")))
	// Output: true false
}

// PoolSpec with rotate: each secret version gets its own pool, validated
// by a login before it replaces the previous one.
func ExamplePoolSpec() {
	c := exampleCache()
	defer c.Close()
	spec, err := sqlsecret.PoolSpec(c, "prod/database/orders", func(db *sql.DB) {
		db.SetMaxOpenConns(10)
		db.SetConnMaxLifetime(time.Minute)
	}, sqlsecret.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	pool, _ := rotate.New(c, "prod/database/orders", spec, rotate.WithLogger(quiet()))
	err = pool.Start(context.Background()) // the database is down: validation fails
	fmt.Println(errors.Is(err, rotate.ErrValidation), pool.Get() == nil)
	// Output: true true
}

func ExampleWithParam() {
	c := exampleCache()
	defer c.Close()
	_, err := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithParam("Bad Key", "x"))
	fmt.Println(err)
	// Output: sqlsecret: parameter name "Bad Key" must be lower-case letters, digits and _
}
