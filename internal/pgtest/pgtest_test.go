package pgtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/secretcache/secretcache/internal/pgtest"
)

func TestServer(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pw := `it's a \ pass`
	srv.CreateRole(t, "app user", pw)

	conn, err := pgx.Connect(ctx, srv.ConnString("app user", pw, ""))
	if err != nil {
		t.Fatalf("%v\n%s", err, srv.Log())
	}
	var who string
	if err := conn.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != "app user" {
		t.Fatal(who, err)
	}
	_ = conn.Close(ctx)

	_, err = pgx.Connect(ctx, srv.ConnString("app user", "wrong", ""))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("wrong password: %v", err)
	}
	if err := srv.SetPassword(ctx, "app user", "new"); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, srv.ConnString("app user", "new", ""))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if srv.Port == 0 || srv.Host != "127.0.0.1" {
		t.Fatal(srv)
	}
}
