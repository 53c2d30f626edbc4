package fleetmon_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/fleet/fleetmon"
	"github.com/secretcache/secretcache/monitor"
)

// newSource returns a fleet.Source over an unreachable Redis: every read
// falls back to the origin, which the counters show.
func newSource() (*fleet.Source, *redis.Client) {
	key := make([]byte, fleet.KeySize)
	_, _ = rand.Read(key)
	kr, err := fleet.NewKeyring("k1", map[string][]byte{"k1": key})
	if err != nil {
		log.Fatal(err)
	}
	origin := secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, String: "value"}, nil
	})
	rdb := redis.NewClient(fleet.ClientOptions("127.0.0.1:1").Simple()) // no Redis here
	src, err := fleet.New(rdb, origin, kr)
	if err != nil {
		log.Fatal(err)
	}
	return src, rdb
}

// Register the fleet's counters beside the monitor's metrics, and its Redis
// as a health component.
func Example() {
	src, rdb := newSource()
	defer rdb.Close()
	cache, err := secretcache.New(src)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	mon := monitor.New(cache)
	col, err := fleetmon.Collector(src, "")
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(mon.Collector(), col)
	mon.RegisterComponent("fleet", fleetmon.Health(src))

	_, _ = cache.GetString(context.Background(), "db/password")
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "secretcache_fleet_l2_fallbacks") {
			fmt.Println(mf.GetName(), mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	fmt.Println(mon.Health(context.Background()).Components["fleet"].Status)
	// Output:
	// secretcache_fleet_l2_fallbacks_total 1
	// healthy
}

func refOf(id string) secretcache.Ref { return secretcache.Ref{ID: id} }
