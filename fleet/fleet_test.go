package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/internal/redistest"
)

// 50 hosts missing one secret at once make one AWS call.
func TestCoalescing50Hosts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addrs func(testing.TB) []string
	}{
		{"redis", single},
		{"cluster", func(t testing.TB) []string { return redistest.StartCluster(t).Addrs() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.addrs(t))
			for i := range 3 {
				if _, err := e.sm.CreateSecret("", secretName(i), secretValue(i)); err != nil {
					t.Fatal(err)
				}
			}
			hs := e.hosts(50, nil)
			for i := range 3 {
				before := e.awsReads()
				for j, v := range readAll(t, hs, secretName(i)) {
					if v != secretValue(i) {
						t.Fatalf("host %d read a wrong value of %s", j, secretName(i))
					}
				}
				if got := e.awsReads() - before; got != 1 {
					t.Errorf("%s: 50 hosts made %d AWS calls, want 1", secretName(i), got)
				}
			}
			st := sum(hs)
			t.Logf("stats over 50 hosts: %+v", st)
			if st.Fallbacks != 0 || st.Rejections != 0 {
				t.Errorf("fallbacks %d rejections %d, want 0", st.Fallbacks, st.Rejections)
			}
			names := []string{"app/db", "pw-value"}
			if n := scanRedis(t, hs[0].rdb, names...); n == 0 {
				t.Error("redis holds no key after the run")
			}
		})
	}
}

// A batch (the cache's warm-up) goes through the L2 too.
func TestWarmBatch(t *testing.T) {
	e := newEnv(t, single(t))
	var ids []string
	for i := range 30 {
		if _, err := e.sm.CreateSecret("", secretName(i), secretValue(i)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, secretName(i))
	}
	hs := e.hosts(2, nil)
	ctx := context.Background()
	if err := hs[0].cache.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	before := e.awsReads()
	if err := hs[1].cache.Warm(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	if got := e.awsReads() - before; got != 0 {
		t.Errorf("second host's warm-up made %d AWS calls, want 0", got)
	}
	for i, id := range ids {
		if v, err := hs[1].cache.GetString(ctx, id); err != nil || v != secretValue(i) {
			t.Fatalf("%s: %v (value right: %v)", id, err, v == secretValue(i))
		}
	}
	if st := hs[1].src.Stats(); st.Hits != 30 || st.Origin != 0 {
		t.Errorf("second host stats %+v, want 30 hits, 0 origin", st)
	}
}

// An entry older than the max age (by its origin fetch, on any host) is
// not served.
func TestMaxAgeIsTheOriginFetchs(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v1"); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	fo := []fleet.Option{fleet.WithMaxAge(time.Minute), fleet.WithClock(clk)}
	h1 := e.host(e.kr, fo)
	ctx := context.Background()
	if _, err := h1.cache.GetString(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sm.PutSecretValue("", "a", "v2"); err != nil {
		t.Fatal(err)
	}
	clk.add(59 * time.Second)
	h2 := e.host(e.kr, fo)
	if v, _ := h2.cache.GetString(ctx, "a"); v != "v1" {
		t.Fatal("a 59 s old entry should be served from L2")
	}
	clk.add(2 * time.Second)
	h3 := e.host(e.kr, fo)
	if v, _ := h3.cache.GetString(ctx, "a"); v != "v2" {
		t.Fatal("a 61 s old entry was served")
	}
}

// A host that reads a value from the L2 counts its age from the origin
// read, not from its own: its TTL and max-stale bounds hold fleet-wide.
func TestHostAgesAreTheOriginFetchs(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v1"); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	t0 := clk.Now()
	fo := []fleet.Option{fleet.WithMaxAge(2 * time.Minute), fleet.WithClock(clk)}
	co := []secretcache.Option{secretcache.WithClock(clk), secretcache.WithTTL(time.Minute)}
	ctx := context.Background()
	h1 := e.host(e.kr, fo, co...)
	if _, err := h1.cache.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	clk.add(40 * time.Second)
	h2 := e.host(e.kr, fo, co...)
	s, err := h2.cache.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !s.FetchedAt.Equal(t0) {
		t.Fatalf("host 2 says its value was fetched at %v, want the origin read's %v", s.FetchedAt, t0)
	}
	for info := range h2.cache.Entries() {
		if info.Age != 40*time.Second {
			t.Errorf("host 2's entry is %v old, want 40s (the origin read's age)", info.Age)
		}
	}
	if got := e.awsReads(); got != 1 {
		t.Errorf("%d AWS reads, want 1", got)
	}
}

// An L2 max age longer than the hosts' TTL (a misconfiguration) makes a
// host's refresh get back the same L2 entry: the host asks again at most
// every half refresh-ahead window, not on every read.
func TestMaxAgeOverTTLDoesNotSpin(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v1"); err != nil {
		t.Fatal(err)
	}
	fo := []fleet.Option{fleet.WithMaxAge(time.Minute)}
	h1 := e.host(e.kr, fo)
	ctx := context.Background()
	if _, err := h1.cache.GetString(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // the L2 entry is older than h2's TTL
	h2 := e.host(e.kr, fo, secretcache.WithTTL(time.Second))
	reads := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); reads++ {
		if v, err := h2.cache.GetString(ctx, "a"); err != nil || v != "v1" {
			t.Fatalf("read %d: %v", reads, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// A 1 s TTL refreshes 200 ms ahead: at most one L2 read every 100 ms.
	if st := h2.src.Stats(); st.Hits > 30 {
		t.Errorf("%d reads made %d L2 reads in 2 s, want at most about 20", reads, st.Hits)
	}
}

type fakeClock struct {
	mu chan struct{}
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.lock(); defer c.unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.lock()
	defer c.unlock()
	c.t = c.t.Add(d)
}
func (c *fakeClock) lock() {
	if c.mu == nil {
		c.mu = make(chan struct{}, 1)
	}
	c.mu <- struct{}{}
}
func (c *fakeClock) unlock() { <-c.mu }

func TestDescribePassesThrough(t *testing.T) {
	e := newEnv(t, single(t))
	h := e.host(e.kr, nil)
	if d := h.src.Describe(); d.DefaultStage != "AWSCURRENT" || d.MaxBatch != 20 || d.SameSecret == nil || d.NameOf == nil {
		t.Errorf("Describe = %+v, want awssm's", d)
	}
	plain, err := fleet.New(h.rdb, secretcache.SourceFunc(func(context.Context, secretcache.Ref) (*secretcache.Secret, error) {
		return nil, nil
	}), e.kr)
	if err != nil {
		t.Fatal(err)
	}
	if d := plain.Describe(); d.DefaultStage != "" || d.SameSecret != nil {
		t.Errorf("Describe of a source without rules = %+v, want zero", d)
	}
}

// 20 hosts missing a secret that does not exist: every one gets
// ErrNotFound at once, none waits out the lease wait.
func TestMissingSecretDoesNotWait(t *testing.T) {
	e := newEnv(t, single(t))
	hs := e.hosts(20, []fleet.Option{fleet.WithLease(10*time.Second, 30*time.Second)})
	start := time.Now()
	errs := make(chan error, len(hs))
	for _, h := range hs {
		go func() {
			_, err := h.cache.GetString(context.Background(), "no/such")
			errs <- err
		}()
	}
	for range hs {
		if err := <-errs; !errors.Is(err, secretcache.ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v: the hosts waited out the 30 s lease wait", d)
	}
}

// Renew reads the origin past Redis and writes the fleet's entry.
func TestRenewWritesTheNewVersion(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v1"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h1 := e.host(e.kr, nil)
	if _, err := h1.cache.GetString(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sm.PutSecretValue("", "a", "v2"); err != nil {
		t.Fatal(err)
	}
	if s, err := h1.src.Renew(ctx, ref("a")); err != nil || s.String != "v2" {
		t.Fatalf("Renew: %v", err)
	}
	before := e.awsReads()
	h2 := e.host(e.kr, nil)
	if v, err := h2.cache.GetString(ctx, "a"); err != nil || v != "v2" {
		t.Fatalf("second host: %v (got v2: %v)", err, v == "v2")
	}
	if got := e.awsReads() - before; got != 0 {
		t.Errorf("%d AWS reads after Renew, want 0", got)
	}
	if _, err := h1.src.Renew(ctx, ref("no/such")); !errors.Is(err, secretcache.ErrNotFound) {
		t.Errorf("Renew of a missing secret: %v, want ErrNotFound", err)
	}
}
