package gcfloor

import (
	"context"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 0, 100},                // no floor: Go's default
		{10 * mib, 0, 100},         // no floor, any heap
		{0, 4 * mib, 100},          // a floor Go's minimum already gives
		{0, 16 * mib, 400},         // not measured yet: the minimum reaches the floor
		{1, 16 * mib, 400},         // near-empty heap: the minimum, not 1.6e9
		{1 * mib, 16 * mib, 400},   // goal max(16, 5) MiB
		{4 * mib, 16 * mib, 300},   // goal max(12, 16) MiB
		{7 * mib, 16 * mib, 128},   // goal 16 MiB from the live heap
		{8 * mib, 16 * mib, 100},   // goal 16 MiB at GOGC 100 already
		{100 * mib, 16 * mib, 100}, // large heaps: untouched
		{1 * mib, 64 * mib, 1600},  // a larger floor
	} {
		if got := Percent(c.live, c.floor); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

// TestRunRaisesAndRestores: with a floor well above the test's live heap,
// Run raises GOGC, and puts back 100 when its context ends.
func TestRunRaisesAndRestores(t *testing.T) {
	t.Setenv("GOGC", "") // make Overridden see it set, then unset it for this test
	if !Overridden() {
		t.Fatal("GOGC set: Overridden = false")
	}
	unsetenv(t, "GOGC")
	unsetenv(t, "GOMEMLIMIT")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, 64<<20, 100*time.Millisecond); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() <= 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d after Run with a 64 MiB floor, want more than 100", gcPercent())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := gcPercent(); got != 100 {
		t.Fatalf("GOGC = %d after Run returned, want 100", got)
	}
}

// TestRunLeavesOperatorsSetting: GOGC or GOMEMLIMIT in the environment
// means Run does nothing and returns at once.
func TestRunLeavesOperatorsSetting(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		unsetenv(t, "GOGC")
		unsetenv(t, "GOMEMLIMIT")
		t.Setenv(env, "off")
		before := gcPercent()
		done := make(chan struct{})
		go func() { Run(context.Background(), 64<<20, time.Second); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s set: Run did not return", env)
		}
		if got := gcPercent(); got != before {
			t.Fatalf("%s set: GOGC changed from %d to %d", env, before, got)
		}
	}
}

// TestRunWithoutFloor: a floor of 0 is "off".
func TestRunWithoutFloor(t *testing.T) {
	done := make(chan struct{})
	go func() { Run(context.Background(), 0, time.Second); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("floor 0: Run did not return")
	}
}

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
