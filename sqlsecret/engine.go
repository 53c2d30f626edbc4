package sqlsecret

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
)

// engine is what the Connector needs to know of a database engine: the
// recovery (search.go) is the same for all of them.
type engine struct {
	name        string   // as messages name it: "PostgreSQL"
	names       []string // the values of the secret's engine field it serves, lower case
	defaultPort int
	driver      driver.Driver
	// connect opens one connection with db's credentials and c's settings.
	connect func(ctx context.Context, c *Connector, db creds.Database) (driver.Conn, error)
	// refused reports whether err is the server refusing the credentials.
	refused func(err error) bool
	// server returns what of the driver's error err callers may match on,
	// without password: the server's SQLSTATE and code, and the error.
	server func(err error, password string) (sqlState, code string, match error)
}

// engines are the rows of the engine table: the first serves an empty
// engine field.
var engines = []*engine{postgres, mysqlEngine}

var postgres = &engine{
	name:        "PostgreSQL",
	names:       []string{"", "postgres", "postgresql", "aurora-postgresql"},
	defaultPort: 5432,
	driver:      stdlib.GetDefaultDriver(),
	connect: func(ctx context.Context, c *Connector, db creds.Database) (driver.Conn, error) {
		cfg, err := c.connConfig(db)
		if err != nil {
			return nil, err
		}
		return stdlib.GetConnector(*cfg).Connect(ctx)
	},
	refused: func(err error) bool {
		var pg *pgconn.PgError
		return errors.As(err, &pg) && (pg.Code == "28P01" || pg.Code == "28000")
	},
	server: func(err error, password string) (string, string, error) {
		var pg *pgconn.PgError
		if !errors.As(err, &pg) {
			return "", "", nil
		}
		// pgconn's ConnectError around it carries the whole connection
		// config, password included: keep a scrubbed copy of the PgError only.
		cp := *pg
		cp.Message = scrub(cp.Message, password)
		cp.Detail = scrub(cp.Detail, password)
		cp.Hint = scrub(cp.Hint, password)
		return cp.Code, cp.Code, &cp
	},
}

// mysqlAccessDenied is the MySQL and MariaDB error ER_ACCESS_DENIED_ERROR.
const mysqlAccessDenied = 1045

var mysqlEngine = &engine{
	name:        "MySQL",
	names:       []string{"mysql", "mariadb", "aurora", "aurora-mysql"},
	defaultPort: 3306,
	driver:      &mysql.MySQLDriver{},
	connect: func(ctx context.Context, c *Connector, db creds.Database) (driver.Conn, error) {
		cfg, err := c.mysqlConfig(db)
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrInvalidRequest,
				Err: fmt.Errorf("MySQL configuration: %s", scrub(err.Error(), db.Password))}
		}
		return conn.Connect(ctx)
	},
	refused: func(err error) bool {
		var me *mysql.MySQLError
		return errors.As(err, &me) && me.Number == mysqlAccessDenied
	},
	server: func(err error, password string) (string, string, error) {
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			// The driver's other errors (mysql.ErrInvalidConn, TLS, ...) hold
			// no configuration: passed through as they are.
			if password != "" && strings.Contains(err.Error(), password) {
				return "", "", nil
			}
			return "", "", err
		}
		cp := *me
		cp.Message = scrub(cp.Message, password)
		state := ""
		if me.SQLState != [5]byte{} {
			state = string(me.SQLState[:])
		}
		return state, strconv.Itoa(int(me.Number)), &cp
	},
}

// engineNamed returns the engine serving the secret's engine field value.
func engineNamed(name string) *engine {
	name = strings.ToLower(name)
	for _, e := range engines {
		for _, n := range e.names {
			if n == name {
				return e
			}
		}
	}
	return nil
}

// canonical is the engine's name as the secret's engine field gives it:
// its first non-empty one ("postgres", "mysql").
func (e *engine) canonical() string {
	for _, n := range e.names {
		if n != "" {
			return n
		}
	}
	return ""
}

// refusedAny reports whether err is any engine's server refusing the
// credentials.
func refusedAny(err error) bool {
	for _, e := range engines {
		if e.refused(err) {
			return true
		}
	}
	return false
}

// connConfig builds the pgx configuration of db with the extra settings.
func (c *Connector) connConfig(db creds.Database) (*pgx.ConnConfig, error) {
	db.Engine = "postgres" // the engine was chosen: the field may be a forced one's
	cs, err := db.ConnString()
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(cs + c.extra)
	if err != nil {
		// The parse error quotes the connection string; say less.
		return nil, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("the secret's host, port, user or dbname do not make a valid connection string")}
	}
	if c.cfg.configure != nil {
		if err := c.cfg.configure(cfg); err != nil {
			return nil, fmt.Errorf("sqlsecret: config function: %w", err)
		}
	}
	return cfg, nil
}

// mysqlConfig builds the go-sql-driver/mysql configuration of db: the
// WithMySQLConfig function's settings, then the secret's user, password,
// address and database.
func (c *Connector) mysqlConfig(db creds.Database) (*mysql.Config, error) {
	cfg := mysql.NewConfig()
	cfg.Logger = mysqlLogger{l: c.cfg.logger, password: db.Password}
	if c.cfg.mysqlConfigure != nil {
		if err := c.cfg.mysqlConfigure(cfg); err != nil {
			return nil, fmt.Errorf("sqlsecret: MySQL config function: %w", err)
		}
	}
	cfg.User, cfg.Passwd, cfg.DBName = db.Username, db.Password, db.DBName
	if strings.HasPrefix(db.Host, "/") {
		cfg.Net, cfg.Addr = "unix", db.Host
	} else {
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(db.Host, strconv.Itoa(int(db.Port)))
	}
	return cfg, nil
}

// fits fails when an option is set that does not apply to eng: a
// PostgreSQL setting for a MySQL secret, or the other way round, would
// be silently dropped (sslmode=verify-full among them).
func (c *Connector) fits(eng *engine) error {
	opt := ""
	switch {
	case eng == mysqlEngine && c.cfg.configure != nil:
		opt = "WithConfig"
	case eng == mysqlEngine && len(c.cfg.params) > 0:
		opt = "WithParam"
	case eng == postgres && c.cfg.mysqlConfigure != nil:
		opt = "WithMySQLConfig"
	default:
		return nil
	}
	return &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrInvalidRequest,
		Err: fmt.Errorf("option %s does not apply to a %s secret", opt, eng.name)}
}

// mysqlLogger sends go-sql-driver/mysql's messages (a connection lost, a
// bad packet) to the Connector's logger at debug level instead of the
// driver's own stderr logger.
type mysqlLogger struct {
	l        *slog.Logger
	password string
}

func (m mysqlLogger) Print(v ...any) {
	m.l.Debug("sqlsecret: mysql driver", "message", scrub(fmt.Sprint(v...), m.password))
}
