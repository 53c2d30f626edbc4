package fleet_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/fleet"
	"github.com/secretcache/secretcache/smtest"
)

// A host of a fleet: its cache reads through the shared Redis L2, which
// reads Secrets Manager (here smtest) once for the whole fleet.
func ExampleNew() {
	sm := smtest.NewServer()
	defer sm.Close()
	_, _ = sm.CreateSecret("", "db/password", "hunter2")
	_, _ = sm.CreateSecret("", "fleet/key", `{"current":"k1","keys":{"k1":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`)

	aws, err := awssm.New(sm.AWSConfig(""))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	kr, err := fleet.KeyringFromSecret(ctx, aws, "fleet/key")
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewUniversalClient(fleet.ClientOptions("127.0.0.1:1")) // your Redis; none here: reads fall back to AWS
	defer rdb.Close()
	src, err := fleet.New(rdb, aws, kr, fleet.WithGroup("payments-prod"))
	if err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(src)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	v, err := cache.GetString(ctx, "db/password")
	fmt.Println(v == "hunter2", err, src.Stats().Fallbacks > 0)
	// Output: true <nil> true
}

func ExampleParseKeyring() {
	kr, err := fleet.ParseKeyring([]byte(`{"current":"k2","keys":{
		"k1":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"k2":"ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="}}`))
	fmt.Println(kr.Current(), kr.IDs(), err)
	_, err = fleet.ParseKeyring([]byte(`{"current":"k1","keys":{"k1":"c2hvcnQ="}}`))
	fmt.Println(err)
	// Output:
	// k2 [k1 k2] <nil>
	// fleet: key "k1" is 5 bytes, want 32
}

func ExampleKeyringFromFile() {
	dir, _ := os.MkdirTemp("", "fleet-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fleet.key")
	doc := `{"current":"k1","keys":{"k1":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`
	_ = os.WriteFile(path, []byte(doc), 0o600)
	kr, err := fleet.KeyringFromFile(path)
	fmt.Println(kr.Current(), err)
	_ = os.Chmod(path, 0o666)
	_, err = fleet.KeyringFromFile(path)
	fmt.Println(err != nil)
	// Output:
	// k1 <nil>
	// true
}

// Notify marks the secret's entries old on this host and tells the fleet;
// with Redis unreachable it returns an error, this host invalidated anyway.
func ExampleSource_Notify() {
	kr, _ := fleet.ParseKeyring([]byte(`{"current":"k1","keys":{"k1":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`))
	rdb := redis.NewUniversalClient(fleet.ClientOptions("127.0.0.1:1"))
	defer rdb.Close()
	src, _ := fleet.New(rdb, secretcache.SourceFunc(func(context.Context, secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: "db/password", String: "x"}, nil
	}), kr, fleet.WithLogger(quiet()))
	fmt.Println(src.Notify(context.Background(), "db/password") != nil)
	fmt.Println(src.Notify(context.Background(), ""))
	// Output:
	// true
	// empty secret id
}
