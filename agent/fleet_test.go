package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/secretcache/secretcache/internal/redistest"
	"github.com/secretcache/secretcache/smtest"
)

const testKeyring = `{"current":"k1","keys":{"k1":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`

func TestFleetAndEventsTables(t *testing.T) {
	c := DefaultConfig()
	err := c.Parse([]byte(`
[fleet]
redis_addrs = ["10.0.0.1:6379", "10.0.0.2:6379"]
group = "payments"
key_secret = "fleet/key"
max_age_seconds = 120
redis_timeout_ms = 40

[events]
queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/secretcache-events"
wait_seconds = 10
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Fleet.RedisAddrs) != 2 || c.Fleet.Group != "payments" || c.Fleet.KeySecret != "fleet/key" ||
		c.Fleet.MaxAgeSeconds != 120 || c.Fleet.RedisTimeoutMS != 40 || c.Events.WaitSeconds != 10 ||
		!strings.HasSuffix(c.Events.QueueURL, "/secretcache-events") {
		t.Errorf("parsed %+v %+v", c.Fleet, c.Events)
	}
	for _, tc := range []struct{ doc, want string }{
		{"fleet = 3", `must be a table [fleet]`},
		{"[fleet]\nredis_adrs = []", `fleet.redis_adrs: unknown key of [fleet]`},
		{"[fleet]\nredis_addrs = [\"nohost\"]", `fleet.redis_addrs`},
		{"[fleet]\nredis_addrs = [\"h:0\"]", `host:port`},
		{"[fleet]\nredis_timeout_ms = -1", `fleet.redis_timeout_ms`},
		{"[fleet]\nkey_env = \"not a name\"", `fleet.key_env`},
		{"[events]\nqueue_url = \"http://sqs.example.com/1/q\"", `https://`},
		{"[events]\nqueue_url = \"https://user:pw@sqs.example.com/1/q\"", `events.queue_url`},
		{"[events]\nwait_seconds = 30", `events.wait_seconds`},
	} {
		c := DefaultConfig()
		err := c.Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want one with %q", tc.doc, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: error quotes the credentials", tc.doc)
		}
		if len(c.Fleet.RedisAddrs) != 0 || c.Events.QueueURL != "" {
			t.Errorf("%q: a failed parse changed the configuration", tc.doc)
		}
	}
	if err := (&Config{Fleet: FleetConfig{RedisAddrs: []string{"h:1"}}}).checkFleet("fleet"); err == nil {
		t.Error("[fleet] without a key source accepted")
	}
	if err := (&Config{Fleet: FleetConfig{RedisAddrs: []string{"h:1"}, KeyEnv: "A", KeyFile: "/k"}}).checkFleet("fleet"); err == nil {
		t.Error("[fleet] with two key sources accepted")
	}
}

// Three agents with [fleet] sharing one Redis make one AWS read for a
// secret all three serve.
func TestAgentsShareTheFleetL2(t *testing.T) {
	rs := redistest.Start(t)
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)
	if _, err := srv.CreateSecret("", "db", "s3cret-value"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SC_FLEET_KEY", testKeyring)
	for i := range 3 {
		cfg := testConfig()
		cfg.Fleet = FleetConfig{RedisAddrs: []string{rs.Addr}, KeyEnv: "SC_FLEET_KEY", RedisTimeoutMS: 2000}
		a, err := New(context.Background(), cfg, WithToken(testToken), WithLogger(testLogger(t)), WithSource(awsSource(t, srv)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		if v, err := a.Cache().GetString(context.Background(), "db"); err != nil || v != "s3cret-value" {
			t.Fatalf("agent %d: %v", i, err)
		}
		if a.fl.src == nil {
			t.Fatal("[fleet] not wired")
		}
		if h := a.mon.Health(context.Background()).Components["fleet"]; h.Status != "healthy" || len(a.fleetCollectors()) != 1 {
			t.Errorf("agent %d: fleet health %+v, %d collectors", i, h, len(a.fleetCollectors()))
		}
	}
	if n := srv.Calls("", "GetSecretValue"); n != 1 {
		t.Errorf("3 agents made %d AWS reads, want 1", n)
	}
	if out, _ := rs.CLI("--scan"); strings.Contains(out, "db") {
		t.Errorf("a Redis key names the secret: %s", out)
	}
}
