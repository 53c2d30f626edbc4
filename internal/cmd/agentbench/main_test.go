package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 5s test @ http://127.0.0.1:40123/secretsmanager/get?secretId=demo/db
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  412.55us  12.31ms   91.02%
    Req/Sec    31.70k     1.12k   33.41k    72.00%
  Latency Distribution
     50%    0.96ms
     75%    1.10ms
     90%    1.31ms
     99%    2.48ms
  157710 requests in 5.00s, 83.22MB read
Requests/sec:  31540.81
Transfer/sec:     16.64MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil || r.rps != 31540.81 || r.p99 != 2480*time.Microsecond || r.requests != 157710 {
		t.Errorf("parseWrk = %+v, %v", r, err)
	}
	for _, bad := range []string{
		"",
		strings.Replace(wrkOutput, "Requests/sec:  31540.81", "Requests/sec:  lots", 1),
		strings.Replace(wrkOutput, "     99%    2.48ms\n", "", 1),
		strings.Replace(wrkOutput, "     99%    2.48ms", "     99%    2.48parsecs", 1),
		wrkOutput + "  Non-2xx or 3xx responses: 12\n",
		wrkOutput + "  Socket errors: connect 0, read 3, write 0, timeout 0\n",
	} {
		if r, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk accepted %q: %+v", truncate(bad), r)
		}
	}
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[len(s)-60:]
	}
	return s
}

func TestParseLatency(t *testing.T) {
	for in, want := range map[string]time.Duration{"812.00us": 812 * time.Microsecond, "1.50ms": 1500 * time.Microsecond,
		"2.01s": 2010 * time.Millisecond, "1.00m": time.Minute} {
		if got, err := parseLatency(in); err != nil || got != want {
			t.Errorf("parseLatency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ms", "-1ms", "1.0xs", "fast"} {
		if got, err := parseLatency(bad); err == nil {
			t.Errorf("parseLatency(%q) = %v, want an error", bad, got)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-rounds", "101"}, {"-duration", "500ms"}, {"-duration", "1500ms"},
		{"-duration", "11m"}, {"-connections", "0"}, {"-threads", "33"}, {"-secret", "a&b"}, {"-secret", ""},
		{"-min-ratio", "-1"}, {"extra"}, {"-nope"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-wrk", "/nonexistent/wrk"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "wrk not found") {
		t.Errorf("missing wrk: exit %d, %q", code, errb.String())
	}
}

// TestQuickRun builds the agent and the bare server and runs one short
// round, when wrk is installed (with CI=true a missing wrk is a failure).
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("wrk is not installed (apt-get install wrk); CI=true needs it")
		}
		t.Skip("wrk not installed")
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if code := run(ctx, []string{"-quick"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	t.Log(out.String())
	for _, want := range []string{"| 1 |", "median ratio agent/bare: ", "load average at end"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
