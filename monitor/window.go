package monitor

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/secretcache/secretcache/internal/clip"
)

// callSample is one backend call seen by ObserveCall.
type callSample struct {
	at     int64 // unix nanos
	d      time.Duration
	failed bool
}

// callWindow is a ring of the most recent backend calls.
type callWindow struct {
	mu   sync.Mutex
	buf  []callSample
	next int
	n    int
	ever bool // ObserveCall was called at least once
}

func (w *callWindow) init(size int) { w.buf = make([]callSample, size) }

func (w *callWindow) add(s callSample) {
	w.mu.Lock()
	w.buf[w.next] = s
	w.next = (w.next + 1) % len(w.buf)
	w.n = min(w.n+1, len(w.buf))
	w.ever = true
	w.mu.Unlock()
}

// windowSummary is what the recent calls say.
type windowSummary struct {
	calls, failures int
	p50, p95, p99   time.Duration
}

// summary returns the calls at or after since.
func (w *callWindow) summary(since int64) (windowSummary, bool) {
	w.mu.Lock()
	ds := make([]time.Duration, 0, w.n)
	var s windowSummary
	for i := range w.n {
		c := w.buf[(w.next-1-i+len(w.buf))%len(w.buf)]
		if c.at < since {
			continue // samples are added in time order, but a clock may step back: check them all
		}
		s.calls++
		if c.failed {
			s.failures++
		}
		ds = append(ds, c.d)
	}
	ever := w.ever
	w.mu.Unlock()
	if len(ds) > 0 {
		slices.Sort(ds)
		s.p50, s.p95, s.p99 = rank(ds, 50), rank(ds, 95), rank(ds, 99)
	}
	return s, ever
}

// rank is the nearest-rank percentile of sorted ds.
func rank(ds []time.Duration, p int) time.Duration {
	i := (p*len(ds)+99)/100 - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// snap is a reading of the cache's cumulative counters.
type snap struct {
	at                           int64
	hits, reads, calls, failures uint64
}

// snapshots keeps readings of the cache counters over the last window, so
// that health can judge rates over the recent past instead of since start:
// a cache that recovers from a fault looks healthy again once the fault
// leaves the window.
type snapshots struct {
	mu   sync.Mutex
	list []snap // oldest first
}

func (s *snapshots) reset(now time.Time, cur snap) {
	s.mu.Lock()
	cur.at = now.UnixNano()
	s.list = append(s.list[:0], cur)
	s.mu.Unlock()
}

func (s *snapshots) record(now time.Time, cur snap) {
	s.mu.Lock()
	cur.at = now.UnixNano()
	s.list = append(s.list, cur)
	s.mu.Unlock()
}

// delta records cur (at most one reading per window/16 is kept) and returns
// the change since the baseline: the oldest reading inside the window, or,
// when none is, the newest reading before it.
func (s *snapshots) delta(now time.Time, window time.Duration, cur snap) snap {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	cur.at = t
	cut := t - int64(window)
	drop := 0
	for drop < len(s.list)-1 && s.list[drop].at < cut {
		drop++
	}
	s.list = s.list[drop:]
	if len(s.list) == 0 || t-s.list[len(s.list)-1].at >= int64(window/16) || t < s.list[len(s.list)-1].at {
		s.list = append(s.list, cur)
	}
	b := s.list[0]
	if b.reads > cur.reads || b.calls > cur.calls || b.hits > cur.hits || b.failures > cur.failures {
		// counters went back (another cache was attached): start over
		s.list = append(s.list[:0], cur)
		b = cur
	}
	return snap{at: t - b.at, hits: cur.hits - b.hits, reads: cur.reads - b.reads,
		calls: cur.calls - b.calls, failures: cur.failures - b.failures}
}

// cleanLabel makes s safe as a label value or a line of text: invalid UTF-8
// and control characters are dropped and the result cut to 128 bytes.
func cleanLabel(s string) string { return clip.Cut(printable(s, maxLabelValue), maxLabelValue) }

// cleanText is cleanLabel for longer free text (component messages, error
// texts): up to n bytes, control characters dropped, "..." where cut.
func cleanText(s string, n int) string {
	return clip.String(printable(s, n), n)
}

// printable drops invalid UTF-8 and control characters from the first 4n
// bytes of s.
func printable(s string, n int) string {
	if len(s) > 4*n {
		s = s[:4*n]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}
