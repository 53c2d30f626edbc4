package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/secretcache/secretcache/internal/clip"
)

// rawHost sends GET path to addr with the given Host header (none when
// host is "-", as HTTP/1.0) and returns the status and body.
func rawHost(t *testing.T, addr, path, host string, headers ...string) (int, string) {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if host == "-" {
		req = "GET " + path + " HTTP/1.0\r\n"
	}
	for _, h := range headers {
		req += h + "\r\n"
	}
	return rawRequest(t, addr, req+"\r\n")
}

// hostCases are Host headers a DNS-rebinding page would send (refused) and
// the ones local clients send (served).
var hostCases = []struct {
	host string
	ok   bool
}{
	{"localhost", true},
	{"localhost:2773", true},
	{"LocalHost:2773", true},
	{"localhost.", true},
	{"127.0.0.1", true},
	{"127.0.0.1:2773", true},
	{"127.1.2.3:80", true},
	{"[::1]", true},
	{"[::1]:2773", true},
	{"-", true}, // HTTP/1.0 without Host: no browser sends that
	{"attacker.example", false},
	{"attacker.example:2773", false},
	{"localhost.attacker.example", false},
	{"127.0.0.1.attacker.example", false},
	{"evil-localhost", false},
	{"128.0.0.1", false},
	{"10.0.0.1:2773", false},
	{"[::2]:2773", false},
	{"[::1", false},
	{"localhost:x", false},
	{"localhost:", false},
	{"allowed.example", false}, // not configured in this test
}

func TestHostCheck(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", "v")
	for _, c := range hostCases {
		for _, path := range []string{"/v1/s", "/secretsmanager/get?secretId=s", "/ping", "/ready"} {
			st, body := rawHost(t, e.a.Addr(), path, c.host, tokHdr)
			if c.ok && st != 200 {
				t.Errorf("API %s with Host %q = %d %q, want 200", path, c.host, st, body)
			}
			if !c.ok && (st != http.StatusMisdirectedRequest || body != msgMisdirected) {
				t.Errorf("API %s with Host %q = %d %q, want 421 %q", path, c.host, st, body, msgMisdirected)
			}
			if !c.ok && strings.Contains(body, "v") && strings.Contains(body, "SecretString") {
				t.Errorf("API %s with Host %q leaked the secret", path, c.host)
			}
		}
	}
}

func TestAdminHostCheck(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "s", "v")
	if st, _ := e.get("/v1/s"); st != 200 {
		t.Fatal(st)
	}
	paths := []string{"/", "/status", "/status.json", "/report", "/metrics", "/health/secrets", "/secrets-cache-stats", "/ready", "/ping", "/nope"}
	for _, c := range hostCases {
		for _, path := range paths {
			st, body := rawHost(t, e.a.AdminAddr(), path, c.host)
			if c.ok && st == http.StatusMisdirectedRequest {
				t.Errorf("admin %s with Host %q = 421, want it served", path, c.host)
			}
			if !c.ok && (st != http.StatusMisdirectedRequest || body != msgMisdirected) {
				t.Errorf("admin %s with Host %q = %d %q, want 421 %q", path, c.host, st, clip.String(body, 80), msgMisdirected)
			}
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	e := newEnv(t, envOpt{opts: []Option{WithAllowedHosts("Secretcache.Internal.", "agent_1", "10.1.2.3", "[fd00::5]")}})
	mustCreate(t, e.srv, "s", "v")
	for host, ok := range map[string]bool{
		"secretcache.internal": true, "SECRETCACHE.internal.:2773": true, "agent_1:2773": true,
		"10.1.2.3:2773": true, "[fd00::5]:2773": true, "localhost:2773": true,
		"other.internal": false, "secretcache.internal.attacker.example": false, "10.1.2.4": false, "[fd00::6]": false,
	} {
		st, _ := rawHost(t, e.a.Addr(), "/v1/s", host, tokHdr)
		if ok != (st == 200) {
			t.Errorf("API with Host %q = %d, allowed %v", host, st, ok)
		}
		st, _ = rawHost(t, e.a.AdminAddr(), "/ping", host)
		if ok != (st == 200) {
			t.Errorf("admin with Host %q = %d, allowed %v", host, st, ok)
		}
	}
}

func TestAllowedHostsRejectsBadNames(t *testing.T) {
	for _, names := range [][]string{{""}, {"a:80"}, {"[::1]:80"}, {"-"}, {"a..b"}, {"a b"}, {"ä.example"},
		{"*.example"}, {strings.Repeat("a", 64) + ".example"}, {strings.Repeat("a.", 127) + "ab"},
		{"fe80::1%eth0"}, {"x\x00"}, make([]string, MaxAllowedHosts+1)} {
		if _, err := New(t.Context(), testConfig(), WithToken(testToken), WithAllowedHosts(names...)); err == nil ||
			!strings.Contains(err.Error(), "allowed host") {
			t.Errorf("WithAllowedHosts(%q): %v, want an error naming the allowed hosts", clip.String(strings.Join(names, ","), 40), err)
		}
	}
}

// TestHostPolicyLocalAddress: a Host that is the address the connection
// was accepted on is answered (Kubernetes probes, Prometheus); another
// address of the same kind is not.
func TestHostPolicyLocalAddress(t *testing.T) {
	p, err := newHostPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		local, host string
		ok          bool
	}{
		{"10.1.2.3:2774", "10.1.2.3:2774", true},
		{"10.1.2.3:2774", "10.1.2.3", true},
		{"10.1.2.3:2774", "10.1.2.4:2774", false},
		{"[fd00::5]:2774", "[fd00::5]:2774", true},
		{"[::ffff:10.1.2.3]:2774", "10.1.2.3:2774", true},
		{"10.1.2.3:2774", "pod.example:2774", false},
	} {
		la, err := net.ResolveTCPAddr("tcp", c.local)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "http://"+c.host+"/ping", nil)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, la))
		if got := p.allowed(r); got != c.ok {
			t.Errorf("Host %q on a connection to %s: allowed %v, want %v", c.host, c.local, got, c.ok)
		}
	}
}

func BenchmarkHostAllowed(b *testing.B) {
	p, _ := newHostPolicy([]string{"agent.internal"})
	for _, host := range []string{"127.0.0.1:2773", "localhost:2773", "agent.internal:2773"} {
		b.Run(host, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://"+host+"/ping", nil)
			b.ReportAllocs()
			for b.Loop() {
				if !p.allowed(r) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// The allowed_hosts key does what WithAllowedHosts does, and a bad name in
// it is refused with the key named.
func TestAllowedHostsKey(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Parse([]byte(`allowed_hosts = ["agent.internal"]`)); err != nil || !slices.Equal(cfg.AllowedHosts, []string{"agent.internal"}) {
		t.Fatalf("Parse: %+v", cfg.AllowedHosts)
	}
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.AllowedHosts = []string{"agent.internal"} }})
	mustCreate(t, e.srv, "s", "v")
	for host, want := range map[string]int{"agent.internal:2773": 200, "localhost": 200, "other.internal": 421} {
		if st, _ := rawHost(t, e.a.Addr(), "/v1/s", host, tokHdr); st != want {
			t.Errorf("Host %q: %d, want %d", host, st, want)
		}
	}
	for _, bad := range []string{`allowed_hosts = ["a:80"]`, `allowed_hosts = [""]`, `allowed_hosts = "x y"`} {
		c := DefaultConfig()
		if err := c.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "allowed_hosts") ||
			!strings.Contains(err.Error(), "without port") {
			t.Errorf("%s: %v, want an error naming allowed_hosts and what is accepted", bad, err)
		}
	}
}
