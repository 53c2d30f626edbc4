package fleet_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache/internal/redistest"
)

// Notices go through a Redis Cluster too: a PUBLISH on one node reaches
// the subscribers of every node. After Notify on one host, every host
// serves the new version, from one AWS read for the fleet.
func TestNoticesOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	e := newEnv(t, cl.Addrs())
	if _, err := e.sm.CreateSecret("", "app/db", "v1-value"); err != nil {
		t.Fatal(err)
	}
	hs := e.hosts(10, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, h := range hs {
		wg.Go(func() { _ = h.src.Follow(ctx, h.cache) })
	}
	for i, v := range readAll(t, hs, "app/db") {
		if v != "v1-value" {
			t.Fatalf("host %d read %q", i, v)
		}
	}
	waitClusterSubscribers(t, hs[0].rdb.(*redis.ClusterClient), len(hs))
	before := e.awsReads()
	if _, err := e.sm.PutSecretValue("", "app/db", "v2-value"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := hs[3].src.Notify(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64
	var readers sync.WaitGroup
	for i, h := range hs {
		readers.Go(func() {
			for time.Since(start) < 30*time.Second {
				if v, err := h.cache.GetString(ctx, "app/db"); err == nil && v == "v2-value" {
					if d := int64(time.Since(start)); d > last.Load() {
						last.Store(d)
					}
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Errorf("host %d did not see the new version", i)
		})
	}
	readers.Wait()
	t.Logf("all 10 hosts on the new version %v after the notice", time.Duration(last.Load()))
	if d := time.Duration(last.Load()); d > 2*time.Second {
		t.Errorf("the last host took %v, want under 2 s", d)
	}
	if got := e.awsReads() - before; got > 2 {
		t.Errorf("the notice cost %d AWS reads for 10 hosts, want 1 (2 tolerated: a clock tick)", got)
	}
	if st := sum(hs); st.Rejections != 0 {
		t.Errorf("%d rejections", st.Rejections)
	}
}

// waitClusterSubscribers waits until n clients, summed over the cluster's
// nodes, are subscribed to the fleet's notice channel.
func waitClusterSubscribers(t *testing.T, cc *redis.ClusterClient, n int) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var total atomic.Int64
		err := cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			chans, err := c.PubSubChannels(ctx, "scf:n:*").Result()
			if err != nil {
				return err
			}
			for _, ch := range chans {
				m, err := c.PubSubNumSub(ctx, ch).Result()
				if err != nil {
					return err
				}
				total.Add(m[ch])
			}
			return nil
		})
		if err == nil && total.Load() >= int64(n) {
			return
		}
	}
	t.Fatal("the hosts did not subscribe")
}
