package sqlsecret

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// defaultMaxAttempts is the default bound on connection attempts of one
// Connect call: the first attempt and two rounds of three (AWSCURRENT,
// AWSPENDING, last good), as described at Connector.
const defaultMaxAttempts = 7

// Option configures a Connector.
type Option func(*config) error

type config struct {
	params      map[string]string
	dbname      string
	maxAttempts int
	pending     bool
	lastGood    bool
	configure   func(*pgx.ConnConfig) error
	// mysqlConfigure adjusts each MySQL connection's configuration.
	mysqlConfigure func(*mysql.Config) error
	engine         *engine // forced by WithEngine; nil: the secret's engine field
	logger         *slog.Logger
}

// settings owned by the secret, which WithParam may not set.
var ownKeys = map[string]bool{"host": true, "hostaddr": true, "port": true, "user": true, "password": true,
	"dbname": true, "database": true, "passfile": true, "service": true, "servicefile": true}

// WithParam adds a PostgreSQL connection setting, as in a libpq
// connection string (a MySQL secret then fails to connect: use
// WithMySQLConfig):
// WithParam("sslmode", "verify-full"), WithParam("application_name",
// "orders"). It fails for the settings the secret provides (host, port,
// user, password, dbname and their aliases), for a key that is not
// lower-case letters, digits and '_', and for a value over 1024 bytes or
// holding a NUL.
func WithParam(key, value string) Option {
	return func(c *config) error {
		if key == "" || len(key) > 64 || strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return fmt.Errorf("sqlsecret: parameter name %.64q must be lower-case letters, digits and _", key)
		}
		if ownKeys[key] {
			return fmt.Errorf("sqlsecret: %q comes from the secret and cannot be set with WithParam", key)
		}
		if len(value) > 1024 || strings.IndexByte(value, 0) >= 0 {
			return fmt.Errorf("sqlsecret: value of %q is over 1024 bytes or holds a NUL", key)
		}
		c.params[key] = value
		return nil
	}
}

// WithDatabase connects to the named database instead of the secret's
// dbname. It fails for a name over 1024 bytes or with control characters.
func WithDatabase(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 1024 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return errors.New("sqlsecret: database name must be 1..1024 bytes without control characters")
		}
		c.dbname = name
		return nil
	}
}

// WithMaxAttempts bounds the connection attempts of one Connect call, the
// first included (default 7, at most 10). A smaller
// bound cuts the search described at Connector short: while rotations run
// back to back a connection may need 5 attempts. It fails outside 1..10.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 10 {
			return fmt.Errorf("sqlsecret: max attempts must be in 1..10, got %d", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithoutPending never tries the AWSPENDING version after an authentication
// failure.
func WithoutPending() Option {
	return func(c *config) error { c.pending = false; return nil }
}

// WithoutLastGood never falls back to the last credentials that connected
// when every version of the secret is refused.
func WithoutLastGood() Option {
	return func(c *config) error { c.lastGood = false; return nil }
}

// WithConfig sets a function that adjusts each PostgreSQL connection's pgx
// configuration (TLS, tracer, runtime parameters) before it connects. An
// error from it fails the Connect; so does a MySQL secret when it is set
// (use WithMySQLConfig).
func WithConfig(fn func(*pgx.ConnConfig) error) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("sqlsecret: nil config function")
		}
		c.configure = fn
		return nil
	}
}

// WithEngine makes the Connector treat every version of the secret as one
// of the engine, whatever its engine field says: name is a value the field
// may hold ("postgres", "aurora-postgresql", "mysql", "mariadb",
// "aurora-mysql"...). Without it, the engine comes from the field of each
// version read, an empty field meaning PostgreSQL. It fails for another
// name.
func WithEngine(name string) Option {
	return func(c *config) error {
		e := engineNamed(name)
		if e == nil || name == "" {
			return fmt.Errorf("sqlsecret: engine %.32q: want one of %s", name, engineList())
		}
		c.engine = e
		return nil
	}
}

// WithMySQLConfig sets a function that adjusts each MySQL or MariaDB
// connection's go-sql-driver/mysql configuration before it connects: TLS
// (cfg.TLS, a *tls.Config, or cfg.TLSConfig, the name of one registered
// with mysql.RegisterTLSConfig, or "true", "skip-verify", "preferred"),
// timeouts, parameters, collation. The secret's user, password, address
// and database name are set after it, over what it sets. An error from it
// fails the Connect; so does a PostgreSQL secret when it is set.
func WithMySQLConfig(fn func(*mysql.Config) error) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("sqlsecret: nil MySQL config function")
		}
		c.mysqlConfigure = fn
		return nil
	}
}

// engineList names the engine field values the Connector serves.
func engineList() string {
	var names []string
	for _, e := range engines {
		for _, n := range e.names {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ", ")
}

// WithLogger sets the logger (default slog.Default()). Logs name the secret,
// versions and SQLSTATEs, never a password.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sqlsecret: nil logger")
		}
		c.logger = l
		return nil
	}
}

func newConfig(opts []Option) (config, error) {
	c := config{params: map[string]string{}, maxAttempts: defaultMaxAttempts, pending: true, lastGood: true}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("sqlsecret: nil option")
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// paramString renders the extra settings, sorted, each value quoted.
func (c *config) paramString() string {
	keys := make([]string, 0, len(c.params))
	for k := range c.params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(" " + k + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(c.params[k]) + "'")
	}
	return b.String()
}
