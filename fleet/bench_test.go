package fleet_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/smtest"
)

// counting counts the secrets a source reads from AWS.
type counting struct {
	*awssm.Source
	n *atomic.Int64
}

func (c counting) Fetch(ctx context.Context, r secretcache.Ref) (*secretcache.Secret, error) {
	c.n.Add(1)
	return c.Source.Fetch(ctx, r)
}

func (c counting) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	c.n.Add(int64(len(refs)))
	return c.Source.FetchBatch(ctx, refs)
}

// BenchmarkFleet runs two fleets of 50 hosts side by side, each host with
// its own AWS client, warming up with one Warm and then reading 100 secrets
// steadily for 10 TTL windows (TTL 2 s; after one window that is not
// counted): one fleet shares a Redis L2, the other does not. It reports the
// secrets read from AWS per secret per TTL window, fleet-wide and per host,
// and the API calls (a BatchGetSecretValue reads up to 20 secrets) per
// secret per window, and logs the caches' and the sources' counters. The
// L2's max age is the TTL, and hosts count a value's age from its AWS read.
//
//	go test -run '^$' -bench Fleet -benchtime 1x ./fleet
func BenchmarkFleet(b *testing.B) {
	const hosts, secrets, windows = 50, 100, 10
	const ttl = 2 * time.Second
	addrs := single(b)
	for b.Loop() {
		run := func(withL2 bool) (reads, calls float64) {
			sm := smtest.NewServer()
			defer sm.Close()
			for i := range secrets {
				if _, err := sm.CreateSecret("", secretName(i), secretValue(i)); err != nil {
					b.Fatal(err)
				}
			}
			e := &fleetEnv{t: b, sm: sm, addrs: addrs, kr: testKeyring(b)}
			var origin atomic.Int64
			caches := make([]*secretcache.Cache, hosts)
			var srcs []*fleet.Source
			for h := range caches {
				aws, err := awssm.New(sm.AWSConfig(""), awssm.WithLogger(quiet()))
				if err != nil {
					b.Fatal(err)
				}
				var src secretcache.Source = counting{aws, &origin}
				if withL2 {
					if src, err = fleet.New(e.client(), src, e.kr, fleet.WithLogger(quiet()),
						fleet.WithMaxAge(ttl), fleet.WithRedisTimeout(time.Second)); err != nil {
						b.Fatal(err)
					}
					srcs = append(srcs, src.(*fleet.Source))
				}
				if caches[h], err = secretcache.New(src, secretcache.WithTTL(ttl), secretcache.WithLogger(quiet())); err != nil {
					b.Fatal(err)
				}
				defer caches[h].Close()
			}
			// Every host warms up first, as a service does at start: one
			// Warm of the 100 ids, in batches.
			ids := make([]string, secrets)
			for i := range ids {
				ids[i] = secretName(i)
			}
			var wg sync.WaitGroup
			for _, c := range caches {
				wg.Go(func() {
					if err := c.Warm(context.Background(), ids...); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			var errs atomic.Int64
			// One window of warm-up (every host's first reads), not counted,
			// then 10 windows counted.
			var warmReads int64
			var warmCalls int
			warm := time.AfterFunc(ttl, func() {
				warmReads = origin.Load()
				warmCalls = sm.Calls("", "GetSecretValue") + sm.Calls("", "BatchGetSecretValue")
			})
			end := time.Now().Add((windows + 1) * ttl)
			for _, c := range caches {
				wg.Go(func() {
					for time.Now().Before(end) {
						for i := range secrets {
							if v, err := c.GetString(context.Background(), secretName(i)); err != nil || v != secretValue(i) {
								errs.Add(1)
							}
						}
						time.Sleep(10 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			warm.Stop()
			if errs.Load() != 0 {
				b.Errorf("%d read errors or wrong values", errs.Load())
			}
			var ahead, onExpiry uint64
			for _, c := range caches {
				st := c.Stats()
				ahead += st.RefreshesAhead
				onExpiry += st.RefreshesOnExpiry
			}
			b.Logf("L2 %v: refreshes ahead %d, on expiry %d; fleet %+v", withL2, ahead, onExpiry, sumStats(srcs))
			nr := origin.Load() - warmReads
			nc := sm.Calls("", "GetSecretValue") + sm.Calls("", "BatchGetSecretValue") - warmCalls
			return float64(nr) / secrets / windows, float64(nc) / secrets / windows
		}
		var with, without, withCalls, withoutCalls float64
		var wg sync.WaitGroup
		wg.Go(func() { with, withCalls = run(true) })
		wg.Go(func() { without, withoutCalls = run(false) })
		wg.Wait()
		b.ReportMetric(with, "aws-reads/secret/ttl-fleet-L2")
		b.ReportMetric(without, "aws-reads/secret/ttl-fleet-noL2")
		b.ReportMetric(with/hosts, "aws-reads/secret/ttl-host-L2")
		b.ReportMetric(without/hosts, "aws-reads/secret/ttl-host-noL2")
		b.ReportMetric(without/with, "x-fewer")
		b.ReportMetric(withCalls, "api-calls/secret/ttl-fleet-L2")
		b.ReportMetric(withoutCalls, "api-calls/secret/ttl-fleet-noL2")
	}
}
