// Package pgtest starts a throw-away PostgreSQL server for tests.
// It is not a fake: it runs the real initdb and postgres, and never a
// system cluster.
//
// Start runs initdb into a new temporary directory and starts postgres on a
// free port of 127.0.0.1, as the unprivileged "postgres" user when the tests
// run as root (PostgreSQL refuses to run as root). It never touches a
// system cluster. The server stops and its directory is removed in the
// test's Cleanup.
//
// The binaries are looked up under /usr/lib/postgresql/*/bin (the newest
// version wins) unless PGTEST_BIN names a directory. When they, or the
// postgres user, are missing the test is skipped, except with CI=true, where
// it fails.
//
// The superuser "postgres" connects through the Unix socket without a
// password (AdminConnString, Exec); every other role logs in over TCP with a
// scram-sha-256 password (ConnString), so wrong passwords fail as they would
// against RDS, with SQLSTATE 28P01.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/secretcache/secretcache/internal/testproc"
)

// Server is a running PostgreSQL server.
type Server struct {
	Host      string // "127.0.0.1"
	Port      int    // TCP port, also the socket's number
	SocketDir string // directory of the Unix socket
	DataDir   string // the cluster's data directory

	bin  string
	dir  string
	log  string
	cred *syscall.Credential
	cmd  *exec.Cmd
	exit chan error
}

// Option configures Start.
type Option func(*config)

type config struct {
	maxConns int
	auth     string
	settings []string
}

// WithMaxConnections sets max_connections (default 100).
func WithMaxConnections(n int) Option { return func(c *config) { c.maxConns = n } }

// WithMD5 makes TCP logins use md5 password authentication instead of
// scram-sha-256: much cheaper per connection (SCRAM costs 4096 rounds of
// PBKDF2 on each side), for tests that open many connections. Wrong
// passwords still fail with SQLSTATE 28P01.
func WithMD5() Option { return func(c *config) { c.auth = "md5" } }

// WithSetting adds a server setting, as for postgres -c name=value.
func WithSetting(name, value string) Option {
	return func(c *config) { c.settings = append(c.settings, name+"="+value) }
}

// skip skips the test, or fails it under CI=true.
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	testproc.Skip(tb, "pgtest", "PostgreSQL", format, args...)
}

// BinDir returns the directory of the PostgreSQL binaries, or "" when none
// is installed.
func BinDir() string {
	if d := os.Getenv("PGTEST_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	return ""
}

// Start starts a server for tb and stops it in tb's Cleanup.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := config{maxConns: 100, auth: "scram-sha-256"}
	for _, o := range opts {
		o(&cfg)
	}
	bin := BinDir()
	if bin == "" {
		skip(tb, "no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
	}
	for _, tool := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			skip(tb, "%s missing in %s", tool, bin)
		}
	}
	s := &Server{Host: "127.0.0.1", bin: bin}
	cred, err := testproc.Credential("postgres")
	if err != nil {
		skip(tb, "%v", err)
	}
	s.cred = cred
	dir := testproc.TempDir(tb, "pgtest", s.cred)
	s.dir, s.SocketDir, s.DataDir, s.log = dir, dir, filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	if out, err := s.command("initdb", "-D", s.DataDir, "-U", "postgres", "-E", "UTF8",
		"--auth-local=trust", "--auth-host="+cfg.auth, "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 5 {
		if lastErr = s.start(cfg); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("pgtest: start: %v\n%s", lastErr, s.logTail())
	}
	tb.Cleanup(s.stop)
	return s
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LANG=C", "LC_ALL=C", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

func (s *Server) start(cfg config) error {
	port, err := testproc.FreePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", s.DataDir, "-p", strconv.Itoa(port), "-k", s.SocketDir, "-h", "127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=" + strconv.Itoa(cfg.maxConns), "-c", "logging_collector=off",
		"-c", "log_min_messages=warning", "-c", "password_encryption=" + cfg.auth}
	for _, st := range cfg.settings {
		args = append(args, "-c", st)
	}
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.Port, s.exit = cmd, port, make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exit:
			return fmt.Errorf("postgres exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.AdminConnString())
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
	}
	s.kill()
	return errors.New("postgres did not accept connections within 60s")
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exit
	s.cmd = nil
}

// stop shuts the server down fast (SIGINT: running sessions are ended),
// killing it when it takes longer than 15 s.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exit:
		s.cmd = nil
	case <-time.After(15 * time.Second):
		s.kill()
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// Log returns the end of the server's log, for failing tests.
func (s *Server) Log() string { return s.logTail() }

// AdminConnString returns a connection string for the superuser "postgres"
// through the Unix socket (no password needed).
func (s *Server) AdminConnString() string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", s.SocketDir, s.Port)
}

// ConnString returns a TCP connection string for user with password and
// database dbname ("postgres" when empty), without TLS.
func (s *Server) ConnString(user, password, dbname string) string {
	if dbname == "" {
		dbname = "postgres"
	}
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		s.Host, s.Port, QuoteConn(user), QuoteConn(password), QuoteConn(dbname))
}

// Exec runs sql as the superuser on a connection of its own.
func (s *Server) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.AdminConnString())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// MustExec is Exec that fails tb on error.
func (s *Server) MustExec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("pgtest: exec: %v", err)
	}
}

// CreateRole creates a login role with the password, able to connect to
// every database.
func (s *Server) CreateRole(tb testing.TB, name, password string) {
	tb.Helper()
	s.MustExec(tb, "CREATE ROLE "+pgx.Identifier{name}.Sanitize()+" LOGIN PASSWORD "+QuoteLiteral(password))
}

// SetPassword changes a role's password as the superuser.
func (s *Server) SetPassword(ctx context.Context, role, password string) error {
	return s.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD "+QuoteLiteral(password))
}

// QuoteLiteral quotes s as an SQL string literal (standard conforming
// strings).
func QuoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// QuoteConn quotes s as a value of a keyword/value connection string.
func QuoteConn(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
