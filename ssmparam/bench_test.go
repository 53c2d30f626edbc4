package ssmparam_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/ssmparam"
	"github.com/secretcache/secretcache/ssmtest"
)

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// singleOnly hides FetchBatch: the reference, a cache that refreshes one
// parameter per GetParameter call.
type singleOnly struct{ src *ssmparam.Source }

func (s singleOnly) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	return s.src.Fetch(ctx, ref)
}

// BenchmarkRefreshCalls counts the Parameter Store calls the cache makes to
// keep 100 steadily read parameters fresh over 10 TTL windows: a reader
// reads all 100 every 5 ms, TTL 500 ms (wall clock on the read path, so
// that due times are exact). Metric: calls/param/window, the API calls
// after warm-up over 100 parameters and 10 windows (goal < 0.2 with
// batches of 10). "batched" is the source; "single" the same source
// without FetchBatch, the reference.
func BenchmarkRefreshCalls(b *testing.B) {
	const (
		params  = 100
		windows = 10
		ttl     = 500 * time.Millisecond
	)
	for _, mode := range []string{"batched", "single"} {
		b.Run(mode, func(b *testing.B) {
			srv := ssmtest.NewServer()
			defer srv.Close()
			ids := make([]string, params)
			for i := range ids {
				ids[i] = fmt.Sprintf("/prod/svc/param-%03d", i)
				if _, err := srv.Put("", ids[i], ssmtest.TypeSecureString, "x"); err != nil {
					b.Fatal(err)
				}
			}
			src, err := ssmparam.New(srv.AWSConfig(""), ssmparam.WithLogger(slog.New(slog.DiscardHandler)))
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
				total += params * windows
				st := c.Stats()
				b.Logf("%s: %d GetParameters + %d GetParameter calls; cache: %d refreshes ahead, %d on expiry, %d stale hits",
					mode, srv.Calls("", "GetParameters"), srv.Calls("", "GetParameter"),
					st.RefreshesAhead, st.RefreshesOnExpiry, st.StaleHits)
				c.Close()
			}
			b.ReportMetric(float64(calls)/float64(total), "calls/param/window")
		})
	}
}
