package official_test

import (
	"testing"
	"time"
)

// TestSameValue: both caches, set up as the benchmarks set them up, return
// smtest's value for every secret, on the miss and on the hit.
func TestSameValue(t *testing.T) {
	f := newFixture(t)
	ours, official := f.ours(t), f.official(t, 0)
	defer ours.done()
	for range 2 {
		for _, id := range f.ids {
			want, _ := f.srv.Value("", id, "")
			a, errA := ours.get(id)
			o, errO := official.get(id)
			if errA != nil || errO != nil || a != want || o != want {
				t.Fatalf("%s: secretcache %q, %v; official %q, %v; want %q", id, a, errA, o, errO, want)
			}
		}
	}
}

// TestCallsPerMiss pins what the benchmarks report: a miss costs
// secretcache one GetSecretValue and the official client a DescribeSecret
// and a GetSecretValue by VersionId; a hit costs neither anything.
func TestCallsPerMiss(t *testing.T) {
	f := newFixture(t)
	ours, official := f.ours(t), f.official(t, 0)
	defer ours.done()
	for _, tc := range []struct {
		c                         contender
		id                        string
		describes, getSecretValue int
	}{
		{ours, f.ids[0], 0, 1},
		{official, f.ids[1], 1, 1},
	} {
		for i, want := range [][2]int{{tc.describes, tc.getSecretValue}, {0, 0}} {
			f.srv.ResetCalls()
			if _, err := tc.c.get(tc.id); err != nil {
				t.Fatal(err)
			}
			got := [2]int{f.srv.Calls("", "DescribeSecret"), f.srv.Calls("", "GetSecretValue")}
			if got != want || f.srv.Calls("", "") != want[0]+want[1] {
				t.Errorf("%s read %d: %d calls (DescribeSecret, GetSecretValue = %v), want %v",
					tc.c.name, i+1, f.srv.Calls("", ""), got, want)
			}
		}
	}
}

// TestLatencies checks the read-time summary BenchmarkExpiry reports.
func TestLatencies(t *testing.T) {
	var l, m latencies
	for range 99 {
		l.add(100 * time.Nanosecond)
	}
	l.add(waitThreshold)
	m.merge(&l)
	m.merge(&l)
	want := latencies{n: 200, waits: 2, sum: 2 * (99*100*time.Nanosecond + waitThreshold), max: waitThreshold}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
}
