package secretcache_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// TestCachedReadsAllocateNothing: GetString and GetField on a cached entry
// allocate nothing.
func TestCachedReadsAllocateNothing(t *testing.T) {
	src := newScript()
	src.set("db", `{"username":"app","password":"pw"}`)
	c, _ := newCache(t, src)
	mustString(t, c, "db")
	if _, err := c.GetField(ctx, "db", "password"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.GetString(ctx, "db") }); n != 0 {
		t.Errorf("GetString: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.GetField(ctx, "db", "password") }); n != 0 {
		t.Errorf("GetField: %v allocations", n)
	}
}

// TestStatsBytesMatchHeap: the bytes Stats reports (and the byte bound
// counts) are within 10 % of the heap the entries really keep alive, for
// answers shaped as AWS sends them, with small and large values.
func TestStatsBytesMatchHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a cache to measure the heap")
	}
	const n = 5000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("prod/app/secret-%05d", i)
	}
	for _, size := range []int{16, 1024, 10000} {
		before := heapAlloc()
		c, err := secretcache.New(awsLikeSource(size), secretcache.WithTTL(time.Hour), secretcache.WithLogger(quiet()),
			secretcache.WithMaxEntries(2*n), secretcache.WithMaxBytes(1<<30))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			mustString(t, c, id)
		}
		st := c.Stats()
		after := heapAlloc()
		runtime.KeepAlive(c)
		c.Close()
		heap := float64(after - before)
		ratio := float64(st.Bytes) / heap
		t.Logf("%d-byte values: %.0f heap bytes/entry, Stats %.0f (%.3f)", size, heap/n, float64(st.Bytes)/n, ratio)
		if st.Entries != n || ratio < 0.9 || ratio > 1.1 {
			t.Errorf("%d-byte values: %d entries, Stats.Bytes %d for %.0f bytes of heap (%.3f)", size, st.Entries, st.Bytes, heap, ratio)
		}
	}
}

// TestCachedGetAllocatesOnce: a cached Get (the caller's own copy) is one
// allocation for a string secret with up to two stage labels.
func TestCachedGetAllocatesOnce(t *testing.T) {
	src := newScript()
	src.set("db", "pw")
	c, _ := newCache(t, src)
	s, err := c.Get(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	s.VersionStages[0] = "mine" // the caller's copy: the cache's stays
	if again, _ := c.Get(ctx, "db"); again.VersionStages[0] != "AWSCURRENT" {
		t.Fatalf("the cached stages changed: %q", again.VersionStages)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, "db") }); n > 1 {
		t.Errorf("Get: %v allocations", n)
	}
}
