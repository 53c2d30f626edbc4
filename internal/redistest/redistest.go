// Package redistest starts throw-away Redis servers for tests: one server,
// or a local 3-node Redis Cluster. It is not a fake: it runs the real
// redis-server (and redis-cli --cluster create), never a system instance.
//
// Each server runs in a new temporary directory on a free port of
// 127.0.0.1, with no persistence, as the unprivileged "redis" user (or
// "nobody") when the tests run as root. It is stopped and its directory
// removed in the test's Cleanup. When redis-server is missing the test is
// skipped, except with CI=true, where it fails.
package redistest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secretcache/secretcache/internal/testproc"
)

// Server is one running redis-server.
type Server struct {
	Addr string // "127.0.0.1:PORT"
	Port int

	tb      testing.TB
	dir     string
	cred    *syscall.Credential
	cluster bool
	cmd     *exec.Cmd
	exit    chan error
}

func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	testproc.Skip(tb, "redistest", "redis-server; apt-get install redis-server", format, args...)
}

func credential(tb testing.TB) *syscall.Credential {
	tb.Helper()
	cred, err := testproc.Credential("redis", "nobody")
	if err != nil {
		skip(tb, "%v", err)
	}
	return cred
}

// Start starts one redis-server for tb.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

func start(tb testing.TB, cluster bool) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skip(tb, "redis-server not found")
	}
	s := &Server{tb: tb, cred: credential(tb), cluster: cluster}
	s.dir = testproc.TempDir(tb, "redistest", s.cred)
	var lastErr error
	for range 5 {
		var port int
		if port, lastErr = testproc.FreePort(); lastErr == nil {
			if lastErr = s.run(port); lastErr == nil {
				break
			}
		}
	}
	if lastErr != nil {
		tb.Fatalf("redistest: start: %v\n%s", lastErr, s.Log())
	}
	tb.Cleanup(s.Kill)
	return s
}

func (s *Server) run(port int) error {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log",
		"--protected-mode", "yes", "--enable-debug-command", "local"}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.Port, s.Addr, s.exit = cmd, port, "127.0.0.1:"+strconv.Itoa(port), make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exit:
			s.cmd = nil
			return fmt.Errorf("redis-server exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if out, err := s.CLI("PING"); err == nil && strings.TrimSpace(out) == "PONG" {
			return nil
		}
	}
	s.Kill()
	return fmt.Errorf("redis-server did not answer PING within 20s")
}

// CLI runs redis-cli against the server with args and returns its output.
func (s *Server) CLI(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)...).CombinedOutput()
	return string(out), err
}

// Kill stops the server at once (SIGKILL); Restart starts it again.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exit
	s.cmd = nil
}

// Restart starts a killed server again on the same port, empty.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	var err error
	for range 50 {
		if err = s.run(s.Port); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart: %v\n%s", err, s.Log())
}

// Log returns the end of the server's log, for failing tests.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// Cluster is a local Redis Cluster of three masters and no replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses, for a cluster client's seeds.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr
	}
	return a
}

// StartCluster starts three cluster-enabled servers for tb and joins them
// with redis-cli --cluster create; it returns when the cluster is ok.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		skip(tb, "redis-cli not found")
	}
	c := &Cluster{}
	for range 3 {
		c.Nodes = append(c.Nodes, start(tb, true))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.Nodes {
			out, err := n.CLI("CLUSTER", "INFO")
			if err != nil || !strings.Contains(out, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("redistest: cluster did not reach cluster_state:ok within 30s")
	return nil
}
