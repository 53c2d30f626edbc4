package awssm_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// The usual setup: a cache in front of Secrets Manager in two regions. Here
// the fake server smtest stands in for AWS; in production the aws.Config
// comes from config.LoadDefaultConfig.
func Example() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("us-east-1", "prod/db", `{"user":"app","password":"hunter2"}`)
	srv.Replicate("prod/db", "us-east-1", "us-west-2")

	src, err := awssm.New(srv.AWSConfig("us-east-1"), awssm.WithRegions("us-east-1", "us-west-2"))
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
	user, err := cache.GetField(context.Background(), "prod/db", "user")
	fmt.Println(user, err)
	// Output: app <nil>
}

func ExampleNew() {
	srv := smtest.NewServer()
	defer srv.Close()
	src, err := awssm.New(srv.AWSConfig("eu-west-1"),
		awssm.WithRegions("eu-west-1", "eu-central-1"), // primary, then replicas in order
		awssm.WithMaxAttempts(3),                       // per region, by the SDK's retryer
		awssm.WithAttemptTimeout(time.Second),          // each HTTP attempt
		awssm.WithTimeout(5*time.Second),               // the whole call, all regions
		awssm.WithBackoff(50*time.Millisecond, time.Second),
		awssm.WithAdaptiveRetry(),            // client-side rate limiting after throttling
		awssm.WithBreaker(5, 30*time.Second), // open after 5 transient failures, for 30 s
		awssm.WithLogger(slog.Default()),     // breaker changes, batch fallback
		awssm.WithoutBatch(),                 // GetSecretValue only
	)
	fmt.Println(src.Regions(), err)

	_, err = awssm.New(srv.AWSConfig("eu-west-1"), awssm.WithRegions("EU WEST"))
	fmt.Println(err)
	// Output:
	// [eu-west-1 eu-central-1] <nil>
	// awssm: invalid region name "EU WEST"
}

func ExampleSource_Fetch() {
	srv := smtest.NewServer()
	defer srv.Close()
	arn, _ := srv.CreateSecret("", "app/token", "v1")
	srv.PutSecretValue("", "app/token", "v2")
	src, _ := awssm.New(srv.AWSConfig(""))
	ctx := context.Background()

	cur, _ := src.Fetch(ctx, secretcache.Ref{ID: "app/token"})
	prev, _ := src.Fetch(ctx, secretcache.Ref{ID: arn, VersionStage: "AWSPREVIOUS"})
	fmt.Println(cur.String, prev.String)

	_, err := src.Fetch(ctx, secretcache.Ref{ID: "app/missing"})
	var apiErr smithy.APIError
	fmt.Println(errors.Is(err, secretcache.ErrNotFound), errors.As(err, &apiErr), apiErr.ErrorCode())

	_, err = src.Fetch(ctx, secretcache.Ref{ID: ""})
	fmt.Println(errors.Is(err, secretcache.ErrInvalidRequest))
	// Output:
	// v2 v1
	// true true ResourceNotFoundException
	// true
}

func ExampleSource_FetchBatch() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("", "a", "1")
	arnB, _ := srv.CreateSecret("", "b", "2")
	src, _ := awssm.New(srv.AWSConfig(""))

	res := src.FetchBatch(context.Background(), []secretcache.Ref{{ID: "a"}, {ID: arnB}, {ID: "c"}})
	for _, r := range res {
		if r.Err != nil {
			fmt.Println(secretcache.KindName(r.Err))
			continue
		}
		fmt.Println(r.Secret.Name, r.Secret.String)
	}
	fmt.Println(srv.Calls("", "BatchGetSecretValue"), "call")
	// Output:
	// a 1
	// b 2
	// not_found
	// 1 call
}

func ExampleSource_ListNames() {
	srv := smtest.NewServer()
	defer srv.Close()
	for _, n := range []string{"prod/b", "prod/a", "dev/a"} {
		srv.CreateSecret("", n, "x")
	}
	src, _ := awssm.New(srv.AWSConfig(""))
	names, err := src.ListNames(context.Background(), "prod/")
	fmt.Println(names, err)
	_, err = src.ListNames(context.Background(), "!prod")
	fmt.Println(secretcache.KindName(err))
	// Output:
	// [prod/a prod/b] <nil>
	// invalid_request
}

// A dead primary region: the caller is served by the replica, and once the
// breaker opens the primary is skipped without waiting.
func ExampleSource_Breakers() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("us-east-1", "db", "pw")
	srv.Replicate("db", "us-east-1", "us-west-2")
	srv.SetFault("us-east-1", "", smtest.Fault{ErrorCode: "InternalServiceError"})

	src, _ := awssm.New(srv.AWSConfig("us-east-1"), awssm.WithRegions("us-east-1", "us-west-2"),
		awssm.WithMaxAttempts(1), awssm.WithBreaker(1, time.Minute),
		awssm.WithLogger(slog.New(slog.DiscardHandler)))
	s, err := src.Fetch(context.Background(), secretcache.Ref{ID: "db"})
	fmt.Println(s.String, err)
	for _, b := range src.Breakers() {
		fmt.Println(b.Name, b.Primary, b.State, b.LastErrorKind)
	}
	// Output:
	// pw <nil>
	// us-east-1 true open unavailable
	// us-west-2 false closed
}

// Each region can have its own endpoint: a VPC endpoint, or a fake server
// per region in tests.
func ExampleWithRegionEndpoint() {
	east, west := smtest.NewServer(), smtest.NewServer()
	defer east.Close()
	defer west.Close()
	west.CreateSecret("us-west-2", "db", "from-west")
	src, _ := awssm.New(east.AWSConfig("us-east-1"),
		awssm.WithRegions("us-east-1", "us-west-2"),
		awssm.WithRegionEndpoint("us-east-1", east.URL),
		awssm.WithRegionEndpoint("us-west-2", west.URL))
	east.Close() // the primary goes away
	s, err := src.Fetch(context.Background(), secretcache.Ref{ID: "db"})
	fmt.Println(s.String, err)
	// Output: from-west <nil>
}

func ExampleWithCallObserver() {
	srv := smtest.NewServer()
	defer srv.Close()
	srv.CreateSecret("", "db", "pw")
	src, _ := awssm.New(srv.AWSConfig(""), awssm.WithCallObserver(func(op, region string, d time.Duration, err error) {
		if err != nil {
			fmt.Println(op, region, secretcache.KindName(err))
			return
		}
		fmt.Println(op, region, "ok")
	}))
	src.Fetch(context.Background(), secretcache.Ref{ID: "db"})
	src.Fetch(context.Background(), secretcache.Ref{ID: "nope"})
	// Output:
	// GetSecretValue us-east-1 ok
	// GetSecretValue us-east-1 not_found
}
