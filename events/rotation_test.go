package events_test

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/events"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/internal/redistest"
	"github.com/secretcache/secretcache/smtest"
)

type rhost struct {
	src   *fleet.Source
	cache *secretcache.Cache
}

func fleetHosts(t *testing.T, sm *smtest.Server, addr string, n int, ttl, maxAge time.Duration) ([]*rhost, redis.UniversalClient) {
	t.Helper()
	k := make([]byte, fleet.KeySize)
	_, _ = rand.Read(k)
	kr, err := fleet.NewKeyring("k1", map[string][]byte{"k1": k})
	if err != nil {
		t.Fatal(err)
	}
	var last redis.UniversalClient
	hs := make([]*rhost, n)
	for i := range hs {
		aws, err := awssm.New(sm.AWSConfig(""), awssm.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		opt := fleet.ClientOptions(addr)
		opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, 2*time.Second
		rdb := redis.NewUniversalClient(opt)
		t.Cleanup(func() { _ = rdb.Close() })
		last = rdb
		src, err := fleet.New(rdb, aws, kr, fleet.WithLogger(quiet()), fleet.WithMaxAge(maxAge),
			fleet.WithRedisTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		c, err := secretcache.New(src, secretcache.WithTTL(ttl), secretcache.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		hs[i] = &rhost{src: src, cache: c}
	}
	return hs, last
}

// untilAll has every host read id until it serves want, and returns how long
// each took from start.
func untilAll(t *testing.T, hs []*rhost, id, want string, start time.Time, limit time.Duration) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			for {
				v, err := h.cache.GetString(context.Background(), id)
				if err != nil {
					t.Errorf("host %d: %v", i, err)
					return
				}
				if v == want {
					took[i] = time.Since(start)
					return
				}
				if time.Since(start) > limit {
					took[i] = -1
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return took
}

func summary(t *testing.T, what string, took []time.Duration, limit time.Duration) {
	t.Helper()
	s := slices.Clone(took)
	slices.Sort(s)
	if s[0] < 0 {
		t.Fatalf("%s: some host never served the new version within %v", what, limit)
	}
	t.Logf("%s: %d hosts serve the new version: p50 %v, max %v", what, len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	if s[len(s)-1] > limit {
		t.Errorf("%s: max %v over %v", what, s[len(s)-1], limit)
	}
}

// After a new version and its event, every one of 50 hosts serves the new
// version within 2 s (with a 10-minute TTL: only the event can do it), with
// one AWS read for the fleet.
func TestRotationPushedTo50Hosts(t *testing.T) {
	srv := redistest.Start(t)
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	secARN, err := sm.CreateSecret("", "app/db", "v1-value")
	if err != nil {
		t.Fatal(err)
	}
	hs, rdb := fleetHosts(t, sm, srv.Addr, 50, 10*time.Minute, 5*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() { _ = h.src.Follow(ctx, h.cache) })
	}
	defer wg.Wait()
	defer cancel()
	waitSubscribers(t, rdb, 50)
	for i, v := range untilAll(t, hs, "app/db", "v1-value", time.Now(), time.Minute) {
		if v < 0 {
			t.Fatalf("host %d did not read v1", i)
		}
	}
	p := newPipeline(t)
	c, err := events.NewConsumer(p.sqs, p.queue, func(ctx context.Context, ev events.Event) error {
		return hs[0].src.Notify(ctx, ev.SecretID)
	}, events.WithWaitTime(time.Second), events.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(ctx) }()

	before := sm.Calls("", "GetSecretValue")
	if _, err := sm.PutSecretValue("", "app/db", "v2-value"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.put(t, "AWS API Call via CloudTrail", `{"eventSource":"secretsmanager.amazonaws.com","eventName":"PutSecretValue",
		"requestParameters":{"secretId":"app/db"},"responseElements":{"arn":"`+secARN+`"}}`)
	summary(t, "with events", untilAll(t, hs, "app/db", "v2-value", start, 30*time.Second), 2*time.Second)
	if got := sm.Calls("", "GetSecretValue") - before; got > 2 {
		t.Errorf("the rotation cost %d AWS reads for 50 hosts, want 1 (2 tolerated: a clock tick)", got)
	}
	// A duplicate delivery is harmless.
	p.put(t, "AWS API Call via CloudTrail", `{"eventSource":"secretsmanager.amazonaws.com","eventName":"PutSecretValue",
		"requestParameters":{"secretId":"app/db"},"responseElements":{"arn":"`+secARN+`"}}`)
	for deadline := time.Now().Add(30 * time.Second); c.Stats().Handled < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for i, h := range hs {
		if v, err := h.cache.GetString(ctx, "app/db"); err != nil || v != "v2-value" {
			t.Fatalf("host %d after a duplicate: %v", i, err)
		}
	}
}

// Without events, every host serves the new version within one TTL: the
// hosts count their values' ages from the AWS read, and the L2's max age is
// the TTL (as the agent sets it).
func TestRotationWithoutEvents(t *testing.T) {
	srv := redistest.Start(t)
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	if _, err := sm.CreateSecret("", "app/db", "v1-value"); err != nil {
		t.Fatal(err)
	}
	const ttl = time.Second
	hs, _ := fleetHosts(t, sm, srv.Addr, 50, ttl, ttl)
	untilAll(t, hs, "app/db", "v1-value", time.Now(), time.Minute)
	if _, err := sm.PutSecretValue("", "app/db", "v2-value"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// One TTL is the bound; the race detector on a loaded 2-core machine
	// gets a quarter more.
	summary(t, "without events", untilAll(t, hs, "app/db", "v2-value", start, 30*time.Second), ttl+ttl/4)
}

func waitSubscribers(t *testing.T, rdb redis.UniversalClient, n int64) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		chans, err := rdb.PubSubChannels(ctx, "scf:n:*").Result()
		if err != nil || len(chans) != 1 {
			continue
		}
		if m, err := rdb.PubSubNumSub(ctx, chans[0]).Result(); err == nil && m[chans[0]] >= n {
			return
		}
	}
	t.Fatal("the hosts did not subscribe")
}
