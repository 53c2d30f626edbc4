package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
)

// A refresh that fails sends nothing (the program keeps the last values)
// and is logged once, without values; once reads work again the new value
// is sent.
func TestFollowKeepsLastValuesOnFailure(t *testing.T) {
	var mu sync.Mutex
	val, fail := "value-one", false
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, secretcache.NewError(secretcache.ErrUnavailable, ref.ID, errors.New("backend down"))
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: val, String: val}, nil
	})
	cache, err := secretcache.New(src, secretcache.WithTTL(time.Second), secretcache.WithMaxStale(0),
		secretcache.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan []string)
	go follow(ctx, cache, []envSpec{{name: "A", id: "s"}}, []string{"BASE=1"}, time.Second, time.Second, out, slog.New(slog.NewTextHandler(&logs, nil)))
	var (
		gotMu sync.Mutex
		got   [][]string
	)
	go func() {
		for env := range out {
			gotMu.Lock()
			got = append(got, env)
			gotMu.Unlock()
		}
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s; log:\n%s", what, logs.String())
			}
		}
	}
	last := func() []string {
		gotMu.Lock()
		defer gotMu.Unlock()
		if len(got) == 0 {
			return nil
		}
		return got[len(got)-1]
	}
	waitFor("first environment", func() bool { return slices.Equal(last(), []string{"BASE=1", "A=value-one"}) })
	mu.Lock()
	fail = true
	mu.Unlock()
	waitFor("failure logged", func() bool { return strings.Contains(logs.String(), "cannot read the secrets again") })
	gotMu.Lock()
	n := len(got)
	gotMu.Unlock()
	time.Sleep(300 * time.Millisecond)
	gotMu.Lock()
	if len(got) != n {
		t.Errorf("environments sent while reads fail: %v", got[n:])
	}
	gotMu.Unlock()
	if c := strings.Count(logs.String(), "cannot read the secrets again"); c != 1 {
		t.Errorf("the failure logged %d times; want once", c)
	}
	mu.Lock()
	fail, val = false, "value-two"
	mu.Unlock()
	waitFor("new environment", func() bool { return slices.Equal(last(), []string{"BASE=1", "A=value-two"}) })
	if !strings.Contains(logs.String(), "can be read again") || strings.Contains(logs.String(), "value-") {
		t.Errorf("log:\n%s", logs.String())
	}
}
