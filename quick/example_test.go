package quick_test

import (
	"context"
	"fmt"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/quick"
	"github.com/secretcache/secretcache/smtest"
)

// useFake makes the default cache one over the smtest fake (a real
// program needs nothing: the default comes from the environment).
func useFake() func() {
	srv := smtest.NewServer()
	_, _ = srv.CreateSecret("", "prod/db", `{"username":"app","password":"hunter2","port":5432}`)
	_, _ = srv.CreateSecret("", "prod/api-key", "k-123")
	src, _ := awssm.New(srv.AWSConfig(""))
	c, _ := secretcache.New(src)
	quick.SetDefault(c)
	return func() { quick.SetDefault(nil); c.Close(); srv.Close() }
}

func ExampleGetString() {
	defer useFake()()
	key, err := quick.GetString(context.Background(), "prod/api-key")
	fmt.Println(key, err)
	// Output: k-123 <nil>
}

func ExampleGetField() {
	defer useFake()()
	pw, _ := quick.GetField(context.Background(), "prod/db", "password")
	fmt.Println(pw)
	// Output: hunter2
}

func ExampleGetJSON() {
	defer useFake()()
	type DB struct {
		Username string `json:"username"`
		Port     int    `json:"port"`
	}
	db, _ := quick.GetJSON[DB](context.Background(), "prod/db")
	fmt.Println(db.Username, db.Port)
	// Output: app 5432
}

// SetDefault replaces the default cache, here with one over a function.
func ExampleSetDefault() {
	c, _ := secretcache.New(secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: "value-of-" + ref.ID}, nil
	}))
	defer c.Close()
	previous := quick.SetDefault(c)
	defer quick.SetDefault(previous)
	v, _ := quick.GetString(context.Background(), "anything")
	fmt.Println(v)
	// Output: value-of-anything
}

func ExampleDefault() {
	defer useFake()()
	c, _ := quick.Default(context.Background())
	v, _ := c.GetString(context.Background(), "prod/api-key", secretcache.WithVersionStage("AWSCURRENT"))
	fmt.Println(v)
	// Output: k-123
}
