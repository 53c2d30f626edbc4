// Command demo shows the cache at work on the real AWS code path, against
// an embedded Secrets Manager: a tour to read, not a benchmark (see bench/).
//
// It runs the aws-sdk-go-v2 client, through the awssm source, against
// smtest with 20 ms of simulated network latency. No AWS account is needed. It shows a miss, hits, a miss storm coalesced into one
// call, a rotation picked up by a refresh ahead that no reader waits for,
// and the statistics.
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
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "prod/db", `{"username":"app","password":"pw-1"}`); err != nil {
		return err
	}
	if _, err := srv.CreateSecret("", "prod/api-key", "key-1"); err != nil {
		return err
	}
	srv.SetFault("", "", smtest.Fault{Latency: 20 * time.Millisecond}) // a network round trip
	src, err := awssm.New(srv.AWSConfig("us-east-1"))
	if err != nil {
		return err
	}
	calls := func() int { return srv.Calls("", "GetSecretValue") + srv.Calls("", "BatchGetSecretValue") }
	fmt.Printf("embedded Secrets Manager at %s (real aws-sdk-go-v2 client, SigV4-signed)\n", srv.URL)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := secretcache.New(src, secretcache.WithTTL(2*time.Second), secretcache.WithLogger(logger))
	if err != nil {
		return err
	}
	defer c.Close()
	c.OnChange(func(ev secretcache.ChangeEvent) {
		fmt.Printf("  change callback: %s %s -> %s (metadata only)\n", ev.Ref.ID, short(ev.Old.VersionID), short(ev.New.VersionID))
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
	before := calls()
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() { _, _ = c.GetString(ctx, "prod/api-key") })
	}
	wg.Wait()
	fmt.Printf("  backend calls: %d\n", calls()-before)

	fmt.Println("3. the secret rotates; a read near the end of the TTL refreshes it in the background")
	if _, err := srv.PutSecretValue("", "prod/db", `{"username":"app","password":"pw-2"}`); err != nil {
		return err
	}
	time.Sleep(1700 * time.Millisecond) // past 80 % of the 2 s TTL
	start = time.Now()
	s, _ := c.Get(ctx, "prod/db")
	fmt.Printf("  read took %v and returned %s (the cached version; no waiting)\n", time.Since(start).Round(time.Microsecond), short(s.VersionID))
	time.Sleep(150 * time.Millisecond)
	s, _ = c.Get(ctx, "prod/db")
	fmt.Printf("  a moment later: %s\n", short(s.VersionID))
	fmt.Printf("  printed, a secret shows no value: %v\n", s)

	fmt.Println("4. statistics")
	out, _ := json.MarshalIndent(c.Stats(), "  ", "  ")
	fmt.Println(" ", string(out))
	return nil
}

func short(versionID string) string { return versionID[:min(8, len(versionID))] }
