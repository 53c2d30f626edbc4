package fleet_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/internal/redistest"
)

func ref(id string) secretcache.Ref { return secretcache.Ref{ID: id, VersionStage: "AWSCURRENT"} }

// Entries tampered with in Redis (bytes flipped, swapped between secrets,
// truncated, garbage, sealed by another key) are never served: each is a
// counted rejection and a read of AWS.
func TestTamperedEntriesAreNeverServed(t *testing.T) {
	e := newEnv(t, single(t))
	const n = 6
	for i := range n {
		if _, err := e.sm.CreateSecret("", secretName(i), secretValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	writer := e.host(e.kr, nil)
	for i := range n {
		if _, err := writer.cache.GetString(ctx, secretName(i)); err != nil {
			t.Fatal(err)
		}
	}
	rdb := writer.rdb
	val := func(i int) []byte {
		b, err := rdb.Get(ctx, writer.src.EntryKey(ref(secretName(i)))).Bytes()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		return b
	}
	orig := make([][]byte, n)
	for i := range n {
		orig[i] = val(i)
	}
	set := func(i int, b []byte) {
		if err := rdb.Set(ctx, writer.src.EntryKey(ref(secretName(i))), b, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flip := func(b []byte, at int) []byte { c := append([]byte(nil), b...); c[at] ^= 0x40; return c }
	other := testKeyring(t, "k1") // same id, other key material
	otherHost := e.host(other, nil)
	_ = otherHost
	// Seal secret 5's value under the other key, then plant it where the
	// fleet's key names secret 5.
	if _, err := otherHost.cache.GetString(ctx, secretName(5)); err != nil {
		t.Fatal(err)
	}
	foreign, err := rdb.Get(ctx, otherHost.src.EntryKey(ref(secretName(5)))).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	set(0, flip(orig[0], len(orig[0])-1)) // tag byte flipped
	set(1, orig[2])                       // secret 2's entry under secret 1's key
	set(2, orig[2][:len(orig[2])/2])      // truncated
	set(3, []byte("\x01\x02k1garbage"))   // garbage with a plausible header
	set(4, flip(orig[4], 2))              // key id changed
	set(5, foreign)                       // sealed by another key
	reader := e.host(e.kr, nil)
	before := e.awsReads()
	for i := range n {
		v, err := reader.cache.GetString(ctx, secretName(i))
		if err != nil {
			t.Fatalf("%s: %v", secretName(i), err)
		}
		if v != secretValue(i) {
			t.Fatalf("%s: a WRONG value was served", secretName(i))
		}
	}
	st := reader.src.Stats()
	if st.Rejections < n || st.Hits != 0 {
		t.Errorf("stats %+v, want at least %d rejections and no hit", st, n)
	}
	if got := e.awsReads() - before; got != n {
		t.Errorf("%d AWS reads, want %d (one per refused entry)", got, n)
	}
	// The reads healed Redis: a new host is served from it.
	healed := e.host(e.kr, nil)
	for i := range n {
		if v, err := healed.cache.GetString(ctx, secretName(i)); err != nil || v != secretValue(i) {
			t.Fatalf("%s after healing: %v", secretName(i), err)
		}
	}
	if st := healed.src.Stats(); st.Hits != n {
		t.Errorf("after healing: %+v, want %d hits", st, n)
	}
	scanRedis(t, rdb, "app/db", "pw-value")
}

// Redis killed in the middle of a run and started again: readers see no
// error and no wrong value; the hosts fall back to AWS, counted, and come
// back to Redis when it answers.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, []string{srv.Addr})
	const secrets = 5
	for i := range secrets {
		if _, err := e.sm.CreateSecret("", secretName(i), secretValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	fo := []fleet.Option{fleet.WithRedisTimeout(200 * time.Millisecond), fleet.WithBreaker(2, 300*time.Millisecond),
		fleet.WithLease(time.Second, 300*time.Millisecond)}
	hs := e.hosts(10, fo, secretcache.WithTTL(100*time.Millisecond))
	var readErrs, wrong, reads atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				v, err := h.cache.GetString(ctx, secretName(i%secrets))
				cancel()
				reads.Add(1)
				if err != nil {
					readErrs.Add(1)
					t.Errorf("read: %v", err)
				} else if v != secretValue(i%secrets) {
					wrong.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	srv.Kill()
	time.Sleep(time.Second)
	during := sum(hs)
	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && sum(hs).Hits <= during.Hits+20 {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	after := sum(hs)
	t.Logf("%d reads; while down: %+v; at the end: %+v", reads.Load(), during, after)
	if readErrs.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d reader errors, %d wrong values, want 0", readErrs.Load(), wrong.Load())
	}
	if during.Fallbacks == 0 {
		t.Error("no fallback counted while Redis was down")
	}
	if after.Hits <= during.Hits+20 {
		t.Error("the hosts did not come back to Redis after it restarted")
	}
	scanRedis(t, hs[0].rdb, "app/db", "pw-value")
}

// A Redis that hangs (DEBUG SLEEP) costs a reader at most the Redis
// timeout, not the hang.
func TestSlowRedisIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, []string{srv.Addr})
	if _, err := e.sm.CreateSecret("", "a", "v"); err != nil {
		t.Fatal(err)
	}
	h := e.host(e.kr, []fleet.Option{fleet.WithRedisTimeout(100 * time.Millisecond)})
	ctx := context.Background()
	if err := h.rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = srv.CLI("DEBUG", "SLEEP", "5") }()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	v, err := h.cache.GetString(ctx, "a")
	took := time.Since(start)
	if err != nil || v != "v" {
		t.Fatalf("read while Redis hangs: %v", err)
	}
	if took > 3*time.Second {
		t.Errorf("read took %v while Redis hung for 5 s; the bound is the Redis timeout", took)
	}
	if st := h.src.Stats(); st.Fallbacks == 0 {
		t.Errorf("stats %+v, want a fallback", st)
	}
}
