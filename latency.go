package secretcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// latency estimates how long a background refresh takes, to open the
// refresh-ahead window early enough that the refresh ends before the value
// expires. It follows three delays, each as TCP follows round trips (RFC
// 6298: a smoothed mean and mean deviation, the mean plus four deviations
// standing for a high percentile):
//
//   - backend: one call to the source;
//   - pipeline: from the read that found an entry due to the refreshed
//     entry stored (the gather window, waiting for a free call, the call,
//     and whatever the machine adds: a loaded machine shows here);
//   - tick: the interval between updates of the coarse clock that reads
//     use, as reads notice an entry is due up to one interval late.
//
// lead = max(2 x backend + gather window, 2 x pipeline) + tick.
type latency struct {
	mu                     sync.Mutex
	backend, pipeline, tck estimate
	gather                 float64 // the batch window, for a batch source
	coarse                 bool    // reads use the coarse clock
	lead                   atomic.Int64
}

type estimate struct {
	n         int
	mean, dev float64 // nanoseconds
}

func (e *estimate) add(d float64) {
	if e.n++; e.n == 1 {
		e.mean, e.dev = d, d/2
		return
	}
	diff := e.mean - d
	if diff < 0 {
		diff = -diff
	}
	e.dev = 0.75*e.dev + 0.25*diff
	e.mean = 0.875*e.mean + 0.125*d
}

func (e *estimate) high() float64 { return e.mean + 4*e.dev }

func (l *latency) init(cfg *config, batch bool) {
	if batch {
		l.gather = float64(cfg.batchWindow)
	}
	l.coarse = cfg.clock == nil
	l.mu.Lock()
	l.update()
	l.mu.Unlock()
}

// add records a delay d (nanoseconds) in e, one of l's estimates.
func (l *latency) add(e *estimate, d int64) {
	l.mu.Lock()
	e.add(float64(max(d, 0)))
	l.update()
	l.mu.Unlock()
}

func (l *latency) update() {
	lead := max(2*l.backend.high()+l.gather, 2*l.pipeline.high())
	if l.coarse {
		lead += max(l.tck.high(), float64(tickEvery))
	}
	l.lead.Store(int64(min(lead, 1<<62)))
}

// observe records a backend call that started at start (clockNano), unless
// it was cut short by its caller or by Close.
func (c *Cache) observe(ctx context.Context, start int64) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	c.lat.add(&c.lat.backend, c.clockNano()-start)
}

// observeTick records the interval between two updates of the coarse clock.
func (c *Cache) observeTick(d time.Duration) { c.lat.add(&c.lat.tck, int64(d)) }
