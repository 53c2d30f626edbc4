package rotate_test

import (
	"context"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/rotate"
	"github.com/secretcache/secretcache/smtest"
)

// Secrets Manager's own RotateSecret (smtest's built-in rotation) through
// awssm and the real SDK: the resource follows every rotation, found by the
// poll of the cache alone.
func TestFollowsSecretsManagerRotations(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	const id = "prod/api-key/payments"
	if _, err := srv.CreateSecret("", id, "key-0"); err != nil {
		t.Fatal(err)
	}
	src, err := awssm.New(srv.AWSConfig(""), awssm.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t, src, secretcache.WithTTL(100*time.Millisecond))
	rec := &recorder{}
	r, err := rotate.New(c, id, rec.spec(), rotate.WithPollInterval(10*time.Millisecond),
		rotate.WithDrain(10*time.Millisecond), rotate.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 5 {
		v, err := srv.Rotate(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := srv.Value("", id, "AWSCURRENT")
		eventually(t, "rotation", func() bool { return r.Get().value == want && r.Get().version == v })
		if h := r.Health(); h.VersionID != v || h.Rotations != uint64(i+1) || h.Status != rotate.StatusHealthy {
			t.Fatalf("%+v", h)
		}
	}
}
