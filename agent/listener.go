package agent

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Connection limits of the API listener. The connection tracker enforces
// them with one sweep every few hundred milliseconds instead of net/http's
// per-request deadlines (four timer updates per request on a kept-alive
// connection, the largest cost the agent added to net/http's own).
const (
	// HeaderTimeout bounds the time a client has to send a request line and
	// its headers: from the connection for the first request, from the
	// request's first byte on a kept-alive connection. The connection is
	// closed when it runs out.
	HeaderTimeout = 5 * time.Second
	// IdleTimeout closes a kept-alive connection that sent no new request
	// for this long.
	IdleTimeout = 60 * time.Second
	// requestGrace is added to the longest a request may take (the larger of
	// request_timeout_seconds and twice fetch_timeout_ms) to bound the time a
	// connection may spend on one request, writing included: a client that
	// stops reading its answer, or sends a body it never finishes, is cut
	// then.
	requestGrace = 5 * time.Second
	// sweepEvery is how often the tracker checks the timeouts above, and the
	// resolution of its clock.
	sweepEvery = 200 * time.Millisecond
)

// apiListener sets the IP time-to-live of accepted connections to 1, as the
// AWS agent does: answers cannot travel past the first hop, so a request
// relayed from another network (an SSRF through a proxy) gets no reply. It
// wraps each connection for the tracker.
type apiListener struct {
	net.Listener
	t *connTracker
}

func (l *apiListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	setHopLimit(tc)
	return &trackedConn{TCPConn: tc, t: l.t}, nil
}

// Connection states, as net/http reports them.
const (
	connNew    int32 = iota // accepted, no request read yet
	connActive              // a request is being answered
	connIdle                // kept alive between requests
)

// Why the tracker closed a connection, for the counters.
const (
	closedIdleOverLimit  = iota // idle while more than max_conn connections were open
	closedOverHardLimit         // not answering a request while more than the hard limit were open
	closedHeaderTimeout         // HeaderTimeout ran out
	closedIdleTimeout           // IdleTimeout ran out
	closedRequestTimeout        // a request took longer than the tracker's bound
	closedReasons
)

var closedReasonNames = [closedReasons]string{"idle_over_max_conn", "over_hard_limit", "header_timeout", "idle_timeout", "request_timeout"}

// trackedConn is an accepted API connection with what the tracker needs.
// It embeds *net.TCPConn, so net/http sees every method of it.
type trackedConn struct {
	*net.TCPConn
	t       *connTracker
	state   atomic.Int32 // connNew, connActive, connIdle
	since   atomic.Int64 // tracker clock at the last state change
	reqAt   atomic.Int64 // tracker clock at the first byte of the next request, 0 before
	closing bool         // the tracker closed it (under t.mu)
}

// Read notes when the first byte of a request arrives, which starts its
// HeaderTimeout.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 && c.reqAt.Load() == 0 && c.state.Load() != connActive {
		c.reqAt.Store(c.t.now.Load())
	}
	return n, err
}

// connTracker keeps the API listener's connections within bounds, so that
// connections that are not being answered never keep a client out:
//   - max_conn counts requests in progress (api.inFlight), not connections;
//   - when a new connection makes more than max_conn open, the idle ones
//     that waited longest are closed until max_conn are open;
//   - over the hard limit (twice max_conn plus 64), connections that have
//     not sent a whole request go too, oldest first;
//   - HeaderTimeout, IdleTimeout and the request bound close connections
//     that run out of them.
//
// The request path costs two atomic stores per state change and nothing
// else: the clock is the tracker's own, advanced by the sweep.
type connTracker struct {
	soft, hard    int
	headerTimeout time.Duration
	idleTimeout   time.Duration
	reqTimeout    time.Duration
	tick          time.Duration

	start time.Time
	now   atomic.Int64 // nanoseconds since start, at the last tick; at least 1

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	closing int // conns closed by the tracker and not yet gone
	// fruitless[i] is the clock when a scan for victims (0: idle ones,
	// 1: unanswered too) last found too few: no new scan of that kind
	// before the clock moves, so that a flood of connections costs one scan
	// of them all per tick, not one per connection.
	fruitless [2]int64
	closed    [closedReasons]atomic.Uint64
}

func newConnTracker(maxConn int, reqTimeout time.Duration) *connTracker {
	t := &connTracker{soft: maxConn, hard: 2*maxConn + 64, headerTimeout: HeaderTimeout,
		idleTimeout: IdleTimeout, reqTimeout: reqTimeout + requestGrace, tick: sweepEvery,
		start: time.Now(), conns: map[*trackedConn]struct{}{}}
	t.now.Store(1)
	return t
}

// open returns the number of open connections, not counting those the
// tracker is closing.
func (t *connTracker) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns) - t.closing
}

// closedCounts returns how many connections the tracker closed, by reason.
func (t *connTracker) closedCounts() map[string]uint64 {
	m := make(map[string]uint64, closedReasons)
	for i := range t.closed {
		m[closedReasonNames[i]] = t.closed[i].Load()
	}
	return m
}

// connState is the server's ConnState hook.
func (t *connTracker) connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*trackedConn)
	if !ok {
		return
	}
	// since is stored before state and read after it (sweep), so a state
	// is never seen with the time of an older one.
	switch st {
	case http.StateNew:
		c.since.Store(t.now.Load())
		c.state.Store(connNew)
		t.add(c)
	case http.StateActive:
		c.since.Store(t.now.Load())
		c.state.Store(connActive)
	case http.StateIdle:
		c.reqAt.Store(0)
		c.since.Store(t.now.Load())
		c.state.Store(connIdle)
	case http.StateClosed, http.StateHijacked:
		t.mu.Lock()
		if _, ok := t.conns[c]; ok {
			delete(t.conns, c)
			if c.closing {
				t.closing--
			}
		}
		t.mu.Unlock()
	}
}

// add registers c and, when that makes too many open, closes the
// connections that serve nothing and waited longest.
func (t *connTracker) add(c *trackedConn) {
	var victims []*trackedConn
	var reasons []int
	t.mu.Lock()
	t.conns[c] = struct{}{}
	if over := len(t.conns) - t.closing - t.soft; over > 0 {
		victims = t.oldestLocked(c, over, false)
		for range victims {
			reasons = append(reasons, closedIdleOverLimit)
		}
		if hardOver := len(t.conns) - t.closing - t.hard; hardOver > 0 {
			more := t.oldestLocked(c, hardOver, true)
			if len(more) < hardOver && !c.closing {
				// Every other connection is busy with a request: the
				// newcomer goes, so that the hard limit holds.
				c.closing = true
				t.closing++
				more = append(more, c)
			}
			for range more {
				reasons = append(reasons, closedOverHardLimit)
			}
			victims = append(victims, more...)
		}
	}
	t.mu.Unlock()
	t.closeAll(victims, reasons)
}

// oldestLocked marks as closing and returns up to n connections other than
// keep that are idle (or, with unanswered, also new: no whole request yet),
// those whose state changed longest ago first.
func (t *connTracker) oldestLocked(keep *trackedConn, n int, unanswered bool) []*trackedConn {
	kind := 0
	if unanswered {
		kind = 1
	}
	now := t.now.Load()
	if t.fruitless[kind] == now {
		return nil
	}
	eligible := func(c *trackedConn) bool {
		if c == keep || c.closing {
			return false
		}
		s := c.state.Load()
		if unanswered {
			return s == connIdle || s == connNew
		}
		// A kept-alive connection whose next request has begun to arrive
		// is not idle: closing it would cut a client mid-request.
		return s == connIdle && c.reqAt.Load() == 0
	}
	var out []*trackedConn
	for len(out) < n {
		var best *trackedConn
		var bestSince int64
		for c := range t.conns {
			if !eligible(c) {
				continue
			}
			if s := c.since.Load(); best == nil || s < bestSince {
				best, bestSince = c, s
			}
		}
		if best == nil {
			t.fruitless[kind] = now
			break
		}
		best.closing = true
		t.closing++
		out = append(out, best)
	}
	return out
}

func (t *connTracker) closeAll(cs []*trackedConn, reasons []int) {
	for i, c := range cs {
		t.closed[reasons[i]].Add(1)
		_ = c.TCPConn.Close()
	}
}

// run advances the clock and sweeps until stop is closed.
func (t *connTracker) run(stop <-chan struct{}) {
	tk := time.NewTicker(t.tick)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			t.now.Store(max(1, int64(time.Since(t.start))))
			t.sweep()
		}
	}
}

// sweep closes the connections that ran out of time.
func (t *connTracker) sweep() {
	now := t.now.Load()
	var victims []*trackedConn
	var reasons []int
	t.mu.Lock()
	for c := range t.conns {
		if c.closing {
			continue
		}
		reason := -1
		state := c.state.Load()
		since := c.since.Load()
		switch {
		case state == connActive:
			if time.Duration(now-since) > t.reqTimeout {
				reason = closedRequestTimeout
			}
		case c.reqAt.Load() != 0:
			if time.Duration(now-c.reqAt.Load()) > t.headerTimeout {
				reason = closedHeaderTimeout
			}
		case state == connNew:
			if time.Duration(now-since) > t.headerTimeout {
				reason = closedHeaderTimeout
			}
		default: // idle
			if time.Duration(now-since) > t.idleTimeout {
				reason = closedIdleTimeout
			}
		}
		if reason >= 0 {
			c.closing = true
			t.closing++
			victims = append(victims, c)
			reasons = append(reasons, reason)
		}
	}
	t.mu.Unlock()
	t.closeAll(victims, reasons)
}
