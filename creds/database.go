package creds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Port is a TCP port as found in database secrets. It decodes from a JSON
// number (5432) or a numeric string ("5432"), both of which appear in RDS
// secrets, and encodes as a number. Decoding fails for anything outside
// 0..65535; 0 means "the engine's default".
type Port int

// UnmarshalJSON implements json.Unmarshaler.
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return &fieldError{"port", "not a string or number"}
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*p = 0
			return nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return &fieldError{"port", "not a port number in 0..65535"}
	}
	*p = Port(n)
	return nil
}

// Database is the JSON of an Amazon RDS or Aurora database secret, the shape
// Secrets Manager's rotation templates read and write. Engine names the
// database engine ("postgres", "aurora-postgresql", "mysql", ...); MasterARN
// is the secret of the user that changes passwords under the alternating
// users strategy.
//
// A Database never prints its password: String, fmt, encoding/json and
// log/slog show "[REDACTED]". SecretJSON writes the real value.
type Database struct {
	Engine               string `json:"engine,omitempty"`
	Host                 string `json:"host"`
	Port                 Port   `json:"port,omitempty"`
	Username             string `json:"username"`
	Password             string `json:"password"`
	DBName               string `json:"dbname,omitempty"`
	DBInstanceIdentifier string `json:"dbInstanceIdentifier,omitempty"`
	DBClusterIdentifier  string `json:"dbClusterIdentifier,omitempty"`
	MasterARN            string `json:"masterarn,omitempty"`
}

// ParseDatabase decodes a database secret. It fails with
// secretcache.ErrNotJSON when value is empty, larger than MaxSecretSize, not
// a JSON object or has a field of the wrong type, and the error tells which
// field or offset, never the value. It does not call Validate.
func ParseDatabase(value string) (Database, error) {
	var d Database
	if err := decode("database", value, &d); err != nil {
		return Database{}, err
	}
	return d, nil
}

// Validate checks that the secret can be used to connect: a host, a user
// name and a password, a port in range, and no control characters in the
// host, user name or database name. Its errors are
// secretcache.ErrInvalidRequest errors naming the field, never its value.
func (d Database) Validate() error {
	const op = "validate"
	switch {
	case d.Host == "":
		return invalid(op, "host", "empty")
	case len(d.Host) > 255 || badText(d.Host) || strings.ContainsAny(d.Host, " ,[]"):
		return invalid(op, "host", "not a single host name, address or socket directory")
	case strings.Contains(d.Host, ":") && !strings.HasPrefix(d.Host, "/") && net.ParseIP(d.Host) == nil:
		return invalid(op, "host", "holds a ':' but is not an IPv6 address: give the port in the port field")
	case d.Port < 0 || d.Port > 65535:
		return invalid(op, "port", "not in 0..65535")
	case d.Username == "":
		return invalid(op, "username", "empty")
	case len(d.Username) > 1024 || badText(d.Username):
		return invalid(op, "username", "too long or holds control characters")
	case d.Password == "":
		return invalid(op, "password", "empty")
	case strings.IndexByte(d.Password, 0) >= 0 || len(d.Password) > MaxSecretSize:
		return invalid(op, "password", "too long or holds a NUL byte")
	case len(d.DBName) > 1024 || badText(d.DBName):
		return invalid(op, "dbname", "too long or holds control characters")
	case len(d.Engine) > 64 || badText(d.Engine):
		return invalid(op, "engine", "too long or holds control characters")
	}
	return nil
}

// IsPostgres reports whether the engine is PostgreSQL or Aurora
// PostgreSQL. An empty engine counts as PostgreSQL.
func (d Database) IsPostgres() bool {
	switch strings.ToLower(d.Engine) {
	case "", "postgres", "postgresql", "aurora-postgresql":
		return true
	}
	return false
}

// IsMySQL reports whether the engine is MySQL, MariaDB or Aurora MySQL.
func (d Database) IsMySQL() bool {
	switch strings.ToLower(d.Engine) {
	case "mysql", "mariadb", "aurora", "aurora-mysql":
		return true
	}
	return false
}

// PortOrDefault returns the port, or the engine's usual port when it is 0:
// 5432 for PostgreSQL, 3306 for MySQL, 1433 for SQL Server, 1521 for Oracle
// and 50000 for Db2 (0 for an unknown engine).
func (d Database) PortOrDefault() int {
	if d.Port != 0 {
		return int(d.Port)
	}
	switch e := strings.ToLower(d.Engine); {
	case d.IsPostgres():
		return 5432
	case d.IsMySQL():
		return 3306
	case strings.HasPrefix(e, "sqlserver"):
		return 1433
	case strings.HasPrefix(e, "oracle"):
		return 1521
	case strings.HasPrefix(e, "db2"):
		return 50000
	}
	return 0
}

// ConnString returns a PostgreSQL keyword/value connection string (host,
// port, user, password and dbname, each quoted) for pgx or lib/pq. The result
// holds the password: pass it to the driver, never to a log. It fails, naming
// the field, when the secret does not Validate or is not for PostgreSQL.
func (d Database) ConnString() (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	if !d.IsPostgres() {
		return "", invalid("connstring", "engine", "not a PostgreSQL engine")
	}
	var b strings.Builder
	kv := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteString("='")
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' || v[i] == '\'' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		b.WriteByte('\'')
	}
	kv("host", d.Host)
	kv("port", strconv.Itoa(d.PortOrDefault()))
	kv("user", d.Username)
	kv("password", d.Password)
	if d.DBName != "" {
		kv("dbname", d.DBName)
	}
	return b.String(), nil
}

// DSN returns a data source name for the engine: a postgres:// URL for
// PostgreSQL, and user:password@tcp(host:port)/dbname for MySQL and MariaDB
// (the format of github.com/go-sql-driver/mysql). The result holds the
// password: pass it to the driver, never to a log. It fails, naming the
// field, when the secret does not Validate, for another engine, and for a
// MySQL user name with a ':' or a database name with a '/' or '?'.
func (d Database) DSN() (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	hostPort := d.Host
	if p := d.PortOrDefault(); p != 0 {
		hostPort = joinHostPort(d.Host, p)
	}
	switch {
	case d.IsPostgres():
		u := url.URL{Scheme: "postgres", User: url.UserPassword(d.Username, d.Password), Host: hostPort}
		if strings.HasPrefix(d.Host, "/") { // a socket directory goes in the query
			u.Host = ""
			q := url.Values{"host": {d.Host}, "port": {strconv.Itoa(d.PortOrDefault())}}
			u.RawQuery = q.Encode()
		}
		if d.DBName != "" {
			u.Path = "/" + d.DBName
		}
		return u.String(), nil
	case d.IsMySQL():
		if strings.Contains(d.Username, ":") {
			return "", invalid("dsn", "username", "holds a ':', which a MySQL DSN cannot carry")
		}
		if strings.ContainsAny(d.DBName, "/?") {
			return "", invalid("dsn", "dbname", "holds a '/' or '?', which a MySQL DSN cannot carry")
		}
		return d.Username + ":" + d.Password + "@tcp(" + hostPort + ")/" + d.DBName, nil
	}
	return "", invalid("dsn", "engine", "no DSN format for this engine")
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// SecretJSON returns the secret as JSON with the real password, for code
// that stores a new version (a rotation function). It is the only way this
// package writes a password out.
func (d Database) SecretJSON() ([]byte, error) {
	type plain Database
	return json.Marshal(plain(d))
}

// MarshalJSON implements json.Marshaler with the password redacted.
func (d Database) MarshalJSON() ([]byte, error) {
	type plain Database
	p := plain(d)
	p.Password = redact(p.Password)
	return json.Marshal(p)
}

// String describes the secret with the password redacted.
func (d Database) String() string {
	return fmt.Sprintf("creds.Database{Engine:%q Host:%q Port:%d Username:%q Password:%q DBName:%q MasterARN:%q}",
		d.Engine, d.Host, int(d.Port), d.Username, redact(d.Password), d.DBName, d.MasterARN)
}

// GoString implements fmt.GoStringer with the password redacted.
func (d Database) GoString() string { return d.String() }

// Format implements fmt.Formatter: every verb prints String.
func (d Database) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(d.String())) }

// LogValue implements slog.LogValuer with the password redacted.
func (d Database) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("engine", d.Engine),
		slog.String("host", d.Host),
		slog.Int("port", int(d.Port)),
		slog.String("username", d.Username),
		slog.String("password", redact(d.Password)),
		slog.String("dbname", d.DBName),
	)
}
