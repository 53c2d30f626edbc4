// Package mariadbtest starts a throw-away MariaDB server for tests. It is
// not a fake: it runs Debian's mariadb-install-db and mariadbd
// (apt-get install mariadb-server), never the system instance.
//
// Start creates a new data directory in a new temporary directory and
// starts mariadbd with --no-defaults (no my.cnf is read) on a free port of
// 127.0.0.1 and a socket of its own, as the unprivileged "mysql" user (or
// "nobody") when the tests run as root. The server stops and its directory
// is removed in the test's Cleanup. When the binaries are missing the test
// is skipped, except with CI=true, where it fails.
//
// root connects through the Unix socket without a password (Exec); it has
// no account over TCP. Users made with CreateUser log in over TCP with a
// mysql_native_password password, so wrong passwords fail as they do
// against RDS, with error 1045 (access denied).
package mariadbtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/secretcache/secretcache/internal/testproc"
)

// Database is the database Start creates, on which CreateUser grants every
// privilege.
const Database = "app"

// Server is a running MariaDB server.
type Server struct {
	Host    string // "127.0.0.1"
	Port    int
	Socket  string // path of the Unix socket
	DataDir string

	dir   string
	log   string
	cred  *syscall.Credential
	cmd   *exec.Cmd
	exit  chan error
	admin *sql.DB
}

// Option configures Start.
type Option func(*config)

type config struct{ maxConns int }

// WithMaxConnections sets max_connections (default 300).
func WithMaxConnections(n int) Option { return func(c *config) { c.maxConns = n } }

func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	testproc.Skip(tb, "mariadbtest", "MariaDB; apt-get install mariadb-server", format, args...)
}

// binary finds a MariaDB program on PATH or in /usr/sbin and /usr/bin.
func binary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start starts a server for tb and stops it in tb's Cleanup.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := config{maxConns: 300}
	for _, o := range opts {
		o(&cfg)
	}
	server, install := binary("mariadbd"), binary("mariadb-install-db")
	if server == "" || install == "" {
		skip(tb, "mariadbd or mariadb-install-db not found")
	}
	cred, err := testproc.Credential("mysql", "nobody")
	if err != nil {
		skip(tb, "%v", err)
	}
	dir := testproc.TempDir(tb, "mariadbtest", cred)
	s := &Server{Host: "127.0.0.1", Socket: filepath.Join(dir, "mariadb.sock"), DataDir: filepath.Join(dir, "data"),
		dir: dir, log: filepath.Join(dir, "mariadb.err"), cred: cred}
	if out, err := s.command(install, "--no-defaults", "--datadir="+s.DataDir, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve").CombinedOutput(); err != nil {
		tb.Fatalf("mariadbtest: mariadb-install-db: %v\n%s", err, tail(out))
	}
	var lastErr error
	for range 5 {
		var port int
		if port, lastErr = testproc.FreePort(); lastErr == nil {
			if lastErr = s.start(server, port, cfg); lastErr == nil {
				break
			}
		}
	}
	if lastErr != nil {
		tb.Fatalf("mariadbtest: start: %v\n%s", lastErr, s.Log())
	}
	tb.Cleanup(s.stop)
	// root keeps its socket account only; the test database.
	s.MustExec(tb, "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost'")
	s.MustExec(tb, "DELETE FROM mysql.global_priv WHERE User = ''")
	s.MustExec(tb, "FLUSH PRIVILEGES")
	s.MustExec(tb, "CREATE DATABASE "+Database)
	return s
}

func (s *Server) command(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LANG=C", "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (s *Server) start(server string, port int, cfg config) error {
	_ = os.Remove(s.Socket)
	cmd := s.command(server, "--no-defaults", "--datadir="+s.DataDir, "--socket="+s.Socket,
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--pid-file="+filepath.Join(s.dir, "mariadb.pid"), "--log-error="+s.log, "--tmpdir="+s.dir,
		"--max-connections="+strconv.Itoa(cfg.maxConns), "--innodb-buffer-pool-size=32M",
		"--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--performance-schema=OFF")
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.Port, s.exit = cmd, port, make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	cfgAdmin := mysql.NewConfig()
	cfgAdmin.User, cfgAdmin.Net, cfgAdmin.Addr = "root", "unix", s.Socket
	conn, err := mysql.NewConnector(cfgAdmin)
	if err != nil {
		return err
	}
	admin := sql.OpenDB(conn)
	admin.SetMaxOpenConns(2)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exit:
			s.cmd = nil
			_ = admin.Close()
			return fmt.Errorf("mariadbd exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if !fileExists(s.Socket) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := admin.PingContext(ctx)
		cancel()
		if err == nil {
			s.admin = admin
			return nil
		}
	}
	_ = admin.Close()
	s.kill()
	return errors.New("mariadbd did not accept connections within 60s")
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exit
	s.cmd = nil
}

// stop shuts the server down (SIGTERM), killing it when it takes longer
// than 15 s.
func (s *Server) stop() {
	if s.admin != nil {
		_ = s.admin.Close()
	}
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
		s.cmd = nil
	case <-time.After(15 * time.Second):
		s.kill()
	}
}

func tail(b []byte) string {
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// Log returns the end of the server's error log, for failing tests.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return tail(b)
}

// Exec runs query as root.
func (s *Server) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.admin.ExecContext(ctx, query, args...)
	return err
}

// MustExec is Exec that fails tb on error.
func (s *Server) MustExec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, query, args...); err != nil {
		tb.Fatalf("mariadbtest: exec: %v", err)
	}
}

// CreateUser creates user@'%' with the password and every privilege on
// Database.
func (s *Server) CreateUser(tb testing.TB, user, password string) {
	tb.Helper()
	s.MustExec(tb, "CREATE USER "+QuoteString(user)+"@'%' IDENTIFIED BY "+QuoteString(password))
	s.MustExec(tb, "GRANT ALL ON "+Database+".* TO "+QuoteString(user)+"@'%'")
}

// SetPassword changes a user's password as root.
func (s *Server) SetPassword(ctx context.Context, user, password string) error {
	return s.Exec(ctx, "ALTER USER "+QuoteString(user)+"@'%' IDENTIFIED BY "+QuoteString(password))
}

// Config returns a go-sql-driver/mysql configuration for user with
// password over TCP, to Database.
func (s *Server) Config(user, password string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", s.Host+":"+strconv.Itoa(s.Port), Database
	return cfg
}

// QuoteString quotes v as an SQL string literal (NO_BACKSLASH_ESCAPES
// off: backslashes are escaped too).
func QuoteString(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`).Replace(v) + "'"
}
