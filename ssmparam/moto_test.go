package ssmparam_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/mototest"
	"github.com/secretcache/secretcache/ssmparam"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// The source against moto 5.2.1's Parameter Store over real HTTP: single
// reads with selectors, a batch whose answer (moto's) carries no Selector,
// not-found in the batch, the by-path listing, and a Secrets Manager
// reference (moto names its answer by the secret's name).
func TestMoto(t *testing.T) {
	u := mototest.URL(t)
	resp, err := http.Post(u+"/moto-api/reset", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(u),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}
	ctx := context.Background()
	c := ssm.NewFromConfig(cfg)
	for _, v := range []string{"m1", "m2"} {
		if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/m/a"), Value: aws.String(v),
			Type: types.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/m/a"),
		ParameterVersion: aws.Int64(1), Labels: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("msecret"), SecretString: aws.String("sv")}); err != nil {
		t.Fatal(err)
	}
	src, err := ssmparam.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"/m/a": "m2", "/m/a:1": "m1", "/m/a:old": "m1",
		ssmparam.ReferencePrefix + "msecret": "sv"} {
		s, err := src.Fetch(ctx, secretcache.Ref{ID: id})
		if err != nil || s.String != want {
			t.Fatalf("%s: %v %v", id, s, err)
		}
	}
	res := src.FetchBatch(ctx, []secretcache.Ref{{ID: "/m/a"}, {ID: "/m/a", VersionID: "1"}, {ID: "/m/none"}})
	if res[0].Err != nil || res[0].Secret.String != "m2" || res[1].Err != nil || res[1].Secret.String != "m1" {
		t.Fatalf("batch: %+v", res)
	}
	wantKind(t, res[2].Err, secretcache.ErrNotFound)
	names, err := src.ListNames(ctx, "/m")
	if err != nil || len(names) != 1 || names[0] != "/m/a" {
		t.Fatal(names, err)
	}
}
