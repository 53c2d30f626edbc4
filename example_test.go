package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secretcache/secretcache"
)

// A source is anything that fetches one secret version; here a map.
func exampleSource() secretcache.Source {
	secrets := map[string]string{
		"prod/db":       `{"username":"app","password":"hunter2","port":5432}`,
		"prod/api-keys": "key-123",
	}
	return secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		v, ok := secrets[ref.ID]
		if !ok {
			return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: v}, nil
	})
}

func ExampleNew() {
	c, err := secretcache.New(exampleSource(),
		secretcache.WithTTL(5*time.Minute),
		secretcache.WithPolicy("*/api-keys*", 10*time.Minute),
		secretcache.WithMaxEntries(500))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	key, _ := c.GetString(context.Background(), "prod/api-keys")
	fmt.Println(key)
	// Output: key-123
}

func ExampleCache_GetString() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	ctx := context.Background()
	for range 3 {
		_, _ = c.GetString(ctx, "prod/api-keys")
	}
	st := c.Stats()
	fmt.Println(st.Misses, "miss,", st.Hits, "hits,", st.BackendCalls, "backend call")
	// Output: 1 miss, 2 hits, 1 backend call
}

func ExampleCache_GetField() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	user, _ := c.GetField(context.Background(), "prod/db", "username")
	port, _ := c.GetField(context.Background(), "prod/db", "port")
	fmt.Println(user, port)
	// Output: app 5432
}

func ExampleGetJSON() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	type dbCreds struct {
		Username string `json:"username"`
		Port     int    `json:"port"`
	}
	creds, err := secretcache.GetJSON[dbCreds](context.Background(), c, "prod/db")
	fmt.Println(creds.Username, creds.Port, err)
	// Output: app 5432 <nil>
}

func ExampleCache_Get() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	s, _ := c.Get(context.Background(), "prod/db")
	fmt.Println(s.VersionID)
	fmt.Println(s) // values are redacted whenever a Secret is printed
	// Output:
	// v1
	// secretcache.Secret{Name:"prod/db" ARN:"" VersionID:"v1" VersionStages:["AWSCURRENT"] String:[REDACTED]}
}

func ExampleCache_Get_errors() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	_, err := c.Get(context.Background(), "prod/missing")
	fmt.Println(errors.Is(err, secretcache.ErrNotFound), secretcache.IsPermanent(err))
	fmt.Println(err)
	// Output:
	// true true
	// secretcache: get "prod/missing": secret not found
}

func ExampleWithFallback() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	v, err := c.GetString(context.Background(), "prod/feature-flag", secretcache.WithFallback("off"))
	fmt.Println(v, err, c.Stats().Fallbacks)
	// Output: off <nil> 1
}

func ExampleCache_Warm() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	err := c.Warm(context.Background(), "prod/db", "prod/api-keys")
	fmt.Println(err, c.Stats().Entries)
	// Output: <nil> 2
}

func ExampleCache_Refresh() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	s, _ := c.Refresh(context.Background(), "prod/api-keys")
	fmt.Println(s.VersionID, c.Stats().RefreshesForced)
	// Output: v1 1
}

func ExampleCache_OnChange() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	remove := c.OnChange(func(ev secretcache.ChangeEvent) {
		fmt.Println("rotated:", ev.Ref.ID, ev.Old.VersionID, "->", ev.New.VersionID)
	})
	defer remove()
	fmt.Println("registered")
	// Output: registered
}

func ExampleCache_Invalidate() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	_, _ = c.GetString(context.Background(), "prod/db")
	c.Invalidate("prod/db")
	fmt.Println(c.Stats().Entries)
	c.Clear()
	// Output: 0
}

func ExampleWithReadHook() {
	c, _ := secretcache.New(exampleSource(), secretcache.WithReadHook(func(_ context.Context, ev secretcache.ReadEvent) {
		fmt.Println(ev.Ref.ID, ev.Outcome)
	}))
	defer c.Close()
	_, _ = c.GetString(context.Background(), "prod/db")
	_, _ = c.GetString(context.Background(), "prod/db")
	// Output:
	// prod/db miss
	// prod/db hit
}

func ExampleCache_GetBinary() {
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", Binary: []byte{0xde, 0xad}}, nil
	})
	c, _ := secretcache.New(src)
	defer c.Close()
	b, _ := c.GetBinary(context.Background(), "prod/tls-key")
	b[0] = 0 // the caller's own copy: the cache is unchanged
	again, _ := c.GetBinary(context.Background(), "prod/tls-key")
	_, err := c.GetString(context.Background(), "prod/tls-key")
	fmt.Printf("%x %v\n", again, errors.Is(err, secretcache.ErrWrongType))
	// Output: dead true
}

func ExampleCache_Stats() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	ctx := context.Background()
	_, _ = c.GetString(ctx, "prod/db")
	_, _ = c.GetString(ctx, "prod/db")
	_, _ = c.GetString(ctx, "prod/missing")
	st := c.Stats()
	fmt.Printf("reads %d, hit rate %.2f, backend calls %d, errors %v, entries %d\n",
		st.Reads(), st.HitRate, st.BackendCalls, st.BackendErrors, st.Entries)
	// Output: reads 3, hit rate 0.33, backend calls 2, errors map[not_found:1], entries 1
}

func ExampleCache_Entries() {
	c, _ := secretcache.New(exampleSource())
	defer c.Close()
	_, _ = c.GetString(context.Background(), "prod/db")
	for e := range c.Entries() { // metadata only, never values
		fmt.Println(e.Ref.ID, e.Metadata.VersionID, e.TTL)
	}
	// Output: prod/db v1 5m0s
}

func ExampleCache_Close() {
	c, _ := secretcache.New(exampleSource())
	_ = c.Close()
	_, err := c.GetString(context.Background(), "prod/db")
	_, rerr := c.Refresh(context.Background(), "prod/db")
	fmt.Println(errors.Is(err, secretcache.ErrClosed), errors.Is(rerr, secretcache.ErrClosed))
	// Output: true true
}
