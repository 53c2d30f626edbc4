package fleet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/internal/redistest"
	"github.com/secretcache/secretcache/smtest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testKeyring(t testing.TB, ids ...string) *fleet.Keyring {
	t.Helper()
	if len(ids) == 0 {
		ids = []string{"k1"}
	}
	keys := map[string][]byte{}
	for _, id := range ids {
		k := make([]byte, fleet.KeySize)
		_, _ = rand.Read(k)
		keys[id] = k
	}
	kr, err := fleet.NewKeyring(ids[0], keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// host is one member of a test fleet: its own AWS client and Redis client,
// a fleet.Source and a cache over it.
type host struct {
	src   *fleet.Source
	cache *secretcache.Cache
	rdb   redis.UniversalClient
}

type fleetEnv struct {
	t     testing.TB
	sm    *smtest.Server
	addrs []string
	kr    *fleet.Keyring
}

func newEnv(t testing.TB, addrs []string) *fleetEnv {
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	return &fleetEnv{t: t, sm: sm, addrs: addrs, kr: testKeyring(t)}
}

func (e *fleetEnv) client() redis.UniversalClient {
	opt := fleet.ClientOptions(e.addrs...)
	opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, 2*time.Second // loaded test machine
	var rdb redis.UniversalClient
	if len(e.addrs) > 1 {
		rdb = redis.NewClusterClient(opt.Cluster())
	} else {
		rdb = redis.NewClient(opt.Simple())
	}
	e.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func (e *fleetEnv) host(kr *fleet.Keyring, fopts []fleet.Option, copts ...secretcache.Option) *host {
	// A loaded test machine (race detector, 50 hosts on 2 cores) is slower
	// than 50 ms; the fault tests set the bound back.
	fopts = append([]fleet.Option{fleet.WithRedisTimeout(2 * time.Second)}, fopts...)
	e.t.Helper()
	aws, err := awssm.New(e.sm.AWSConfig(""), awssm.WithLogger(quiet()))
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := e.client()
	src, err := fleet.New(rdb, aws, kr, append([]fleet.Option{fleet.WithLogger(quiet())}, fopts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := secretcache.New(src, append([]secretcache.Option{secretcache.WithLogger(quiet())}, copts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return &host{src: src, cache: c, rdb: rdb}
}

func (e *fleetEnv) hosts(n int, fopts []fleet.Option, copts ...secretcache.Option) []*host {
	hs := make([]*host, n)
	for i := range hs {
		hs[i] = e.host(e.kr, fopts, copts...)
	}
	return hs
}

func (e *fleetEnv) awsReads() int {
	return e.sm.Calls("", "GetSecretValue") + e.sm.Calls("", "BatchGetSecretValue")
}

// readAll has every host read id at once and returns the values seen.
func readAll(t testing.TB, hs []*host, id string) []string {
	t.Helper()
	var wg sync.WaitGroup
	vals := make([]string, len(hs))
	errs := make([]error, len(hs))
	start := make(chan struct{})
	for i, h := range hs {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			vals[i], errs[i] = h.cache.GetString(ctx, id)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
	}
	return vals
}

func sum(hs []*host) fleet.Stats {
	srcs := make([]*fleet.Source, len(hs))
	for i, h := range hs {
		srcs[i] = h.src
	}
	return sumStats(srcs)
}

// sumStats adds up the counters of srcs.
func sumStats(srcs []*fleet.Source) fleet.Stats {
	var s fleet.Stats
	for _, src := range srcs {
		x := src.Stats()
		s.Hits += x.Hits
		s.Waits += x.Waits
		s.Misses += x.Misses
		s.Rejections += x.Rejections
		s.Fallbacks += x.Fallbacks
		s.Origin += x.Origin
		s.Writes += x.Writes
	}
	return s
}

// scanRedis fails t if any key or value of the Redis at addr holds one of
// the needles.
func scanRedis(t testing.TB, rdb redis.UniversalClient, needles ...string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "*", 1000).Iterator()
		for it.Next(ctx) {
			k := it.Val()
			v, err := c.Get(ctx, k).Bytes()
			if err != nil && err != redis.Nil {
				return err
			}
			n++
			for _, nd := range needles {
				if strings.Contains(k, nd) || bytes.Contains(v, []byte(nd)) {
					t.Errorf("redis key %q or its value holds %q", k, nd)
				}
			}
		}
		return it.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, m)
		})
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return n
}

func secretName(i int) string  { return fmt.Sprintf("app/db-%03d", i) }
func secretValue(i int) string { return fmt.Sprintf("pw-value-%03d-%s", i, strings.Repeat("x", 8)) }

func single(t testing.TB) []string {
	return []string{redistest.Start(t).Addr}
}

type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(silentRedis{}) // dial failures of the kill tests
	m.Run()
}
