package ssmtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/ssmtest"
)

// The fake with the real SDK client: versions, labels and selectors.
func Example() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.Put("", "/app/mode", ssmtest.TypeString, "blue")
	srv.Put("", "/app/mode", ssmtest.TypeString, "green")
	srv.Label("", "/app/mode", 1, "stable")

	c := srv.Client("")
	ctx := context.Background()
	for _, name := range []string{"/app/mode", "/app/mode:1", "/app/mode:stable"} {
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s %s %d %q\n", name, *out.Parameter.Value, out.Parameter.Version, aws.ToString(out.Parameter.Selector))
	}
	_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/none")})
	var nf *types.ParameterNotFound
	fmt.Println(errors.As(err, &nf))
	// Output:
	// /app/mode green 2 ""
	// /app/mode:1 blue 1 ":1"
	// /app/mode:stable blue 1 ":stable"
	// true
}

// Faults: the next two GetParameter calls are throttled; the SDK retries.
func ExampleServer_SetFault() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.Put("", "/x", ssmtest.TypeString, "v")
	srv.SetFault("", "GetParameter", ssmtest.Fault{ErrorCode: "ThrottlingException", Count: 2})
	out, err := srv.Client("").GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/x")})
	fmt.Println(*out.Parameter.Value, err, srv.Calls("", "GetParameter"))
	srv.ClearFaults()
	srv.ResetCalls()
	fmt.Println(srv.Calls("", ""))
	// Output:
	// v <nil> 3
	// 0
}

// A JSON file of parameters, as agent --dev --dev-parameters loads it.
func ExampleServer_LoadJSON() {
	srv := ssmtest.NewServer()
	defer srv.Close()
	err := srv.LoadJSON("", []byte(`{"/a": "one", "/b": {"type": "SecureString", "value": "two"}}`))
	fmt.Println(srv.Names(""), err)
	fmt.Println(srv.LoadJSON("", []byte(`{"/c": 3}`)))
	fmt.Println(srv.Delete("", "/a"), srv.Names(""))
	// Output:
	// [/a /b] <nil>
	// ssmtest: parameter "/c": want a string or {"type": ..., "value": ...}
	// true [/b]
}

// /aws/reference/secretsmanager/ID names read a linked smtest server.
func ExampleWithSecretsManager() {
	sm := smtest.NewServer()
	defer sm.Close()
	sm.CreateSecret("", "prod/db", "pw")
	srv := ssmtest.NewServer(ssmtest.WithSecretsManager(sm), ssmtest.WithDefaultRegion("us-east-1"))
	defer srv.Close()
	out, err := srv.Client("").GetParameter(context.Background(), &ssm.GetParameterInput{
		Name: aws.String("/aws/reference/secretsmanager/prod/db"), WithDecryption: aws.Bool(true)})
	fmt.Println(*out.Parameter.Name, *out.Parameter.Value, out.Parameter.Type, err)
	// Output: /aws/reference/secretsmanager/prod/db pw SecureString <nil>
}
