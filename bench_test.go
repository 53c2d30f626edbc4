package secretcache_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("prod/app/secret-%03d", i)
	}
	return ids
}

func staticSource() secretcache.SourceFunc {
	return func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"},
			String: `{"username":"app","password":"hunter2"}`}, nil
	}
}

// benchReads runs read in parallel from all cores over 100 cached secrets.
func benchReads(b *testing.B, read func(ctx context.Context, c *secretcache.Cache, id string) error) {
	c, _ := secretcache.New(staticSource(), secretcache.WithTTL(time.Hour))
	defer c.Close()
	ids := benchIDs(100)
	ctx := context.Background()
	if err := c.Warm(ctx, ids...); err != nil {
		b.Fatal(err)
	}
	var seed atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(37))
		for pb.Next() {
			if err := read(ctx, c, ids[i%100]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkGetStringParallel: the allocation-free read.
func BenchmarkGetStringParallel(b *testing.B) {
	benchReads(b, func(ctx context.Context, c *secretcache.Cache, id string) error {
		_, err := c.GetString(ctx, id)
		return err
	})
}

// BenchmarkGetFieldParallel: one JSON key of each secret.
func BenchmarkGetFieldParallel(b *testing.B) {
	benchReads(b, func(ctx context.Context, c *secretcache.Cache, id string) error {
		_, err := c.GetField(ctx, id, "password")
		return err
	})
}

// BenchmarkGetParallel: caller-owned copies of each secret.
func BenchmarkGetParallel(b *testing.B) {
	benchReads(b, func(ctx context.Context, c *secretcache.Cache, id string) error {
		_, err := c.Get(ctx, id)
		return err
	})
}

// BenchmarkSyncMapReference is the floor: a bare sync.Map load of the same keys.
func BenchmarkSyncMapReference(b *testing.B) {
	var m sync.Map
	ids := benchIDs(100)
	for _, id := range ids {
		m.Store(id, &secretcache.Secret{Name: id})
	}
	var seed atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(37))
		for pb.Next() {
			if _, ok := m.Load(ids[i%100]); !ok {
				b.Error("missing")
				return
			}
			i++
		}
	})
}

// BenchmarkMissStorm: 1,000 goroutines miss one secret at once; the source
// must see exactly one fetch per round.
func BenchmarkMissStorm(b *testing.B) {
	var calls atomic.Int64
	release := make(chan struct{})
	src := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		calls.Add(1)
		<-release
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: "x"}, nil
	})
	c, _ := secretcache.New(src)
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Clear()
		calls.Store(0)
		var wg, started sync.WaitGroup
		started.Add(1000)
		for range 1000 {
			wg.Go(func() {
				started.Done()
				if _, err := c.GetString(ctx, "prod/storm"); err != nil {
					b.Error(err)
				}
			})
		}
		started.Wait()
		time.Sleep(time.Millisecond)
		close(release)
		wg.Wait()
		release = make(chan struct{})
		if n := calls.Load(); n != 1 {
			b.Fatalf("%d fetches for one storm, want 1", n)
		}
	}
	b.ReportMetric(float64(calls.Load()), "fetches/storm")
}
