package official_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// maker builds one contender for one benchmark round.
type maker struct {
	name string
	make func(testing.TB) contender
}

// BenchmarkCachedRead: parallel reads from all cores of a rotating one of
// 100 secrets, all cached before the timer starts, through secretcache's
// GetString, the official client's GetSecretString and a bare sync.Map load
// (the reference). Every read goes through the same closure. A backend call
// during the timed reads fails the benchmark.
func BenchmarkCachedRead(b *testing.B) {
	f := newFixture(b)
	for _, m := range []maker{
		{"secretcache", func(tb testing.TB) contender { return f.ours(tb) }},
		{"official", func(tb testing.TB) contender { return f.official(tb, 0) }},
		{"syncmap", f.syncMap},
	} {
		b.Run(m.name, func(b *testing.B) {
			c := m.make(b)
			defer c.done()
			f.warm(b, c)
			f.srv.ResetCalls()
			var seed atomic.Uint32
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(37))
				for pb.Next() {
					if _, err := c.get(f.ids[i%numSecrets]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.StopTimer()
			if n := f.srv.Calls("", ""); n != 0 {
				b.Fatalf("%d backend calls during cached reads, want 0", n)
			}
		})
	}
}

// sliceReads is how many reads each contender makes per core in one turn
// of BenchmarkCachedReadInterleaved: 1-20 ms, long against the start-up of
// a turn's goroutines (tens of µs), short against the shifts of a shared
// machine's load.
const sliceReads = 100000

// BenchmarkCachedReadInterleaved makes the reads of BenchmarkCachedRead,
// but the three contenders take turns in slices of a few milliseconds (in
// rotating order), so that all three see the same machine: on a shared,
// noisy machine their ratios are then measured over the same moments.
// One op is one read by each contender; reported are each one's ns per
// read and the ratios.
func BenchmarkCachedReadInterleaved(b *testing.B) {
	f := newFixture(b)
	cs := []contender{f.ours(b), f.official(b, 0), f.syncMap(b)}
	for _, c := range cs {
		defer c.done()
		f.warm(b, c)
	}
	f.srv.ResetCalls()
	procs := runtime.GOMAXPROCS(0)
	var spent [3]time.Duration
	var seed atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; turn++ {
		n := min(sliceReads*procs, b.N-done)
		done += n
		for k := range cs {
			k = (k + turn) % len(cs)
			c := cs[k]
			t0 := time.Now()
			var wg sync.WaitGroup
			for p := range procs {
				reads := n / procs
				if p < n%procs {
					reads++
				}
				wg.Go(func() {
					i := int(seed.Add(37))
					for range reads {
						if _, err := c.get(f.ids[i%numSecrets]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			}
			wg.Wait()
			spent[k] += time.Since(t0)
		}
	}
	b.StopTimer()
	if n := f.srv.Calls("", ""); n != 0 {
		b.Fatalf("%d backend calls during cached reads, want 0", n)
	}
	ns := func(k int) float64 { return float64(spent[k]) / float64(b.N) }
	b.ReportMetric(ns(0), "secretcache-ns/read")
	b.ReportMetric(ns(1), "official-ns/read")
	b.ReportMetric(ns(2), "syncmap-ns/read")
	b.ReportMetric(ns(1)/ns(0), "official/secretcache")
	b.ReportMetric(ns(0)/ns(2), "secretcache/syncmap")
	b.ReportMetric(ns(1)/ns(2), "official/syncmap")
}

// stormReaders is the number of goroutines of one miss storm.
const stormReaders = 1000

// BenchmarkMissStorm: 1,000 goroutines, started and parked before the timer
// runs, ask a new cache for one uncached secret at once. ns/op is the time
// from their release until the last one has its value; calls/storm the
// Secrets Manager calls smtest counted.
func BenchmarkMissStorm(b *testing.B) {
	f := newFixture(b)
	id := f.ids[0]
	for _, m := range []maker{
		{"secretcache", func(tb testing.TB) contender { return f.ours(tb) }},
		{"official", func(tb testing.TB) contender { return f.official(tb, 0) }},
	} {
		b.Run(m.name, func(b *testing.B) {
			calls := 0
			for range b.N {
				b.StopTimer()
				c := m.make(b)
				gate := make(chan struct{})
				var ready, wg sync.WaitGroup
				ready.Add(stormReaders)
				for range stormReaders {
					wg.Go(func() {
						ready.Done()
						<-gate
						if _, err := c.get(id); err != nil {
							b.Error(err)
						}
					})
				}
				ready.Wait()
				f.srv.ResetCalls()
				b.StartTimer()
				close(gate)
				wg.Wait()
				b.StopTimer()
				calls += f.srv.Calls("", "")
				c.done()
				b.StartTimer()
			}
			b.ReportMetric(float64(calls)/float64(b.N), "calls/storm")
		})
	}
}

// waitThreshold: a read this slow waited for something (a loopback SDK
// round trip to smtest takes longer), rather than reading memory.
const waitThreshold = 50 * time.Microsecond

// latencies summarises read times: how many, how many took waitThreshold
// or more, their total and the longest.
type latencies struct {
	n, waits int64
	sum, max time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.n++
	l.sum += d
	if d >= waitThreshold {
		l.waits++
	}
	l.max = max(l.max, d)
}

func (l *latencies) merge(o *latencies) {
	l.n += o.n
	l.waits += o.waits
	l.sum += o.sum
	l.max = max(l.max, o.max)
}

// expiryTTL is the TTL of BenchmarkExpiry/steady: short, so that every run
// crosses it, and long enough for secretcache's default 100 ms coarse clock
// and its refresh-ahead window (the last 200 ms) to work as in production.
const expiryTTL = time.Second

// BenchmarkExpiry compares what a reader waits when the TTL passes.
//
// steady: one reader per core reads the 100 secrets in turn, pausing 1 ms
// after each round (a service that works between reads, so that the
// cache's background refresh gets a core when it needs one), with a 1 s TTL (secretcache: WithTTL, the rest default, so
// refresh-ahead starts in the last 200 ms; official: CacheItemTTL, so each
// secret is refreshed at a random point between 0.5 and 1 s). Reported per secret
// per TTL: waited-calls, the Secrets Manager calls a reader waited for
// (secretcache: its misses, expired entries included; official: all its
// calls, as it has no goroutine of its own); calls, all Secrets Manager
// calls; slow-reads, reads of 50 µs or more (every read is timed). max-ms is
// the longest read and read-ns the mean. The sync.Map reference, timed the
// same way, shows the machine's own noise.
//
// idle, idle-rotated: one secret, read once after 1.5 TTLs without reads
// (TTL 20 ms), with the value unchanged or rotated in between; wait-us/read
// is how long that read takes, calls/read its Secrets Manager calls.
func BenchmarkExpiry(b *testing.B) {
	f := newFixture(b)
	b.Run("steady", func(b *testing.B) {
		for _, m := range []maker{
			{"secretcache", func(tb testing.TB) contender {
				return f.ours(tb, secretcache.WithTTL(expiryTTL))
			}},
			{"official", func(tb testing.TB) contender { return f.official(tb, expiryTTL) }},
			{"syncmap", f.syncMap},
		} {
			b.Run(m.name, func(b *testing.B) { benchSteady(b, f, m) })
		}
	})
	for _, rotated := range []bool{false, true} {
		name := "idle"
		if rotated {
			name = "idle-rotated"
		}
		b.Run(name, func(b *testing.B) {
			for _, m := range []maker{
				{"secretcache", func(tb testing.TB) contender {
					return f.ours(tb, secretcache.WithTTL(idleTTL), secretcache.WithClock(wallClock{}))
				}},
				{"official", func(tb testing.TB) contender { return f.official(tb, idleTTL) }},
			} {
				b.Run(m.name, func(b *testing.B) { benchIdle(b, f, m, rotated) })
			}
		})
	}
}

func benchSteady(b *testing.B, f *fixture, m maker) {
	c := m.make(b)
	defer c.done()
	f.warm(b, c)
	f.srv.ResetCalls()
	waited0 := c.readerCalls()
	var (
		mu   sync.Mutex
		all  latencies
		seed atomic.Uint32
	)
	b.ReportAllocs()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		l := new(latencies)
		i := int(seed.Add(37))
		for pb.Next() {
			t0 := time.Now()
			if _, err := c.get(f.ids[i%numSecrets]); err != nil {
				b.Error(err)
				return
			}
			l.add(time.Since(t0))
			if i++; i%numSecrets == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		mu.Lock()
		all.merge(l)
		mu.Unlock()
	})
	b.StopTimer()
	perSecretTTL := float64(numSecrets) * float64(time.Since(start)) / float64(expiryTTL)
	b.ReportMetric(float64(c.readerCalls()-waited0)/perSecretTTL, "waited-calls/secret/ttl")
	b.ReportMetric(float64(f.srv.Calls("", ""))/perSecretTTL, "calls/secret/ttl")
	b.ReportMetric(float64(all.waits)/perSecretTTL, "slow-reads/secret/ttl")
	b.ReportMetric(float64(all.max)/1e6, "max-ms")
	b.ReportMetric(float64(all.sum)/float64(all.n), "read-ns")
	b.ReportMetric(0, "ns/op") // mostly the readers' pauses; see read-ns
}

// idleTTL is the TTL of BenchmarkExpiry/idle.
const idleTTL = 20 * time.Millisecond

func benchIdle(b *testing.B, f *fixture, m maker, rotated bool) {
	id := fmt.Sprintf("prod/app/idle-%s-%t", m.name, rotated)
	if _, ok := f.srv.Value("", id, ""); !ok {
		if _, err := f.srv.CreateSecret("", id, "v0"); err != nil {
			b.Fatal(err)
		}
	}
	c := m.make(b)
	defer c.done()
	if _, err := c.get(id); err != nil {
		b.Fatal(err)
	}
	var waited time.Duration
	calls := 0
	for i := range b.N {
		time.Sleep(idleTTL * 3 / 2)
		want, _ := f.srv.Value("", id, "")
		if rotated {
			want = fmt.Sprintf("v%d-%d", time.Now().UnixNano(), i)
			if _, err := f.srv.PutSecretValue("", id, want); err != nil {
				b.Fatal(err)
			}
		}
		f.srv.ResetCalls()
		t0 := time.Now()
		got, err := c.get(id)
		waited += time.Since(t0)
		calls += f.srv.Calls("", "")
		if err != nil || got != want {
			b.Fatalf("read after expiry: got %q, %v; want %q", got, err, want)
		}
	}
	b.ReportMetric(0, "ns/op") // the sleep; the read is wait-us/read
	b.ReportMetric(float64(waited)/1e3/float64(b.N), "wait-us/read")
	b.ReportMetric(float64(calls)/float64(b.N), "calls/read")
}
