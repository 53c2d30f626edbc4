package quick_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/quick"
	"github.com/secretcache/secretcache/smtest"
)

// awsEnv points the AWS SDK's chain at srv and nowhere else.
func awsEnv(t *testing.T, srv *smtest.Server, region string) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_REGION": region, "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_ACCESS_KEY_ID": "AKIDQUICK", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL, "AWS_ENDPOINT_URL": "",
		quick.TTLVariable: "",
	} {
		t.Setenv(k, v)
	}
}

// The default cache is made from the environment on first use, once.
func TestDefaultFromEnvironment(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("", "prod/db", `{"user":"app","password":"pw-quick","port":5432}`)
	srv.CreateSecret("", "prod/key", "k-quick")
	awsEnv(t, srv, "us-east-1")
	t.Setenv(quick.TTLVariable, "1m")
	defer quick.SetDefault(nil)
	quick.SetDefault(nil)
	ctx := context.Background()
	if v, err := quick.GetString(ctx, "prod/key"); err != nil || v != "k-quick" {
		t.Fatalf("GetString = %q, %v", v, err)
	}
	if v, err := quick.GetField(ctx, "prod/db", "password"); err != nil || v != "pw-quick" {
		t.Errorf("GetField = %q, %v", v, err)
	}
	type db struct {
		User string `json:"user"`
		Port int    `json:"port"`
	}
	if v, err := quick.GetJSON[db](ctx, "prod/db"); err != nil || v.User != "app" || v.Port != 5432 {
		t.Errorf("GetJSON = %+v, %v", v, err)
	}
	c1, _ := quick.Default(ctx)
	c2, _ := quick.Default(ctx)
	if c1 != c2 {
		t.Error("two default caches")
	}
	before := srv.Calls("", "GetSecretValue") + srv.Calls("", "BatchGetSecretValue")
	for range 100 {
		quick.GetString(ctx, "prod/key")
	}
	if after := srv.Calls("", "GetSecretValue") + srv.Calls("", "BatchGetSecretValue"); after != before {
		t.Errorf("cached reads called AWS %d times", after-before)
	}
	_, err := quick.GetString(ctx, "prod/nope")
	if !errors.Is(err, secretcache.ErrNotFound) {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := quick.GetField(ctx, "prod/key", "x"); !errors.Is(err, secretcache.ErrNotJSON) || strings.Contains(err.Error(), "k-quick") {
		t.Errorf("field of a plain secret: %v", err)
	}
	// Hostile ids and keys: the cache's own checks, as errors.
	for _, id := range []string{"", "a b", strings.Repeat("x", 5000), "bad\x00id"} {
		if _, err := quick.GetString(ctx, id); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("GetString(%.20q): %v; want ErrInvalidRequest", id, err)
		}
	}
	if _, err := quick.GetField(ctx, "prod/db", ""); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Errorf("empty key: %v", err)
	}
	if prev := quick.SetDefault(nil); prev != c1 {
		t.Error("SetDefault did not return the default it replaced")
	} else {
		prev.Close()
	}
}

func TestBadEnvironment(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	defer quick.SetDefault(nil)
	quick.SetDefault(nil)
	awsEnv(t, srv, "us-east-1")
	for _, bad := range []string{"soon", "-1s", "0"} {
		t.Setenv(quick.TTLVariable, bad)
		if _, err := quick.GetString(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "quick: SECRETCACHE_TTL=") {
			t.Errorf("TTL %q: %v", bad, err)
		}
	}
	t.Setenv(quick.TTLVariable, "")
	awsEnv(t, srv, "")
	if _, err := quick.GetField(context.Background(), "x", "k"); err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("no region: %v", err)
	}
	// A failed setup is tried again once the environment is fixed.
	srv.CreateSecret("", "x", "v")
	awsEnv(t, srv, "us-east-1")
	if v, err := quick.GetString(context.Background(), "x"); err != nil || v != "v" {
		t.Errorf("after fixing the environment: %q, %v", v, err)
	}
}
