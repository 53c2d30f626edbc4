package quick

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
)

var (
	cur atomic.Pointer[secretcache.Cache]
	mu  sync.Mutex // serializes the first-use setup and SetDefault
)

// TTLVariable is the environment variable of the default cache's TTL.
const TTLVariable = "SECRETCACHE_TTL"

// Default returns the default cache, making it on first use from the
// environment. A failed setup (no region, a bad SECRETCACHE_TTL) returns
// an error and is tried again on the next call.
func Default(ctx context.Context) (*secretcache.Cache, error) {
	if c := cur.Load(); c != nil {
		return c, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if c := cur.Load(); c != nil {
		return c, nil
	}
	c, err := fromEnv(ctx)
	if err != nil {
		return nil, err
	}
	cur.Store(c)
	return c, nil
}

func fromEnv(ctx context.Context) (*secretcache.Cache, error) {
	ttl := 5 * time.Minute
	if v, ok := os.LookupEnv(TTLVariable); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("quick: %s=%q: want a positive duration such as 30s or 5m", TTLVariable, clip(v))
		}
		ttl = d
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("quick: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("quick: no AWS region: set AWS_REGION (or a profile's region), or call SetDefault")
	}
	src, err := awssm.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("quick: %w", err)
	}
	return secretcache.New(src, secretcache.WithTTL(ttl))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// SetDefault makes c the default cache and returns the one it replaces
// (nil if none was made yet), which the caller may close. SetDefault(nil)
// drops the default: the next call makes one from the environment again.
func SetDefault(c *secretcache.Cache) (previous *secretcache.Cache) {
	mu.Lock()
	defer mu.Unlock()
	return cur.Swap(c)
}

// GetString returns the value of secret id (a name or an ARN) from the
// default cache: Cache.GetString.
func GetString(ctx context.Context, id string) (string, error) {
	c, err := Default(ctx)
	if err != nil {
		return "", err
	}
	return c.GetString(ctx, id)
}

// GetField returns one top-level key of a JSON secret from the default
// cache: Cache.GetField.
func GetField(ctx context.Context, id, key string) (string, error) {
	c, err := Default(ctx)
	if err != nil {
		return "", err
	}
	return c.GetField(ctx, id, key)
}

// GetJSON decodes a JSON secret into a T from the default cache:
// secretcache.GetJSON.
func GetJSON[T any](ctx context.Context, id string) (T, error) {
	c, err := Default(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return secretcache.GetJSON[T](ctx, c, id)
}
