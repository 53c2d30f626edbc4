// Package mototest starts one moto_server (moto 5.2.1) per test binary on
// a random loopback port, for tests that talk to AWS services over real
// HTTP with the real SDK.
//
// It is not a fake of its own (smtest is) and not for production code.
// Without moto_server on PATH a test is skipped, and fails under CI=true.
package mototest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// server is the test binary's moto_server, started on first use.
var server struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
}

// Main runs the tests and then stops the moto_server they started; call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if server.cmd != nil && server.cmd.Process != nil {
		_ = server.cmd.Process.Kill()
		_ = server.cmd.Wait()
	}
	os.Exit(code)
}

// URL starts moto_server if it is not running yet and returns its base URL.
// It skips tb when moto_server cannot be started, and fails it under
// CI=true.
func URL(tb testing.TB) string {
	tb.Helper()
	server.once.Do(func() { server.url, server.cmd, server.err = start() })
	if server.err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("moto_server unavailable: %v", server.err)
		}
		tb.Skipf("moto_server unavailable: %v", server.err)
	}
	return server.url
}

func start() (string, *exec.Cmd, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(90 * time.Second); ; {
		resp, err := http.Get(u + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return u, cmd, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return "", nil, fmt.Errorf("moto_server did not start: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
