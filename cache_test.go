package secretcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

var ctx = context.Background()

func TestNewRejectsBadInput(t *testing.T) {
	src := newScript()
	if _, err := secretcache.New(nil); err == nil {
		t.Error("nil source accepted")
	}
	bad := map[string]secretcache.Option{
		"zero ttl":           secretcache.WithTTL(0),
		"negative ttl":       secretcache.WithTTL(-time.Second),
		"refresh ahead 1":    secretcache.WithRefreshAhead(1),
		"refresh ahead -0.1": secretcache.WithRefreshAhead(-0.1),
		"refresh ahead NaN":  secretcache.WithRefreshAhead(math.NaN()),
		"negative stale":     secretcache.WithMaxStale(-1),
		"zero entries":       secretcache.WithMaxEntries(0),
		"negative entries":   secretcache.WithMaxEntries(-5),
		"zero bytes":         secretcache.WithMaxBytes(0),
		"empty policy":       secretcache.WithPolicy("", time.Minute),
		"zero policy ttl":    secretcache.WithPolicy("*/x/*", 0),
		"nil clock":          secretcache.WithClock(nil),
		"nil logger":         secretcache.WithLogger(nil),
		"zero fetch timeout": secretcache.WithFetchTimeout(0),
		"negative window":    secretcache.WithBatchWindow(-1),
		"backoff max < base": secretcache.WithBackoff(time.Second, time.Millisecond),
		"zero backoff":       secretcache.WithBackoff(0, time.Second),
		"nil read hook":      secretcache.WithReadHook(nil),
		"nil option":         nil,
	}
	for name, opt := range bad {
		if c, err := secretcache.New(src, opt); err == nil {
			c.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMissThenHit(t *testing.T) {
	src := newScript()
	src.set("prod/db", "s3cr3t")
	c, _ := newCache(t, src)
	for range 3 {
		if got := mustString(t, c, "prod/db"); got != "s3cr3t" {
			t.Fatalf("got %q", got)
		}
	}
	st := c.Stats()
	if st.Misses != 1 || st.Hits != 2 || st.BackendCalls != 1 || src.calls.Load() != 1 {
		t.Fatalf("stats %+v, calls %d", st, src.calls.Load())
	}
	if st.Entries != 1 || st.Bytes == 0 || st.CallsSaved != 2 || st.HitRate < 0.66 || st.HitRate > 0.67 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGetReturnsCallersCopy(t *testing.T) {
	src := newScript()
	src.setBinary("bin", []byte{1, 2, 3})
	c, _ := newCache(t, src)
	s, err := c.Get(ctx, "bin")
	if err != nil {
		t.Fatal(err)
	}
	s.Binary[0] = 99
	s.VersionStages[0] = "HACKED"
	b, _ := c.GetBinary(ctx, "bin")
	b[1] = 99
	again, _ := c.Get(ctx, "bin")
	if !bytes.Equal(again.Binary, []byte{1, 2, 3}) || again.VersionStages[0] != "AWSCURRENT" {
		t.Fatalf("cache corrupted by caller: %v %v", again.Binary, again.VersionStages)
	}
}

func TestWrongType(t *testing.T) {
	src := newScript()
	src.setBinary("bin", []byte{1})
	src.set("str", "x")
	c, _ := newCache(t, src)
	if _, err := c.GetString(ctx, "bin"); !errors.Is(err, secretcache.ErrWrongType) {
		t.Errorf("GetString(binary) = %v", err)
	}
	if _, err := c.GetBinary(ctx, "str"); !errors.Is(err, secretcache.ErrWrongType) {
		t.Errorf("GetBinary(string) = %v", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	src := newScript()
	c, _ := newCache(t, src)
	long := strings.Repeat("a", secretcache.MaxIDLength+1)
	for name, id := range map[string]string{"empty": "", "oversized": long, "space": "a b",
		"newline": "a\nb", "nul": "a\x00b", "leading nul": "\x00AWSPENDING\x00\x00x", "tab": "\t"} {
		_, err := c.GetString(ctx, id)
		if !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("%s: err %v", name, err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%s: error message of %d bytes", name, len(err.Error()))
		}
		if _, err := c.GetString(ctx, id, secretcache.WithFallback("fb")); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("%s with fallback: err %v", name, err)
		}
	}
	for _, opt := range []secretcache.GetOption{secretcache.WithVersionStage(strings.Repeat("S", 300)),
		secretcache.WithVersionID(strings.Repeat("v", 65)), secretcache.WithVersionStage("a\x00b")} {
		if _, err := c.GetString(ctx, "ok", opt); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("bad option accepted: %v", err)
		}
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("invalid input reached the source %d times", n)
	}
	maxID := strings.Repeat("b", secretcache.MaxIDLength)
	src.set(maxID, "v")
	if got := mustString(t, c, maxID); got != "v" {
		t.Fatal(got)
	}
}

func TestExpiryRefetches(t *testing.T) {
	src := newScript()
	src.set("a", "one")
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute), secretcache.WithRefreshAhead(0))
	mustString(t, c, "a")
	src.set("a", "two")
	clk.Advance(59 * time.Second)
	if got := mustString(t, c, "a"); got != "one" {
		t.Fatalf("before TTL got %q", got)
	}
	clk.Advance(2 * time.Second)
	if got := mustString(t, c, "a"); got != "two" {
		t.Fatalf("after TTL got %q", got)
	}
	if st := c.Stats(); st.RefreshesOnExpiry != 1 || st.VersionChanges != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPoliciesAndEntryTTL(t *testing.T) {
	src := newScript()
	for _, n := range []string{"prod/payments/stripe", "prod/api-keys/maps", "prod/config/app", "other", "x"} {
		src.set(n, "v")
	}
	c, _ := newCache(t, src, secretcache.WithPolicy("*/payments/*", 3*time.Minute),
		secretcache.WithPolicy("*/api-keys/*", 10*time.Minute), secretcache.WithPolicy("*/config/*", 15*time.Minute))
	mustString(t, c, "prod/payments/stripe")
	mustString(t, c, "prod/api-keys/maps")
	mustString(t, c, "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/config/app-AbCdEf")
	mustString(t, c, "other")
	mustString(t, c, "x", secretcache.WithEntryTTL(42*time.Second))
	want := map[string]time.Duration{"prod/payments/stripe": 3 * time.Minute, "prod/api-keys/maps": 10 * time.Minute,
		"prod/config/app": 15 * time.Minute, "other": 5 * time.Minute, "x": 42 * time.Second}
	for e := range c.Entries() {
		if w := want[e.Metadata.Name]; e.TTL != w {
			t.Errorf("%s: ttl %v, want %v", e.Metadata.Name, e.TTL, w)
		}
	}
}

func TestVersionIDNeverRefreshes(t *testing.T) {
	src := newScript()
	v := src.set("a", "old")
	src.set("a", "new")
	c, clk := newCache(t, src)
	if got := mustString(t, c, "a", secretcache.WithVersionID(v)); got != "old" {
		t.Fatal(got)
	}
	clk.Advance(1000 * time.Hour)
	if got := mustString(t, c, "a", secretcache.WithVersionID(v)); got != "old" {
		t.Fatal(got)
	}
	c.WaitIdle()
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d calls for an immutable version", n)
	}
}

func TestStagesAreSeparateEntries(t *testing.T) {
	src := newScript()
	src.set("db", "current")
	src.setStage("db", "AWSPENDING", "pending")
	c, _ := newCache(t, src)
	if mustString(t, c, "db") != "current" || mustString(t, c, "db", secretcache.WithVersionStage("AWSPENDING")) != "pending" ||
		mustString(t, c, "db", secretcache.WithVersionStage("AWSCURRENT")) != "current" {
		t.Fatal("stages mixed up")
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d calls; AWSCURRENT by name and by stage must share one entry", n)
	}
}

func TestMissStormOneFetchAndOwnContexts(t *testing.T) {
	src := newScript()
	src.set("storm", "v")
	block := make(chan struct{})
	src.block = block
	c, _ := newCache(t, src)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Go(func() {
			v, err := c.GetString(ctx, "storm")
			if err == nil && v != "v" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		})
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.GetString(cctx, "storm"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, secretcache.ErrUnavailable) {
		t.Fatalf("waiting caller with a short context: %v", err)
	}
	close(block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d fetches for 1,000 concurrent misses", n)
	}
}

func TestStaleIfErrorBounded(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute), secretcache.WithMaxStale(10*time.Minute),
		secretcache.WithBackoff(time.Second, time.Second))
	mustString(t, c, "a")
	src.failAll(secretcache.NewError(secretcache.ErrThrottled, "a", nil))
	clk.Advance(2 * time.Minute) // expired
	if got := mustString(t, c, "a"); got != "v" {
		t.Fatal(got)
	}
	for range 8 {
		clk.Advance(time.Minute)
		if got := mustString(t, c, "a"); got != "v" {
			t.Fatalf("stale value not served: %q", got)
		}
		c.WaitIdle()
	}
	clk.Advance(2 * time.Minute) // 12 min past TTL, over max stale
	_, err := c.GetString(ctx, "a")
	if !errors.Is(err, secretcache.ErrThrottled) {
		t.Fatalf("past max staleness: %v", err)
	}
	st := c.Stats()
	if st.StaleHits != 9 || st.BackendErrors["throttled"] == 0 {
		t.Fatalf("stats %+v", st)
	}
	src.failAll(nil)
	clk.Advance(2 * time.Second)
	if got := mustString(t, c, "a"); got != "v" {
		t.Fatal(got)
	}
}

func TestPermanentErrorDropsValue(t *testing.T) {
	for _, kind := range []error{secretcache.ErrNotFound, secretcache.ErrAccessDenied, secretcache.ErrDecryption, secretcache.ErrDeleted} {
		src := newScript()
		src.set("a", "v")
		c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
		mustString(t, c, "a")
		src.fail("a", secretcache.NewError(kind, "a", nil))
		clk.Advance(55 * time.Second) // refresh ahead
		mustString(t, c, "a")
		c.WaitIdle()
		if _, err := c.GetString(ctx, "a"); !errors.Is(err, kind) {
			t.Fatalf("%v: revoked secret still served (err %v)", kind, err)
		}
		if c.Stats().Entries != 0 {
			t.Fatalf("%v: entry kept", kind)
		}
	}
}

func TestFailingSecretBacksOff(t *testing.T) {
	src := newScript()
	src.fail("broken", secretcache.NewError(secretcache.ErrUnavailable, "broken", nil))
	c, clk := newCache(t, src, secretcache.WithBackoff(time.Second, 8*time.Second))
	var calls []int64
	for range 8 {
		for range 100 {
			if _, err := c.GetString(ctx, "broken"); !errors.Is(err, secretcache.ErrUnavailable) {
				t.Fatal(err)
			}
		}
		calls = append(calls, src.calls.Load())
		clk.Advance(1100 * time.Millisecond)
	}
	// 1 call, then waits of 0.5-1 s, 1-2 s, 2-4 s, 4-8 s (jittered): far fewer than 8.
	if last := calls[len(calls)-1]; last > 5 || last < 3 {
		t.Fatalf("calls over time %v: want exponential backoff", calls)
	}
}

func TestBoundsEvict(t *testing.T) {
	src := newScript()
	c, _ := newCache(t, src, secretcache.WithMaxEntries(10))
	for i := range 200 {
		id := fmt.Sprintf("s%d", i)
		src.set(id, "v")
		mustString(t, c, id)
	}
	st := c.Stats()
	if st.Entries > 10 || st.Evictions == 0 {
		t.Fatalf("entries %d evictions %d", st.Entries, st.Evictions)
	}
	src2 := newScript()
	c2, _ := newCache(t, src2, secretcache.WithMaxBytes(64<<10), secretcache.WithMaxEntries(1000))
	for i := range 50 {
		id := fmt.Sprintf("big%d", i)
		src2.set(id, strings.Repeat("x", 8<<10))
		mustString(t, c2, id)
	}
	if st := c2.Stats(); st.Bytes > 64<<10 || st.Evictions == 0 {
		t.Fatalf("bytes %d evictions %d", st.Bytes, st.Evictions)
	}
}

func TestHotEntriesSurviveEviction(t *testing.T) {
	src := newScript()
	c, _ := newCache(t, src, secretcache.WithMaxEntries(50))
	src.set("hot", "v")
	for i := range 2000 {
		mustString(t, c, "hot")
		id := fmt.Sprintf("scan%d", i)
		src.set(id, "v")
		mustString(t, c, id)
	}
	if n := src.calls.Load(); n > 2001+5 {
		t.Fatalf("hot entry evicted repeatedly: %d calls", n)
	}
}

func TestChangeCallbacks(t *testing.T) {
	src := newScript()
	v1 := src.set("db", "pw-one-XYZ")
	var mu sync.Mutex
	var got []secretcache.ChangeEvent
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
	c.OnChange(func(ev secretcache.ChangeEvent) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})
	var second int
	remove := c.OnChange(func(secretcache.ChangeEvent) { second++ })
	mustString(t, c, "db")
	v2 := src.set("db", "pw-two-XYZ")
	clk.Advance(55 * time.Second)
	mustString(t, c, "db")
	c.WaitIdle()
	remove()
	if _, err := c.Refresh(ctx, "db"); err != nil { // same version: no event
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Old.VersionID != v1 || got[0].New.VersionID != v2 || got[0].Ref.ID != "db" || second != 1 {
		t.Fatalf("events %+v, second %d", got, second)
	}
	if s := fmt.Sprintf("%v %+v", got[0], got[0]); strings.Contains(s, "XYZ") {
		t.Fatalf("value in change event: %s", s)
	}
}

func TestGetField(t *testing.T) {
	src := newScript()
	src.set("db", `{"username":"app","password":"p\"w","port":5432,"opts":{"ssl":true}}`)
	src.set("plain", "not json")
	src.set("arr", `[1,2]`)
	src.setBinary("bin", []byte("{}"))
	c, _ := newCache(t, src)
	for key, want := range map[string]string{"username": "app", "password": `p"w`, "port": "5432", "opts": `{"ssl":true}`} {
		if got, err := c.GetField(ctx, "db", key); err != nil || got != want {
			t.Errorf("%s: %q %v", key, got, err)
		}
	}
	cases := []struct {
		id, key string
		kind    error
	}{{"db", "nope", secretcache.ErrKeyMissing}, {"plain", "x", secretcache.ErrNotJSON}, {"arr", "x", secretcache.ErrNotJSON},
		{"bin", "x", secretcache.ErrWrongType}, {"db", "", secretcache.ErrInvalidRequest}}
	for _, tc := range cases {
		if _, err := c.GetField(ctx, tc.id, tc.key); !errors.Is(err, tc.kind) {
			t.Errorf("%s/%s: %v", tc.id, tc.key, err)
		}
	}
}

func TestGetJSON(t *testing.T) {
	src := newScript()
	src.set("db", `{"username":"app","port":5432}`)
	src.set("bad", `{"username": Zsecretchar}`)
	src.set("typed", `{"port":"Zsecretchar"}`)
	c, _ := newCache(t, src)
	type db struct {
		Username string `json:"username"`
		Port     int    `json:"port"`
	}
	v, err := secretcache.GetJSON[db](ctx, c, "db")
	if err != nil || v.Username != "app" || v.Port != 5432 {
		t.Fatal(v, err)
	}
	for _, id := range []string{"bad", "typed"} {
		_, err = secretcache.GetJSON[db](ctx, c, id)
		if !errors.Is(err, secretcache.ErrNotJSON) || strings.Contains(err.Error(), "Z") {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if _, err := secretcache.GetJSON[db](ctx, nil, "db"); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
}

func TestFallback(t *testing.T) {
	src := newScript()
	c, _ := newCache(t, src)
	v, err := c.GetString(ctx, "missing", secretcache.WithFallback("default"))
	if err != nil || v != "default" {
		t.Fatal(v, err)
	}
	if st := c.Stats(); st.Fallbacks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInvalidateDuringFetchDoesNotStore(t *testing.T) {
	src := newScript()
	src.set("a", "old")
	block := make(chan struct{})
	src.block = block
	c, _ := newCache(t, src)
	done := make(chan string)
	go func() { done <- mustString(t, c, "a") }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Invalidate("a")
	src.set("a", "new")
	close(block)
	<-done
	if got := mustString(t, c, "a"); got != "new" {
		t.Fatalf("fetch begun before Invalidate stored %q", got)
	}
}

func TestInvalidateAndClear(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	src.setStage("a", "AWSPENDING", "p")
	src.set("b", "v")
	c, _ := newCache(t, src)
	mustString(t, c, "a")
	mustString(t, c, "a", secretcache.WithVersionStage("AWSPENDING"))
	mustString(t, c, "b")
	c.Invalidate("a")
	if st := c.Stats(); st.Entries != 1 {
		t.Fatalf("Invalidate left %d entries", st.Entries)
	}
	c.Invalidate("")
	c.Invalidate(strings.Repeat("z", 5000))
	c.Clear()
	if st := c.Stats(); st.Entries != 0 {
		t.Fatal("Clear left entries")
	}
}

func TestClose(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	c, _ := newCache(t, src)
	mustString(t, c, "a")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := c.GetString(ctx, "a"); return err }(),
		func() error { _, err := c.Refresh(ctx, "a"); return err }(),
		c.Warm(ctx, "a"),
	} {
		if !errors.Is(err, secretcache.ErrClosed) {
			t.Fatal(err)
		}
	}
}

func TestStatsAges(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	src.set("b", "v")
	c, clk := newCache(t, src, secretcache.WithTTL(time.Hour))
	mustString(t, c, "a")
	clk.Advance(30 * time.Second)
	mustString(t, c, "b")
	clk.Advance(10 * time.Second)
	st := c.Stats()
	if st.OldestAge != 40*time.Second || st.NewestAge != 10*time.Second || st.AverageAge != 25*time.Second {
		t.Fatalf("ages %v %v %v", st.OldestAge, st.NewestAge, st.AverageAge)
	}
}

func TestReadHook(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	var mu sync.Mutex
	var evs []secretcache.ReadEvent
	c, _ := newCache(t, src, secretcache.WithReadHook(func(_ context.Context, ev secretcache.ReadEvent) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	}))
	mustString(t, c, "a")
	mustString(t, c, "a")
	_, _ = c.GetString(ctx, "nope")
	_, _ = c.GetString(ctx, "nope2", secretcache.WithFallback("x"))
	want := []secretcache.Outcome{secretcache.OutcomeMiss, secretcache.OutcomeHit, secretcache.OutcomeError, secretcache.OutcomeFallback}
	if len(evs) != len(want) {
		t.Fatalf("%d events", len(evs))
	}
	for i, w := range want {
		if evs[i].Outcome != w {
			t.Errorf("event %d: %v, want %v", i, evs[i].Outcome, w)
		}
	}
	if evs[0].VersionID == "" || evs[0].Ref.ID != "a" || evs[0].Ref.VersionStage != "" {
		t.Fatalf("event %+v", evs[0])
	}
}

func TestCallbackPanicIsContained(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
	c.OnChange(func(secretcache.ChangeEvent) { panic("boom") })
	mustString(t, c, "a")
	src.set("a", "w")
	clk.Advance(55 * time.Second)
	mustString(t, c, "a")
	c.WaitIdle()
	if got := mustString(t, c, "a"); got != "w" {
		t.Fatal(got)
	}
}

func TestCloseDoesNotWaitForBackgroundFetch(t *testing.T) {
	src := newScript()
	src.set("a", "v")
	c, clk := newCache(t, src, secretcache.WithTTL(time.Minute))
	mustString(t, c, "a")
	src.mu.Lock()
	src.block = make(chan struct{}) // never released
	src.mu.Unlock()
	clk.Advance(55 * time.Second)
	mustString(t, c, "a") // starts a background refresh that hangs
	for src.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { _ = c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for a hanging background fetch")
	}
}

func TestHugeBackoffDoesNotOverflow(t *testing.T) {
	src := newScript()
	src.fail("a", secretcache.NewError(secretcache.ErrUnavailable, "a", nil))
	c, _ := newCache(t, src, secretcache.WithBackoff(time.Second, time.Duration(math.MaxInt64)))
	for range 80 {
		if _, err := c.Refresh(ctx, "a"); !errors.Is(err, secretcache.ErrUnavailable) {
			t.Fatal(err)
		}
	}
}
