package health_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/secretcache/secretcache/health"
)

func TestWorse(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{health.Healthy, health.Healthy, health.Healthy},
		{health.Healthy, health.Degraded, health.Degraded},
		{health.Degraded, health.Healthy, health.Degraded},
		{health.Degraded, health.Unhealthy, health.Unhealthy},
		{health.Unhealthy, health.Degraded, health.Unhealthy},
		{health.Healthy, "sideways", "sideways"}, // unknown words rank as degraded
		{"sideways", health.Degraded, "sideways"},
		{"sideways", health.Unhealthy, health.Unhealthy},
	} {
		if got := health.Worse(tc.a, tc.b); got != tc.want {
			t.Errorf("Worse(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCheckerFuncAndJSON(t *testing.T) {
	var c health.Checker = health.CheckerFunc(func(context.Context) health.Report {
		return health.Report{Status: health.Degraded, Message: "pool on v1", Details: map[string]any{"n": 1}}
	})
	b, err := json.Marshal(c.CheckHealth(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"status":"degraded","message":"pool on v1","details":{"n":1}}`; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	if b, _ := json.Marshal(health.Report{Status: health.Healthy}); string(b) != `{"status":"healthy"}` {
		t.Fatalf("empty fields not omitted: %s", b)
	}
}

// TestNoPrometheus is why this package exists: what reports health (rotate,
// sqlsecret) must not link the Prometheus client, and health itself needs
// only the standard library.
func TestNoPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	list := func(format string, pkgs ...string) []string {
		t.Helper()
		cmd := exec.Command(goTool, append([]string{"list", "-deps", "-f", format}, pkgs...)...)
		cmd.Dir = ".."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %v: %v", pkgs, err)
		}
		return strings.Fields(string(out))
	}
	for _, p := range list("{{.ImportPath}}", "./rotate", "./sqlsecret", "./health") {
		if strings.Contains(p, "prometheus") {
			t.Errorf("rotate, sqlsecret or health depend on %s", p)
		}
	}
	if other := list("{{if not .Standard}}{{.ImportPath}}{{end}}", "./health"); len(other) != 1 {
		t.Errorf("health imports more than the standard library: %v", other)
	}
}
