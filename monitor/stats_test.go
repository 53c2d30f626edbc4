package monitor_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

func TestCacheStatusFor(t *testing.T) {
	for _, tc := range []struct {
		n    int
		avg  time.Duration
		want string
	}{
		{0, 0, "empty"}, {0, time.Hour, "empty"}, {-1, 0, "empty"},
		{1, 0, "very_fresh"}, {1, 59999 * time.Millisecond, "very_fresh"},
		{1, 60 * time.Second, "healthy"}, {1, 179 * time.Second, "healthy"},
		{1, 180 * time.Second, "aging"}, {1, 299 * time.Second, "aging"},
		{1, 300 * time.Second, "stale"}, {1, 1000 * time.Hour, "stale"},
	} {
		if got := monitor.CacheStatusFor(tc.n, tc.avg); got != tc.want {
			t.Errorf("CacheStatusFor(%d, %v) = %s, want %s", tc.n, tc.avg, got, tc.want)
		}
	}
}

func TestCacheStatsShape(t *testing.T) {
	clk := newClock()
	src := newScripted(map[string]string{"a": "1", "b": "2", "c": "3"})
	c := newCache(t, src, clk, secretcache.WithMaxEntries(8), secretcache.WithTTL(time.Hour))
	m := monitor.New(c, monitor.WithClock(clk), monitor.WithRegion("eu-central-1"))
	ctx := context.Background()

	if s := m.CacheStats(); s.CacheEfficiency.CacheStatus != "empty" || s.TotalCacheEntries != 0 || s.Region != "eu-central-1" {
		t.Fatalf("empty: %+v", s)
	}
	_, _ = c.GetString(ctx, "a")
	clk.Advance(100 * time.Second)
	_, _ = c.GetString(ctx, "b")
	_, _ = c.GetString(ctx, "b", secretcache.WithVersionStage("AWSPREVIOUS")) // same secret, second entry
	clk.Advance(20 * time.Second)

	s := m.CacheStats()
	want := monitor.CacheStats{
		CachedSecretsCount: 2, TotalCacheEntries: 3,
		OldestCacheAgeSeconds: 120, NewestCacheAgeSeconds: 20, Region: "eu-central-1",
		CacheEfficiency: monitor.CacheEfficiency{AvgCacheAgeSeconds: 53.33, CacheUtilizationPercent: 37.5, CacheStatus: "very_fresh"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", s, want)
	}

	// The JSON has exactly the keys of the Python toolkit's endpoint.
	code, body, _ := get(m.StatsHandler(), http.MethodGet, "/secrets-cache-stats")
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"cache_efficiency", "cached_secrets_count", "newest_cache_age_seconds",
		"oldest_cache_age_seconds", "region", "total_cache_entries"}) {
		t.Fatalf("keys %v", keys)
	}
	eff := raw["cache_efficiency"].(map[string]any)
	if len(eff) != 3 || eff["cache_status"] != "very_fresh" || eff["avg_cache_age_seconds"] != 53.33 || eff["cache_utilization_percent"] != 37.5 {
		t.Fatalf("efficiency %v", eff)
	}
	clk.Advance(10 * time.Minute)
	if st := m.CacheStats().CacheEfficiency.CacheStatus; st != "stale" {
		t.Fatalf("status after 10 minutes: %s", st)
	}
	if code, _, _ := get(m.StatsHandler(), http.MethodDelete, "/secrets-cache-stats"); code != 405 {
		t.Fatalf("DELETE: %d", code)
	}
}

func TestCacheStatsRegionFromBreaker(t *testing.T) {
	clk := newClock()
	src := newScripted(nil)
	src.breakers = []secretcache.BreakerState{{Name: "ap-south-1", State: "closed"}, {Name: "us-west-2", Primary: true, State: "closed"}}
	m := monitor.New(newCache(t, src, clk))
	if r := m.CacheStats().Region; r != "us-west-2" {
		t.Fatalf("region %q", r)
	}
	if r := monitor.New(nil).CacheStats(); r.Region != "unknown" || r.CacheEfficiency.CacheStatus != "empty" {
		t.Fatalf("no cache: %+v", r)
	}
	var nilM *monitor.Monitor
	if r := nilM.CacheStats(); r.CacheEfficiency.CacheStatus != "empty" {
		t.Fatalf("nil monitor: %+v", r)
	}
}

func TestReport(t *testing.T) {
	m, _, _ := runScript(t, false)
	m.RegisterComponent("db-pool", func(context.Context) monitor.ComponentHealth {
		return monitor.ComponentHealth{Status: "healthy", Message: "2 connections"}
	})
	r := m.Report()
	for _, want := range []string{
		"Status: DEGRADED", // the scripted replica breaker is open
		"circuit breaker of region us-west-2 is open",
		"Region: us-east-1",
		"2 secrets in 2 entries",
		"entry age: oldest 61.00s, newest 0.00s, average 30.50s (very_fresh)",
		"reads served: 14 (6 hits, 2 stale, 6 misses; 1 fallback)",
		"backend calls made: 6 for 14 reads served",
		"calls saved: 8 (57.14% of reads needed no API call)",
		"estimated API cost: $0.000030 (6 calls at $0.05 per 10,000); saved $0.000040",
		"backend errors: not_found 1, throttled 1",
		"refreshes: 0 ahead, 2 on expiry, 1 forced; 2 version changes; 0 evictions",
		"6 calls, 1 failed, success rate 83.33%",
		"us-east-1 (primary): closed",
		"us-west-2: open, 3 consecutive failures, last error unavailable",
		"db-pool: healthy - 2 connections",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q\n%s", want, r)
		}
	}
	if monitor.New(nil).Report() == "" {
		t.Error("empty report without cache")
	}
	var nilM *monitor.Monitor
	if !strings.Contains(nilM.Report(), "no monitor") {
		t.Error("nil monitor report")
	}
}

func TestReportCost(t *testing.T) {
	clk := newClock()
	c := newCache(t, newScripted(map[string]string{"a": "1"}), clk, secretcache.WithTTL(time.Hour))
	ctx := context.Background()
	for range 20000 {
		_, _ = c.GetString(ctx, "a")
	}
	m := monitor.New(c, monitor.WithClock(clk))
	r := m.Report()
	// 1 call made: $0.000005; 19,999 saved: $0.099995.
	if !strings.Contains(r, "estimated API cost: $0.000005 (1 call at $0.05 per 10,000); saved $0.10") {
		t.Errorf("cost line wrong:\n%s", r)
	}
	m2 := monitor.New(c, monitor.WithClock(clk), monitor.WithAPIPrice(10))
	if r := m2.Report(); !strings.Contains(r, "estimated API cost: $0.001000 (1 call at $10.00 per 10,000); saved $20.00") {
		t.Errorf("custom price:\n%s", r)
	}
}
