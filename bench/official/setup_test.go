package official_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awscache "github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// numSecrets is the size of the read set of every benchmark.
const numSecrets = 100

// contender is one cache under test: get reads the AWSCURRENT string value
// of a secret; warm loads a set of secrets the cache's own way; readerCalls
// counts the Secrets Manager calls made on a reader's path (a reader waited
// for each); done releases the cache.
type contender struct {
	name        string
	get         func(id string) (string, error)
	warm        func(ids []string) error
	readerCalls func() int
	done        func()
}

// fixture is the shared setup: one smtest server holding numSecrets
// secrets, and the aws.Config (endpoint, credentials, retryer) that every
// contender's SDK client is built from.
type fixture struct {
	srv *smtest.Server
	ids []string
	src *awssm.Source          // secretcache's AWS source
	sm  *secretsmanager.Client // the official client's SDK client
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	srv := smtest.NewServer()
	tb.Cleanup(srv.Close)
	f := &fixture{srv: srv, ids: make([]string, numSecrets)}
	for i := range f.ids {
		f.ids[i] = fmt.Sprintf("prod/app/secret-%03d", i)
		if _, err := srv.CreateSecret("", f.ids[i], fmt.Sprintf(`{"username":"app","password":"pw-%03d"}`, i)); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := srv.AWSConfig("")
	src, err := awssm.New(cfg, awssm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	f.src = src
	// The same aws.Config: BaseEndpoint (the SDK's endpoint option) points
	// at smtest, with the same credentials and retryer as awssm's client.
	f.sm = secretsmanager.NewFromConfig(cfg)
	return f
}

// wallClock makes secretcache read the exact time on its read path instead
// of its 100 ms coarse clock: needed for TTLs of a few hundred milliseconds.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// ours returns secretcache.Cache.GetString over the awssm source, with the
// library's defaults (TTL 5 min, refresh-ahead in the last 20 %) unless
// opts say otherwise.
func (f *fixture) ours(tb testing.TB, opts ...secretcache.Option) contender {
	tb.Helper()
	opts = append([]secretcache.Option{secretcache.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	c, err := secretcache.New(f.src, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	return contender{
		name: "secretcache",
		get:  func(id string) (string, error) { return c.GetString(ctx, id) },
		// Warm: one BatchGetSecretValue per 20 secrets, the library's
		// start-up path.
		warm: func(ids []string) error { return c.Warm(ctx, ids...) },
		// A miss (an expired entry included) is a reader waiting for
		// the source; refresh-ahead runs on the cache's own goroutine.
		readerCalls: func() int { return int(c.Stats().Misses) },
		done:        func() { c.Close() },
	}
}

// official returns the official client's GetSecretString with its
// CacheConfig defaults (MaxCacheSize 1024, VersionStage AWSCURRENT,
// CacheItemTTL 1 h, refreshed at a random point between half and all of
// it) and the fixture's SDK client; ttl > 0 replaces CacheItemTTL.
func (f *fixture) official(tb testing.TB, ttl time.Duration) contender {
	tb.Helper()
	c, err := awscache.New(func(c *awscache.Cache) {
		c.Client = f.sm
		if ttl > 0 {
			c.CacheItemTTL = int64(ttl)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return contender{
		name: "official",
		get:  c.GetSecretString,
		// No bulk load: the first read of each secret loads it.
		warm: func(ids []string) error { return readEach(c.GetSecretString, ids) },
		// The client has no goroutine of its own: every call it makes
		// is made by, and waited for by, a reader.
		readerCalls: func() int { return f.srv.Calls("", "") },
		done:        func() {},
	}
}

func readEach(get func(string) (string, error), ids []string) error {
	for _, id := range ids {
		if _, err := get(id); err != nil {
			return fmt.Errorf("warm %s: %w", id, err)
		}
	}
	return nil
}

// syncMap is the reference: a bare sync.Map load of the same keys, holding
// the same values.
func (f *fixture) syncMap(tb testing.TB) contender {
	tb.Helper()
	var m sync.Map
	for _, id := range f.ids {
		v, ok := f.srv.Value("", id, "")
		if !ok {
			tb.Fatalf("smtest has no value for %s", id)
		}
		m.Store(id, v)
	}
	get := func(id string) (string, error) {
		v, ok := m.Load(id)
		if !ok {
			return "", fmt.Errorf("syncmap: no %s", id)
		}
		return v.(string), nil
	}
	return contender{
		name:        "syncmap",
		get:         get,
		warm:        func(ids []string) error { return readEach(get, ids) },
		readerCalls: func() int { return 0 },
		done:        func() {},
	}
}

// warm loads every secret of the fixture, so that the timed reads are all
// hits.
func (f *fixture) warm(tb testing.TB, c contender) {
	tb.Helper()
	if err := c.warm(f.ids); err != nil {
		tb.Fatalf("%s: %v", c.name, err)
	}
}
