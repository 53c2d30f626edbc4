package smtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache/smtest"
)

func ExampleNewServer() {
	srv := smtest.NewServer()
	defer srv.Close()

	if _, err := srv.CreateSecret("", "db/password", "hunter2"); err != nil {
		panic(err)
	}

	// A real aws-sdk-go-v2 client, talking HTTP to the fake.
	client := srv.Client("")
	out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String("db/password"),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(*out.SecretString, out.VersionStages)
	fmt.Println(srv.Calls("", "GetSecretValue"))
	// Output:
	// hunter2 [AWSCURRENT]
	// 1
}

func ExampleServer_SetFault() {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("us-west-2", "api/key", "k1"); err != nil {
		panic(err)
	}
	ctx := context.Background()
	client := secretsmanager.NewFromConfig(srv.AWSConfig("us-west-2"), func(o *secretsmanager.Options) {
		o.RetryMaxAttempts = 1 // show the fault instead of retrying it away
	})
	get := func() error {
		_, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("api/key")})
		return err
	}

	// Two throttled answers for GetSecretValue in us-west-2, then normal again.
	srv.SetFault("us-west-2", "GetSecretValue", smtest.Fault{ErrorCode: "ThrottlingException", Count: 2})
	for range 3 {
		var apiErr smithy.APIError
		if err := get(); errors.As(err, &apiErr) {
			fmt.Println(apiErr.ErrorCode())
		} else {
			fmt.Println("ok", err)
		}
	}

	// A request that hangs until the client gives up.
	srv.SetFault("us-west-2", "", smtest.Fault{Blackhole: true})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := client.GetSecretValue(short, &secretsmanager.GetSecretValueInput{SecretId: aws.String("api/key")})
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	srv.ClearFaults()
	// Output:
	// ThrottlingException
	// ThrottlingException
	// ok <nil>
	// true
}

func ExampleServer_SetRotationFunc() {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "db/creds", "old-password"); err != nil {
		panic(err)
	}
	srv.SetRotationFunc(func(ctx context.Context, step smtest.RotationStep) error {
		fmt.Println("step", step.Step)
		if step.Step == "createSecret" {
			_, err := srv.PutSecretValueWithToken(step.Region, step.SecretID, step.Token, "new-password", "AWSPENDING")
			return err
		}
		return nil
	})
	if _, err := srv.Rotate(context.Background(), "", "db/creds"); err != nil {
		panic(err)
	}
	cur, _ := srv.Value("", "db/creds", "AWSCURRENT")
	prev, _ := srv.Value("", "db/creds", "AWSPREVIOUS")
	fmt.Println(cur, prev)
	// Output:
	// step createSecret
	// step setSecret
	// step testSecret
	// step finishSecret
	// new-password old-password
}

func ExampleServer_OnChange() {
	srv := smtest.NewServer()
	defer srv.Close()
	remove := srv.OnChange(func(ev smtest.ChangeEvent) {
		fmt.Println(ev.Region, ev.Op, ev.Name, ev.Stages)
	})
	defer remove()
	_, _ = srv.CreateSecret("", "app/token", "t1")
	_, _ = srv.PutSecretValue("", "app/token", "t2")
	_ = srv.Replicate("app/token", "", "eu-west-1")
	// Output:
	// us-east-1 CreateSecret app/token [AWSCURRENT]
	// us-east-1 PutSecretValue app/token [AWSCURRENT]
	// eu-west-1 ReplicateSecretToRegions app/token [AWSCURRENT]
}

func ExampleServer_LoadJSON() {
	srv := smtest.NewServer()
	defer srv.Close()
	err := srv.LoadJSON("", []byte(`{
		"app/api-key": "dev-key",
		"app/db": {"username": "app", "password": "dev"}
	}`))
	if err != nil {
		panic(err)
	}
	v, _ := srv.Value("", "app/db", "")
	fmt.Println(v)
	// Output:
	// {"username":"app","password":"dev"}
}

// A Rewrite fault changes answers on their way out: here GetSecretValue
// answers lose their value, as no AWS answer would, to test that a client
// refuses them instead of serving "" as the secret.
func ExampleFault_rewrite() {
	srv := smtest.NewServer()
	defer srv.Close()
	if _, err := srv.CreateSecret("", "db/password", "hunter2"); err != nil {
		panic(err)
	}
	srv.SetFault("", "GetSecretValue", smtest.Fault{Rewrite: func(op string, answer map[string]any) {
		delete(answer, "SecretString")
		delete(answer, "SecretBinary")
	}})
	out, err := srv.Client("").GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String("db/password")})
	fmt.Println(err, aws.ToString(out.Name), out.SecretString == nil)
	// Output:
	// <nil> db/password true
}
