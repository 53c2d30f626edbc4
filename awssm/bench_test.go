package awssm_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// singleOnly hides FetchBatch: the reference, a cache that refreshes ahead
// one secret per call.
type singleOnly struct{ src *awssm.Source }

func (s singleOnly) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	return s.src.Fetch(ctx, ref)
}

// BenchmarkRefreshCalls counts the Secrets Manager calls the cache makes to
// keep 100 steadily read secrets fresh over 10 TTL windows. A reader reads
// all 100 every 5 ms; the TTL is 500 ms (with the wall clock on the read
// path, so that due times are exact). Metric: calls/secret/window, the API
// calls after warm-up divided by 100 secrets and 10 windows (goal < 0.1).
// "batched" is the awssm source; "single" the same source without
// FetchBatch, the reference.
func BenchmarkRefreshCalls(b *testing.B) {
	const (
		secrets = 100
		windows = 10
		ttl     = 500 * time.Millisecond
	)
	for _, mode := range []string{"batched", "single"} {
		b.Run(mode, func(b *testing.B) {
			srv := smtest.NewServer()
			defer srv.Close()
			ids := make([]string, secrets)
			for i := range ids {
				ids[i] = fmt.Sprintf("prod/svc/secret-%03d", i)
				srv.CreateSecret(primary, ids[i], `{"password":"x"}`)
			}
			src, err := awssm.New(srv.AWSConfig(primary), awssm.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			var backend secretcache.Source = src
			if mode == "single" {
				backend = singleOnly{src}
			}
			var total, calls int
			for b.Loop() {
				c, err := secretcache.New(backend, secretcache.WithTTL(ttl), secretcache.WithClock(wallClock{}),
					secretcache.WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if err := c.Warm(ctx, ids...); err != nil {
					b.Fatal(err)
				}
				srv.ResetCalls()
				end := time.Now().Add(windows * ttl)
				for time.Now().Before(end) {
					for _, id := range ids {
						if _, err := c.GetString(ctx, id); err != nil {
							b.Fatal(err)
						}
					}
					time.Sleep(5 * time.Millisecond)
				}
				calls += srv.Calls("", "")
				total += secrets * windows
				st := c.Stats()
				b.Logf("%s: %d batch + %d single API calls; cache: %d refreshes ahead, %d on expiry, %d stale hits, %d backend calls",
					mode, srv.Calls("", "BatchGetSecretValue"), srv.Calls("", "GetSecretValue"),
					st.RefreshesAhead, st.RefreshesOnExpiry, st.StaleHits, st.BackendCalls)
				c.Close()
			}
			b.ReportMetric(float64(calls)/float64(total), "calls/secret/window")
		})
	}
}

// BenchmarkFailoverLatency measures read latency (Cache.Refresh, a read that
// goes to Secrets Manager) while the primary region is blackholed and its
// breaker is open, against reads from a source whose only region is the
// healthy replica, interleaved in the same loop so that both see the same
// machine. Reported: p50 and p99 of each and p99 ratio (goal: within 10 %).
// "open" keeps the breaker open for the whole run; "probing" lets it go
// half-open every 50 ms, so background probes run against the dead region
// while callers are served by the replica.
func BenchmarkFailoverLatency(b *testing.B) {
	for _, mode := range []struct {
		name    string
		openFor time.Duration
	}{{"open", time.Hour}, {"probing", 50 * time.Millisecond}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := smtest.NewServer()
			defer srv.Close()
			ids := make([]string, 20)
			for i := range ids {
				ids[i] = fmt.Sprintf("prod/db/%02d", i)
				srv.CreateSecret(primary, ids[i], "pw")
				srv.Replicate(ids[i], primary, replica)
			}
			quiet := awssm.WithLogger(slog.New(slog.DiscardHandler))
			failing, err := awssm.New(srv.AWSConfig(primary), awssm.WithRegions(primary, replica),
				awssm.WithAttemptTimeout(100*time.Millisecond), awssm.WithMaxAttempts(2),
				awssm.WithBreaker(3, mode.openFor), quiet)
			if err != nil {
				b.Fatal(err)
			}
			healthy, err := awssm.New(srv.AWSConfig(replica), awssm.WithRegions(replica), quiet)
			if err != nil {
				b.Fatal(err)
			}
			cf, _ := secretcache.New(failing, secretcache.WithLogger(slog.New(slog.DiscardHandler)))
			ch, _ := secretcache.New(healthy, secretcache.WithLogger(slog.New(slog.DiscardHandler)))
			defer cf.Close()
			defer ch.Close()
			ctx := context.Background()

			srv.SetFault(primary, "", smtest.Fault{Blackhole: true})
			for failing.Breakers()[0].State == "closed" {
				if _, err := failing.Fetch(ctx, secretcache.Ref{ID: ids[0]}); err != nil {
					b.Fatal(err)
				}
			}
			for range 200 { // warm connections on both paths
				cf.Refresh(ctx, ids[0])
				ch.Refresh(ctx, ids[0])
			}
			before := srv.Calls(primary, "")
			var lf, lh []time.Duration
			i := 0
			for b.Loop() {
				id := ids[i%len(ids)]
				i++
				// Alternate the order, so that neither path always runs
				// right after the other.
				first, second := cf, ch
				if i%2 == 0 {
					first, second = ch, cf
				}
				t0 := time.Now()
				if _, err := first.Refresh(ctx, id); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := second.Refresh(ctx, id); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if first == cf {
					lf, lh = append(lf, t1.Sub(t0)), append(lh, t2.Sub(t1))
				} else {
					lh, lf = append(lh, t1.Sub(t0)), append(lf, t2.Sub(t1))
				}
			}
			probes := srv.Calls(primary, "") - before
			if mode.openFor == time.Hour && probes != 0 {
				b.Fatalf("%d reads reached the dead primary with its breaker open", probes)
			}
			pf50, pf99 := pct(lf, 50), pct(lf, 99)
			ph50, ph99 := pct(lh, 50), pct(lh, 99)
			b.ReportMetric(float64(pf50.Microseconds()), "failover-p50-µs")
			b.ReportMetric(float64(pf99.Microseconds()), "failover-p99-µs")
			b.ReportMetric(float64(ph50.Microseconds()), "replica-p50-µs")
			b.ReportMetric(float64(ph99.Microseconds()), "replica-p99-µs")
			b.ReportMetric(float64(pf99)/float64(ph99), "p99-ratio")
			b.ReportMetric(float64(probes), "probes")
		})
	}
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
