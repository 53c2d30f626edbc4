package ssmparam_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/ssmparam"
	"github.com/secretcache/secretcache/ssmtest"
)

// A cache in front of Parameter Store. Here the fake ssmtest stands in for
// AWS; in production the aws.Config comes from config.LoadDefaultConfig.
func Example() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.Put("", "/app/db/url", ssmtest.TypeString, "postgres://db.test/app")
	srv.Put("", "/app/db/password", ssmtest.TypeSecureString, "hunter2")

	src, err := ssmparam.New(srv.AWSConfig(""))
	if err != nil {
		fmt.Println(err)
		return
	}
	cache, err := secretcache.New(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()
	url, err := cache.GetString(context.Background(), "/app/db/url")
	fmt.Println(url, err)
	// Output: postgres://db.test/app <nil>
}

// One cache for parameters and secrets: Secrets Manager secrets read
// through /aws/reference/secretsmanager/ID.
func Example_secretsAndParameters() {
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("", "prod/db", `{"user":"app","password":"hunter2"}`)
	srv := ssmtest.NewServer(ssmtest.WithSecretsManager(sm))
	defer srv.Close()
	srv.Put("", "/app/mode", ssmtest.TypeString, "blue")

	src, _ := ssmparam.New(srv.AWSConfig(""))
	cache, _ := secretcache.New(src)
	defer cache.Close()
	ctx := context.Background()
	mode, _ := cache.GetString(ctx, "/app/mode")
	user, err := cache.GetField(ctx, ssmparam.ReferencePrefix+"prod/db", "user")
	fmt.Println(mode, user, err)
	// Output: blue app <nil>
}

func ExampleNew() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	src, err := ssmparam.New(srv.AWSConfig("eu-west-1"),
		ssmparam.WithRegions("eu-west-1", "eu-central-1"), // primary, then the others in order
		ssmparam.WithMaxAttempts(3),                       // per region, by the SDK's retryer
		ssmparam.WithAttemptTimeout(time.Second),          // each HTTP attempt
		ssmparam.WithTimeout(5*time.Second),               // the whole call, all regions
		ssmparam.WithBackoff(50*time.Millisecond, time.Second),
		ssmparam.WithAdaptiveRetry(),            // client-side rate limiting after throttling
		ssmparam.WithBreaker(5, 30*time.Second), // open after 5 transient failures, for 30 s
		ssmparam.WithLogger(slog.Default()),     // breaker changes
		ssmparam.WithCallObserver(func(op, region string, d time.Duration, err error) {}),
		ssmparam.WithRegionEndpoint("eu-central-1", srv.URL),
	)
	fmt.Println(src.Regions(), err)
	_, err = ssmparam.New(srv.AWSConfig("eu-west-1"), ssmparam.WithRegions("EU WEST"))
	fmt.Println(err)
	// Output:
	// [eu-west-1 eu-central-1] <nil>
	// ssmparam: invalid region name "EU WEST"
}

// Versions and labels: in the id, as Parameter Store's selector, or in the
// read's options.
func ExampleSource_Fetch() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.Put("", "/app/flag", ssmtest.TypeString, "off")
	srv.Put("", "/app/flag", ssmtest.TypeString, "on")
	srv.Label("", "/app/flag", 1, "stable")
	src, _ := ssmparam.New(srv.AWSConfig(""))
	ctx := context.Background()
	for _, ref := range []secretcache.Ref{
		{ID: "/app/flag"},
		{ID: "/app/flag:1"},
		{ID: "/app/flag", VersionStage: "stable"},
	} {
		s, err := src.Fetch(ctx, ref)
		typ, _ := ssmparam.TypeOf(s.VersionStages)
		fmt.Println(ref, s.VersionID, s.String, typ, err)
	}
	_, err := src.Fetch(ctx, secretcache.Ref{ID: "/app/none"})
	fmt.Println(errors.Is(err, secretcache.ErrNotFound))
	_, err = src.Fetch(ctx, secretcache.Ref{ID: "/app/flag:ssmx"})
	fmt.Println(err)
	// Output:
	// /app/flag 2 on String <nil>
	// /app/flag:1 1 off String <nil>
	// /app/flag@stable 1 off String <nil>
	// true
	// secretcache: fetch "/app/flag:ssmx": invalid request: label must not begin with aws or ssm
}

// A batch: one GetParameters call, a missing name not found on its own.
func ExampleSource_FetchBatch() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.Put("", "/a", ssmtest.TypeString, "1")
	srv.Put("", "/b", ssmtest.TypeStringList, "x,y")
	src, _ := ssmparam.New(srv.AWSConfig(""))
	for _, r := range src.FetchBatch(context.Background(), []secretcache.Ref{{ID: "/a"}, {ID: "/missing"}, {ID: "/b"}}) {
		if r.Err != nil {
			fmt.Println(secretcache.KindName(r.Err))
			continue
		}
		fmt.Println(r.Secret.Name, r.Secret.String)
	}
	fmt.Println(srv.Calls("", "GetParameters"), "call")
	// Output:
	// /a 1
	// not_found
	// /b x,y
	// 1 call
}

// Warm-up by path.
func ExampleSource_ListNames() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	for _, n := range []string{"/svc/a", "/svc/deep/b", "/other/c"} {
		srv.Put("", n, ssmtest.TypeString, "v")
	}
	src, _ := ssmparam.New(srv.AWSConfig(""))
	names, err := src.ListNames(context.Background(), "/svc")
	fmt.Println(names, err)
	cache, _ := secretcache.New(src)
	defer cache.Close()
	fmt.Println(cache.Warm(context.Background(), names...), cache.Stats().Entries)
	_, err = src.ListNames(context.Background(), "svc")
	fmt.Println(err)
	// Output:
	// [/svc/a /svc/deep/b] <nil>
	// <nil> 2
	// secretcache: list "svc": invalid request: parameter path must begin with /
}

func ExampleWithoutDecryption() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.Put("", "/pw", ssmtest.TypeSecureString, "hunter2")
	src, _ := ssmparam.New(srv.AWSConfig(""), ssmparam.WithoutDecryption())
	s, err := src.Fetch(context.Background(), secretcache.Ref{ID: "/pw"})
	fmt.Println(s.String != "hunter2", src.Decrypts(), err)
	// Output: true false <nil>
}

func ExampleSource_Breakers() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	src, _ := ssmparam.New(srv.AWSConfig(""))
	for _, b := range src.Breakers() {
		fmt.Println(b.Name, b.Primary, b.State)
	}
	fmt.Println(src.Describe().MaxBatch)
	// Output:
	// us-east-1 true closed
	// 10
}

func ExampleNameOf() {
	fmt.Println(ssmparam.NameOf("/app/db:3"))
	fmt.Println(ssmparam.NameOf("arn:aws:ssm:us-east-1:123456789012:parameter/app/db:stable"))
	fmt.Println(ssmparam.CheckName("/app/db:3"), ssmparam.CheckName("/app db") != nil)
	fmt.Println(ssmparam.CheckPath("/app"), ssmparam.CheckPath("app") != nil)
	// Output:
	// /app/db
	// /app/db
	// <nil> true
	// <nil> true
}

func ExampleTypeOf() {
	fmt.Println(ssmparam.TypeOf([]string{"stable", ssmparam.TypeStagePrefix + "SecureString", ssmparam.DataTypeStagePrefix + "text"}))
	// Output: SecureString text
}

// SelectorOf gives the selector an id carries, as Parameter Store shows it.
func ExampleSelectorOf() {
	fmt.Printf("%q %q %q\n", ssmparam.SelectorOf("/app/flag:3"), ssmparam.SelectorOf("/app/flag:stable"), ssmparam.SelectorOf("/app/flag"))
	// Output: ":3" ":stable" ""
}
