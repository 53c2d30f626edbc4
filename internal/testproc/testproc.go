// Package testproc holds what the test harnesses that start real servers
// (internal/pgtest, internal/redistest, internal/mariadbtest) share: skipping
// or, under CI=true, failing when the server is missing; a free loopback
// port; the unprivileged user to run the server as when the tests run as
// root; and a temporary directory that user owns. It starts nothing itself.
package testproc

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"testing"
)

// Skip skips tb with the harness's message, or fails it when the
// environment has CI=true: there a missing dependency is an error. need
// says what is required ("PostgreSQL", "redis-server; apt-get install
// redis-server").
func Skip(tb testing.TB, harness, need, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(harness+": "+format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: " + need + " is required)")
	}
	tb.Skip(msg)
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
// Callers retry with another when the server cannot bind it.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Credential returns the credential of the first of users that exists, to
// run a server as, when the process runs as root; nil (run as the current
// user) otherwise. It fails when running as root and none exists.
func Credential(users ...string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range users {
		if u, err := user.Lookup(name); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, fmt.Errorf("running as root and there is no %v user to run the server as", users)
}

// TempDir makes a new temporary directory named after the harness, owned
// by cred when it is not nil, and removes it in tb's Cleanup.
func TempDir(tb testing.TB, harness string, cred *syscall.Credential) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", harness+"-")
	if err != nil {
		tb.Fatalf("%s: %v", harness, err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			tb.Fatalf("%s: chown: %v", harness, err)
		}
	}
	return dir
}
