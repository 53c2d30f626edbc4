package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/fleet"
)

// A secret the origin refuses for good (deleted) while its entry ages in
// the L2 leaves the fleet: the host that refreshed it deletes the entry,
// and another host gets the error, not the old value.
func TestDeletedSecretLeavesTheFleet(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v1"); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	fo := []fleet.Option{fleet.WithMaxAge(time.Minute), fleet.WithClock(clk)}
	h1, h2 := e.host(e.kr, fo), e.host(e.kr, fo)
	ctx := context.Background()
	ref := secretcache.Ref{ID: "a", VersionStage: "AWSCURRENT"}
	if _, err := h1.src.Fetch(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := e.sm.DeleteSecret("", "a", true); err != nil {
		t.Fatal(err)
	}
	clk.add(40 * time.Second) // past half the max age: a batch refreshes it
	res := h1.src.FetchBatch(ctx, []secretcache.Ref{ref})
	if !errors.Is(res[0].Err, secretcache.ErrNotFound) {
		t.Fatalf("the refresh of a deleted secret: %v", res[0].Err)
	}
	if s, err := h2.src.Fetch(ctx, ref); !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatalf("another host was served %v, %v after the secret was deleted", s, err)
	}
}

// Refresh (a refused login, a notice) is not answered with the L2 entry
// the host already holds: one host reads AWS, and the others, holding the
// same old value, take its write.
func TestForcedRefreshSkipsTheOldEntry(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v1"); err != nil {
		t.Fatal(err)
	}
	hs := e.hosts(3, nil)
	ctx := context.Background()
	for i, v := range readAll(t, hs, "a") {
		if v != "v1" {
			t.Fatalf("host %d: %q", i, v)
		}
	}
	if _, err := e.sm.PutSecretValue("", "a", "v2"); err != nil {
		t.Fatal(err)
	}
	before := e.awsReads()
	for i, h := range hs {
		s, err := h.cache.Refresh(ctx, "a")
		if err != nil || s.String != "v2" {
			t.Fatalf("host %d: Refresh gave %v, %v; want v2", i, s, err)
		}
	}
	if got := e.awsReads() - before; got != 1 {
		t.Errorf("3 forced refreshes made %d AWS reads, want 1", got)
	}
}

// failingPipelines runs a pipeline of SET NX and then says it failed, as a
// lost answer or a timeout would: Redis holds leases the host was not told of.
type failingPipelines struct{}

func (failingPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (failingPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (failingPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if c.Name() == "set" && len(c.Args()) > 3 && c.Args()[len(c.Args())-1] == "nx" {
				return errors.New("answer lost")
			}
		}
		return err
	}
}

// Leases taken by a pipeline whose answer was lost are given back: no other
// host waits the lease wait for them.
func TestLostLeaseAnswerLeavesNoLease(t *testing.T) {
	e := newEnv(t, single(t))
	for _, n := range []string{"a", "b"} {
		if _, err := e.sm.CreateSecret("", n, "v-"+n); err != nil {
			t.Fatal(err)
		}
	}
	rdb := redis.NewClient(fleet.ClientOptions(e.addrs...).Simple())
	defer rdb.Close()
	rdb.AddHook(failingPipelines{})
	aws, err := awssm.New(e.sm.AWSConfig(""), awssm.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	src, err := fleet.New(rdb, aws, e.kr, fleet.WithLogger(quiet()), fleet.WithRedisTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	refs := []secretcache.Ref{{ID: "a", VersionStage: "AWSCURRENT"}, {ID: "b", VersionStage: "AWSCURRENT"}}
	for i, r := range src.FetchBatch(ctx, refs) {
		if r.Err != nil || r.Secret.String != "v-"+refs[i].ID {
			t.Fatalf("%s: %v", refs[i].ID, r.Err)
		}
	}
	if st := src.Stats(); st.Fallbacks == 0 {
		t.Fatal("the lease pipeline did not fail")
	}
	if keys, err := rdb.Keys(ctx, "scf:l:*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("%d leases left in Redis (%v)", len(keys), err)
	}
	h := e.host(e.kr, nil)
	start := time.Now()
	if v, err := h.cache.GetString(ctx, "a"); err != nil || v != "v-a" {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the next host waited %v on a lease nobody held", d)
	}
}
