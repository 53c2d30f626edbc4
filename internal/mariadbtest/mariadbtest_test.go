package mariadbtest_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/secretcache/secretcache/internal/mariadbtest"
)

func connect(ctx context.Context, srv *mariadbtest.Server, user, password string) (*sql.Conn, error) {
	c, err := mysql.NewConnector(srv.Config(user, password))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return conn, nil
}

func TestServer(t *testing.T) {
	srv := mariadbtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pw := `it's a \ pass`
	srv.CreateUser(t, "app user", pw)

	conn, err := connect(ctx, srv, "app user", pw)
	if err != nil {
		t.Fatalf("%v\n%s", err, srv.Log())
	}
	var who string
	if err := conn.QueryRowContext(ctx, "select current_user()").Scan(&who); err != nil || who != "app user@%" {
		t.Fatal(who, err)
	}
	_ = conn.Close()

	_, err = connect(ctx, srv, "app user", "wrong")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("wrong password: %v", err)
	}
	// root has no account over TCP.
	if _, err := connect(ctx, srv, "root", ""); !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("root over TCP: %v", err)
	}
	if err := srv.SetPassword(ctx, "app user", "new"); err != nil {
		t.Fatal(err)
	}
	conn, err = connect(ctx, srv, "app user", "new")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if srv.Port == 0 || srv.Host != "127.0.0.1" {
		t.Fatal(srv)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(srv.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid == 0 {
			t.Fatal("the data directory belongs to root: the server ran as root")
		}
	}
}
