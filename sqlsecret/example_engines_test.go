package sqlsecret_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/sqlsecret"
)

// mysqlCache serves one RDS MySQL secret whose database is not running.
func mysqlCache() *secretcache.Cache {
	c, _ := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"},
			String: `{"engine":"mysql","host":"127.0.0.1","port":1,"username":"orders","password":"pw","dbname":"orders"}`}, nil
	}), secretcache.WithLogger(quiet()))
	return c
}

// A MySQL, MariaDB or Aurora MySQL secret: the same OpenDB, the driver
// chosen by the secret's engine field, TLS through WithMySQLConfig.
func ExampleWithMySQLConfig() {
	c := mysqlCache()
	defer c.Close()
	db, err := sqlsecret.OpenDB(c, "prod/database/orders",
		sqlsecret.WithMySQLConfig(func(cfg *mysql.Config) error {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12} // or cfg.TLSConfig = "a name given to mysql.RegisterTLSConfig"
			cfg.ParseTime = true
			return nil
		}),
		sqlsecret.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	err = db.Ping() // nothing listens on port 1
	var se *sqlsecret.Error
	fmt.Println(errors.As(err, &se), se.Stage, errors.Is(err, sqlsecret.ErrAuth))
	// Output: true AWSCURRENT false
}

// WithEngine forces the engine, whatever the secret's engine field says.
func ExampleWithEngine() {
	c := exampleCache() // a PostgreSQL secret
	defer c.Close()
	conn, err := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithEngine("mariadb"), sqlsecret.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, isMySQL := sql.OpenDB(conn).Driver().(*mysql.MySQLDriver)
	fmt.Println(isMySQL)
	_, err = sqlsecret.New(c, "prod/database/orders", sqlsecret.WithEngine("oracle"))
	fmt.Println(err)
	// Output:
	// true
	// sqlsecret: engine "oracle": want one of postgres, postgresql, aurora-postgresql, mysql, mariadb, aurora, aurora-mysql
}

// Login runs the Connector's recovery for a driver of one's own: try logs
// in with the credentials given, and an error matching ErrAuth (or the
// engine's "refused" codes) makes it try the next ones.
func ExampleConnector_Login() {
	c := exampleCache()
	defer c.Close()
	conn, _ := sqlsecret.New(c, "prod/database/orders", sqlsecret.WithLogger(quiet()))
	d, err := conn.Login(context.Background(), func(_ context.Context, d creds.Database) error {
		return nil // a login with d.Username, d.Password that worked
	})
	fmt.Println(d.Username, err, conn.Stats().Connects)
	_, err = conn.Login(context.Background(), func(context.Context, creds.Database) error {
		return fmt.Errorf("login: %w", sqlsecret.ErrAuth)
	})
	fmt.Println(errors.Is(err, sqlsecret.ErrAuth), conn.Stats().AuthFailures)
	// Output:
	// orders <nil> 1
	// true 1
}
