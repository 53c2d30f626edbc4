package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/events"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/fleet/fleetmon"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/monitor"
)

// FleetConfig is the [fleet] table: a Redis L2 shared by the agents of a
// fleet (package fleet). Off while RedisAddrs is empty.
type FleetConfig struct {
	RedisAddrs     []string `toml:"redis_addrs"`      // host:port; several: a Redis Cluster's seeds
	RedisTLS       bool     `toml:"redis_tls"`        // TLS to Redis (ElastiCache in-transit encryption)
	Group          string   `toml:"group"`            // fleet group ("default")
	KeyFile        string   `toml:"key_file"`         // keyring document file (not group/world-writable)
	KeyEnv         string   `toml:"key_env"`          // or: environment variable holding it
	KeySecret      string   `toml:"key_secret"`       // or: Secrets Manager secret holding it
	MaxAgeSeconds  int      `toml:"max_age_seconds"`  // oldest L2 entry served; 0: ttl_seconds
	RedisTimeoutMS int      `toml:"redis_timeout_ms"` // bound of one Redis call; 0: 50
}

// EventsConfig is the [events] table: an SQS queue of Secrets Manager
// change events (package events; deploy/cloudformation makes it). Off
// while QueueURL is empty.
type EventsConfig struct {
	QueueURL    string `toml:"queue_url"`    // https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
	WaitSeconds int    `toml:"wait_seconds"` // long poll, 1 to 20; 0: 20
}

// fleetKeys are the keys of [fleet] and [events], under their table.
var fleetKeys = map[string][]key{
	"fleet": {
		{"redis_addrs", listKey(func(c *Config) *[]string { return &c.Fleet.RedisAddrs }, 64, listItem{validHostPort, "host:port addresses of Redis"})},
		{"redis_tls", boolKey(func(c *Config) *bool { return &c.Fleet.RedisTLS })},
		{"group", checkedString(func(c *Config) *string { return &c.Fleet.Group }, func(s string) bool { return len(s) <= 256 }, "must be at most 256 bytes")},
		{"key_file", checkedString(func(c *Config) *string { return &c.Fleet.KeyFile }, validPath, pathRule)},
		{"key_env", checkedString(func(c *Config) *string { return &c.Fleet.KeyEnv }, func(s string) bool { return s == "" || validEnvName(s) }, "must be an environment variable name")},
		{"key_secret", checkedString(func(c *Config) *string { return &c.Fleet.KeySecret }, func(s string) bool { return s == "" || secretcache.CheckID(s) == nil }, "must be a secret name or ARN")},
		{"max_age_seconds", intKey(func(c *Config) *int { return &c.Fleet.MaxAgeSeconds }, 0, 86400)},
		{"redis_timeout_ms", intKey(func(c *Config) *int { return &c.Fleet.RedisTimeoutMS }, 0, 10000)}, // 0: 50 ms
	},
	"events": {
		{"queue_url", rule{set: setQueueURL}},
		{"wait_seconds", intKey(func(c *Config) *int { return &c.Events.WaitSeconds }, 0, 20)}, // 0: 20 s
	},
}

func validHostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(p)
	return err == nil && h != "" && perr == nil && n > 0 && n < 65536
}

// setQueueURL sets events.queue_url; its error never quotes the value
// (a URL can carry credentials).
func setQueueURL(c *Config, name string, v any) error {
	s, ok := v.(string)
	if !ok || !validQueueURL(s) {
		return &ConfigError{Key: name, Allowed: "must be an https:// SQS queue URL without user info (http:// only on loopback)"}
	}
	c.Events.QueueURL = s
	return nil
}

func validQueueURL(s string) bool {
	if s == "" {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || len(s) > 1024 {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback())
}

// tableKey is the rule of a TOML table of keys: each one is set by its
// rule, under the name "table.key"; an unknown key is an error.
func tableKey(table string) rule {
	return rule{
		set: func(c *Config, name string, v any) error {
			m, ok := v.(map[string]any)
			if !ok {
				return badValue(name, v, "must be a table ["+table+"]")
			}
			for sub, sv := range m {
				full := table + "." + clip.String(sub, 64)
				k, ok := findIn(fleetKeys[table], sub)
				if !ok {
					return &ConfigError{Key: full, Allowed: "unknown key of [" + table + "]"}
				}
				if err := k.set(c, full, sv); err != nil {
					return err
				}
			}
			return nil
		},
		check: func(c *Config, _ string) error { return c.checkFleet(table) },
	}
}

func findIn(ks []key, name string) (key, bool) {
	for _, k := range ks {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// checkFleet checks the table as a whole.
func (c *Config) checkFleet(table string) error {
	if table == "events" {
		return nil
	}
	f := c.Fleet
	if len(f.RedisAddrs) == 0 {
		return nil
	}
	n := 0
	for _, s := range []string{f.KeyFile, f.KeyEnv, f.KeySecret} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return &ConfigError{Key: "fleet", Allowed: "with redis_addrs, set exactly one of key_file, key_env and key_secret"}
	}
	return nil
}

// fleetRun is what setupFleet and startEvents made.
type fleetRun struct {
	src *fleet.Source
}

// setupFleet wraps the agent's source in the fleet's L2 when [fleet] asks.
func (a *Agent) setupFleet(ctx context.Context) error {
	f := a.cfg.Fleet
	if len(f.RedisAddrs) == 0 {
		return nil
	}
	if err := a.cfg.checkFleet("fleet"); err != nil {
		return err
	}
	var kr *fleet.Keyring
	var err error
	switch {
	case f.KeyFile != "":
		kr, err = fleet.KeyringFromFile(f.KeyFile)
	case f.KeyEnv != "":
		kr, err = fleet.KeyringFromEnv(f.KeyEnv)
	default:
		kr, err = fleet.KeyringFromSecret(ctx, a.src, f.KeySecret)
	}
	if err != nil {
		return fmt.Errorf("agent: [fleet]: %w", err)
	}
	opt := fleet.ClientOptions(f.RedisAddrs...)
	if f.RedisTLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	rdb := redis.NewUniversalClient(opt)
	a.closers = append(a.closers, func() { _ = rdb.Close() })
	maxAge := time.Duration(f.MaxAgeSeconds) * time.Second
	if maxAge <= 0 {
		maxAge = max(a.cfg.TTL(), time.Second)
	}
	fopts := []fleet.Option{fleet.WithLogger(a.log), fleet.WithMaxAge(maxAge)}
	if f.Group != "" {
		fopts = append(fopts, fleet.WithGroup(f.Group))
	}
	if f.RedisTimeoutMS > 0 {
		fopts = append(fopts, fleet.WithRedisTimeout(time.Duration(f.RedisTimeoutMS)*time.Millisecond))
	}
	src, err := fleet.New(rdb, a.src, kr, fopts...)
	if err != nil {
		return fmt.Errorf("agent: [fleet]: %w", err)
	}
	a.fl.src, a.src = src, src
	a.mon.RegisterComponent("fleet", fleetmon.Health(src))
	a.log.Info("fleet: shared L2 on", "redis_nodes", len(f.RedisAddrs), "key", kr.Current())
	return nil
}

// startEvents follows the fleet's change notices and consumes [events]'
// queue, until the agent closes.
func (a *Agent) startEvents(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.closers = append(a.closers, cancel)
	if a.fl.src != nil {
		go func() { _ = a.fl.src.Follow(ctx, a.cache) }()
	}
	e := a.cfg.Events
	if e.QueueURL == "" {
		return nil
	}
	base, err := LoadAWSConfig(ctx, a.cfg.PrimaryRegion())
	if err != nil {
		return fmt.Errorf("agent: [events]: %w", err)
	}
	u, _ := url.Parse(e.QueueURL)
	client := sqs.NewFromConfig(base, func(o *sqs.Options) {
		if u.Scheme == "http" { // a local emulator
			o.BaseEndpoint = &e.QueueURL
		}
	})
	var h events.Handler
	if a.fl.src != nil {
		h = func(ctx context.Context, ev events.Event) error { return a.fl.src.Notify(ctx, ev.SecretID) }
	} else {
		h = events.RefreshCache(a.cache, a.nameOf())
	}
	wait := 20 * time.Second
	if e.WaitSeconds > 0 {
		wait = time.Duration(e.WaitSeconds) * time.Second
	}
	c, err := events.NewConsumer(client, e.QueueURL, h, events.WithLogger(a.log), events.WithWaitTime(wait))
	if err != nil {
		return fmt.Errorf("agent: [events]: %w", err)
	}
	go func() { _ = c.Run(ctx) }()
	a.log.Info("events: consuming", "queue", e.QueueURL)
	return nil
}

func (a *Agent) nameOf() func(string) string {
	if d, ok := a.src.(secretcache.Describer); ok {
		return d.Describe().NameOf
	}
	return nil
}

// fleetCollectors are the fleet's counters (package fleetmon), when [fleet] is on.
func (a *Agent) fleetCollectors() []prometheus.Collector {
	if a.fl.src == nil {
		return nil
	}
	c, err := fleetmon.Collector(a.fl.src, monitor.DefaultNamespace)
	if err != nil {
		return nil
	}
	return []prometheus.Collector{c}
}
