package sqlsecret_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/sqlsecret"
)

// The Connector on MariaDB: the engine comes from the secret, error 1045
// gets the recovery PostgreSQL's 28P01 gets, other errors are the
// driver's, untouched, and the TLS settings reach the driver.
func TestMySQLConnector(t *testing.T) {
	e := newMariaDBEnv(t, secretcache.WithTTL(time.Hour))
	ctx := context.Background()
	const id = "test/mariadb/app"
	pw1 := randomPassword()
	e.addUser(t, id, "app", pw1)
	conn, err := sqlsecret.New(e.cache, id, sqlsecret.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0)
	var who string
	if err := db.QueryRow("select current_user()").Scan(&who); err != nil || who != "app@%" {
		t.Fatal(who, err)
	}
	if _, ok := conn.Driver().(*mysql.MySQLDriver); !ok {
		t.Fatalf("driver %T", conn.Driver())
	}

	// setSecret ran, finishSecret not yet: 1045 with AWSCURRENT, AWSPENDING works.
	pw2 := randomPassword()
	if err := e.db.setPassword(ctx, "app", pw2); err != nil {
		t.Fatal(err)
	}
	e.put(t, id, "app", pw2, "AWSPENDING")
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if st := conn.Stats(); st.AuthFailures != 1 || st.PendingUsed != 1 || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}

	// Nobody knows the password: an *Error with the server's 1045.
	if err := e.db.setPassword(ctx, "app", randomPassword()); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Connect(ctx)
	var se *sqlsecret.Error
	var me *mysql.MySQLError
	if !errors.As(err, &se) || !errors.Is(err, sqlsecret.ErrAuth) || se.Code != "1045" || se.SQLState != "28000" ||
		!errors.As(err, &me) || me.Number != 1045 || !sqlsecret.IsAuthError(err) {
		t.Fatalf("%v (%+v)", err, se)
	}
	noPassword(t, err, pw1, pw2)
	if len(se.Tried) < 2 {
		t.Fatalf("tried %v", se.Tried)
	}

	// Another error (1044: no access to that database, not a refused login)
	// is passed through, not retried.
	pw3 := randomPassword()
	if err := e.db.setPassword(ctx, "app", pw3); err != nil {
		t.Fatal(err)
	}
	other, _ := sqlsecret.New(e.cache, id, sqlsecret.WithDatabase("nope"), sqlsecret.WithLogger(quiet()))
	e.put(t, id, "app", pw3)
	if _, err := e.cache.Refresh(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = other.Connect(ctx)
	if !errors.As(err, &me) || me.Number != 1044 || errors.Is(err, sqlsecret.ErrAuth) || other.Stats().Attempts != 1 {
		t.Fatalf("%v %+v", err, other.Stats())
	}

	// TLS reaches the driver: this server has none, so a required TLS fails.
	withTLS, _ := sqlsecret.New(e.cache, id, sqlsecret.WithLogger(quiet()),
		sqlsecret.WithMySQLConfig(func(cfg *mysql.Config) error {
			cfg.TLS = &tls.Config{ServerName: "db.example.com", MinVersion: tls.VersionTLS12}
			return nil
		}))
	if _, err := withTLS.Connect(ctx); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("TLS not passed through: %v", err)
	}
	// ... and a registered profile name too.
	withName, _ := sqlsecret.New(e.cache, id, sqlsecret.WithLogger(quiet()),
		sqlsecret.WithMySQLConfig(func(cfg *mysql.Config) error { cfg.TLSConfig = "true"; return nil }))
	if _, err := withName.Connect(ctx); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("TLS name not passed through: %v", err)
	}
	plain, _ := sqlsecret.New(e.cache, id, sqlsecret.WithLogger(quiet()))
	c, err := plain.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}
