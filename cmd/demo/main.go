// Command demo shows the cache at work against an in-memory backend with
// simulated network latency: a miss, hits, a miss storm coalesced into one
// call, a refresh ahead that no reader waits for, and the statistics.
//
//	go run ./cmd/demo
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var calls atomic.Int64
	version := atomic.Int64{}
	version.Store(1)
	src := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		calls.Add(1)
		select { // a network round trip
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		v := version.Load()
		return &secretcache.Secret{Name: ref.ID, VersionID: fmt.Sprintf("v%d", v),
			VersionStages: []string{"AWSCURRENT"}, String: fmt.Sprintf(`{"username":"app","password":"pw-%d"}`, v)}, nil
	})
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := secretcache.New(src, secretcache.WithTTL(2*time.Second), secretcache.WithLogger(logger))
	if err != nil {
		return err
	}
	defer c.Close()
	c.OnChange(func(ev secretcache.ChangeEvent) {
		fmt.Printf("  change callback: %s %s -> %s (metadata only)\n", ev.Ref.ID, ev.Old.VersionID, ev.New.VersionID)
	})

	fmt.Println("1. a miss goes to the backend, then reads hit the cache")
	start := time.Now()
	if _, err := c.GetField(ctx, "prod/db", "username"); err != nil {
		return err
	}
	fmt.Printf("  miss: %v\n", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	const n = 1_000_000
	for range n {
		if _, err := c.GetString(ctx, "prod/db"); err != nil {
			return err
		}
	}
	fmt.Printf("  %d hits: %v each\n", n, time.Since(start)/n)

	fmt.Println("2. 1,000 goroutines miss one secret at once")
	before := calls.Load()
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() { _, _ = c.GetString(ctx, "prod/api-key") })
	}
	wg.Wait()
	fmt.Printf("  backend calls: %d\n", calls.Load()-before)

	fmt.Println("3. the secret rotates; a read near the end of the TTL refreshes it in the background")
	version.Store(2)
	time.Sleep(1700 * time.Millisecond) // past 80 % of the 2 s TTL
	start = time.Now()
	s, _ := c.Get(ctx, "prod/db")
	fmt.Printf("  read took %v and returned %s (the current value; no waiting)\n", time.Since(start).Round(time.Microsecond), s.VersionID)
	time.Sleep(100 * time.Millisecond)
	s, _ = c.Get(ctx, "prod/db")
	fmt.Printf("  a moment later: %s\n", s.VersionID)
	fmt.Printf("  printed, a secret shows no value: %v\n", s)

	fmt.Println("4. statistics")
	out, _ := json.MarshalIndent(c.Stats(), "  ", "  ")
	fmt.Println(" ", string(out))
	return nil
}
