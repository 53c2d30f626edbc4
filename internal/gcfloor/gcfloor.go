// Package gcfloor keeps the garbage collector's heap goal at or above a
// floor while a server's live heap is small, trading a few megabytes of
// memory for less CPU per request.
//
// It is not a memory limit and not a general GC tuner: it only raises
// GOGC above 100 when the live heap is under half the floor, and leaves
// the collector alone when the operator set GOGC or GOMEMLIMIT.
//
// Why: Go's minimum heap goal is 4 MiB. A sidecar whose live heap is 1-3
// MiB and which allocates a few hundred bytes per request then collects
// every few thousand requests and marks its whole live heap each time, up
// to ten times the marking work per request of a program whose live heap
// is nearly empty. Measured on the agent under wrk, that is most of its
// CPU per request over a bare net/http server's (BENCHMARKS.md).
package gcfloor

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// heapMinimum is Go's smallest heap goal at GOGC 100. The runtime scales
// it with GOGC (runtime/mgcpacer.go), so at a small live heap the minimum,
// not the live heap, sets the goal.
const heapMinimum = 4 << 20

// Percent is the smallest GOGC that gives a heap goal of at least floor
// bytes for a live heap of live bytes, and never less than 100 (Go's
// default). The goal is the larger of heapMinimum x GOGC/100 and live x
// (1 + GOGC/100), so the answer is the smaller of floor/heapMinimum x 100
// and (floor-live)/live x 100. A floor at or under heapMinimum, or a live
// heap of half the floor or more, gets 100; a live heap of 0 (nothing
// measured yet) gets floor/heapMinimum x 100.
func Percent(live, floor uint64) int {
	if floor <= heapMinimum || live >= floor/2 {
		return 100
	}
	p := floor * 100 / heapMinimum
	if live > 0 {
		p = min(p, (floor-live)*100/live)
	}
	return int(max(p, 100))
}

// Overridden reports whether the operator set GOGC or GOMEMLIMIT, in which
// case Run leaves the collector as they set it.
func Overridden() bool {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	return gogc || limit
}

// Run keeps the heap goal at or above floor bytes until ctx is done,
// checking the live heap every interval (at least 100 ms; 0 means 1 s),
// and then restores GOGC 100. It returns at once, doing nothing, when floor
// is 0 or Overridden reports true.
func Run(ctx context.Context, floor uint64, interval time.Duration) {
	if floor == 0 || Overridden() {
		return
	}
	if interval == 0 {
		interval = time.Second
	}
	interval = max(interval, 100*time.Millisecond)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := 100
	adjust := func() {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		want := Percent(live, floor)
		// Change it only when it moved by more than a tenth, so that a
		// steady heap makes no calls into the runtime.
		if d := want - current; d*10 > current || -d*10 > current {
			debug.SetGCPercent(want)
			current = want
		}
	}
	adjust()
	t := time.NewTicker(interval)
	defer t.Stop()
	defer debug.SetGCPercent(100)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			adjust()
		}
	}
}
