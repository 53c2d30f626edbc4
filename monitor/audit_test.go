package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

func records(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestAuditHookThroughCache(t *testing.T) {
	var buf syncBuffer
	clk := newClock()
	src := newScripted(map[string]string{"app/db": "hunter2-value"})
	c := newCache(t, src, clk, secretcache.WithReadHook(monitor.AuditHook(captureLogger(&buf))))
	ctx := monitor.WithAuditAttrs(context.Background(), slog.String("request_id", "r-1"))
	ctx = monitor.WithAuditAttrs(ctx, slog.String("user", "alice"))

	_, _ = c.GetString(ctx, "app/db")                                             // miss
	_, _ = c.GetString(ctx, "app/db")                                             // hit
	_, _ = c.GetString(ctx, "app/nope")                                           // error
	_, _ = c.GetString(ctx, "app/nope", secretcache.WithFallback("fb-value"))     // fallback
	_, _ = c.GetString(ctx, "app/db", secretcache.WithVersionStage("AWSPENDING")) // miss, other stage

	rs := records(t, &buf)
	if len(rs) != 5 {
		t.Fatalf("%d records:\n%s", len(rs), buf.String())
	}
	want := []struct{ outcome, level, stage, version string }{
		{"miss", "INFO", "AWSCURRENT", "v1"}, {"hit", "INFO", "AWSCURRENT", "v1"},
		{"error", "WARN", "AWSCURRENT", ""}, {"fallback", "WARN", "AWSCURRENT", ""},
		{"miss", "INFO", "AWSPENDING", "v1"},
	}
	for i, w := range want {
		r := rs[i]
		if r["msg"] != "secret read" || r["outcome"] != w.outcome || r["level"] != w.level || r["stage"] != w.stage ||
			r["request_id"] != "r-1" || r["user"] != "alice" || r["latency"] == nil {
			t.Errorf("record %d: %v", i, r)
		}
		if (w.version == "") != (r["version_id"] == nil) || (w.version != "" && r["version_id"] != w.version) {
			t.Errorf("record %d version: %v", i, r)
		}
	}
	if rs[2]["error_kind"] != "not_found" || !strings.Contains(rs[2]["error"].(string), "app/nope") {
		t.Errorf("error record: %v", rs[2])
	}
	if rs[0]["secret"] != "app/db" {
		t.Errorf("secret attr: %v", rs[0])
	}
	if s := buf.String(); strings.Contains(s, "hunter2-value") || strings.Contains(s, "fb-value") {
		t.Fatal("a value reached the audit log")
	}
}

func TestAuditHookSamplingAndLevels(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hook := monitor.AuditHook(logger, monitor.WithAuditSampling(10), monitor.WithAuditLevel(slog.LevelDebug),
		monitor.WithAuditProblemLevel(slog.LevelError), monitor.WithAuditMessage("audit"))
	ctx := context.Background()
	for range 25 {
		hook(ctx, secretcache.ReadEvent{Ref: secretcache.Ref{ID: "a"}, Outcome: secretcache.OutcomeHit})
	}
	if buf.String() != "" {
		t.Fatalf("debug records logged at info level: %s", buf.String())
	}
	hook(ctx, secretcache.ReadEvent{Ref: secretcache.Ref{ID: "a"}, Outcome: secretcache.OutcomeError,
		Err: secretcache.NewError(secretcache.ErrThrottled, "a", nil)})
	rs := records(t, &buf)
	if len(rs) != 1 || rs[0]["level"] != "ERROR" || rs[0]["msg"] != "audit" || rs[0]["error_kind"] != "throttled" {
		t.Fatalf("%v", rs)
	}

	var buf2 syncBuffer
	hook = monitor.AuditHook(captureLogger(&buf2), monitor.WithAuditSampling(10))
	for range 25 {
		hook(ctx, secretcache.ReadEvent{Ref: secretcache.Ref{ID: "a"}, Outcome: secretcache.OutcomeHit})
	}
	for range 3 {
		hook(ctx, secretcache.ReadEvent{Ref: secretcache.Ref{ID: "a"}, Outcome: secretcache.OutcomeMiss})
		hook(ctx, secretcache.ReadEvent{Ref: secretcache.Ref{ID: "a"}, Outcome: secretcache.OutcomeStale})
	}
	n := map[string]int{}
	for _, r := range records(t, &buf2) {
		n[r["outcome"].(string)]++
	}
	if n["hit"] != 3 || n["miss"] != 3 || n["stale"] != 3 { // hits 1, 11, 21
		t.Fatalf("sampled counts %v", n)
	}
}

func TestAuditHookHostileInput(t *testing.T) {
	var buf syncBuffer
	hook := monitor.AuditHook(captureLogger(&buf), nil, monitor.WithAuditSampling(-5), monitor.WithAuditMessage(""))
	hook(nilCtx, secretcache.ReadEvent{
		Ref:     secretcache.Ref{ID: strings.Repeat("x", 1<<20) + "\n\x00\xff", VersionID: "v\n1"},
		Outcome: secretcache.OutcomeError, Err: errors.New(strings.Repeat("e", 10000)), Latency: -time.Second,
	})
	rs := records(t, &buf)
	if len(rs) != 1 {
		t.Fatalf("%d records", len(rs))
	}
	r := rs[0]
	if id := r["secret"].(string); len(id) > secretcache.MaxIDLength+3 || strings.ContainsAny(id, "\n\x00") {
		t.Errorf("secret attr not bounded: %d bytes", len(id))
	}
	if e := r["error"].(string); len(e) > 520 {
		t.Errorf("error attr not bounded: %d", len(e))
	}
	if r["version_id"] != "v1" || r["msg"] != "secret read" {
		t.Errorf("%v", r)
	}
	// A nil logger uses slog.Default: no panic.
	monitor.AuditHook(nil)(context.Background(), secretcache.ReadEvent{Outcome: secretcache.OutcomeMiss})
	if len(monitor.AuditAttrs(nilCtx)) != 0 || monitor.WithAuditAttrs(nilCtx) == nil {
		t.Error("nil ctx helpers")
	}
}
