package ssmtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache/internal/mototest"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/ssmtest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// script runs the same calls against one Parameter Store (ssmtest or moto)
// with the real SDK and returns what came back, one line per call, with
// what differs between any two stores by nature (ARN accounts, dates,
// ciphertexts) left out.
func script(t *testing.T, c *ssm.Client, sm *secretsmanager.Client) []string {
	ctx := context.Background()
	var out []string
	note := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		if err != nil {
			return "error"
		}
		return "ok"
	}
	put := func(name string, typ types.ParameterType, value string, overwrite bool) {
		o, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: typ, Value: aws.String(value), Overwrite: aws.Bool(overwrite)})
		v := int64(0)
		if err == nil {
			v = o.Version
		}
		note("put %s: %s %d", name, code(err), v)
	}
	show := func(p *types.Parameter) string {
		return fmt.Sprintf("%s %s v%d sel=%q value=%q dt=%s arn=%t", aws.ToString(p.Name), p.Type, p.Version,
			aws.ToString(p.Selector), aws.ToString(p.Value), aws.ToString(p.DataType), strings.HasPrefix(aws.ToString(p.ARN), "arn:aws:"))
	}
	get := func(name string, decrypt bool) {
		o, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(decrypt)})
		if err != nil {
			note("get %s: %s", name, code(err))
			return
		}
		if o.Parameter.Type == types.ParameterTypeSecureString && !decrypt {
			enc := aws.ToString(o.Parameter.Value) != "sv" && aws.ToString(o.Parameter.Value) != ""
			o.Parameter.Value = aws.String(fmt.Sprintf("<opaque %t>", enc))
		}
		note("get %s: %s", name, show(o.Parameter))
	}
	put("/d/a", types.ParameterTypeString, "va", false)
	put("/d/a", types.ParameterTypeString, "va2", true)
	put("/d/a", types.ParameterTypeString, "va3", false)
	put("/d/list", types.ParameterTypeStringList, "x,y", false)
	put("/d/sec", types.ParameterTypeSecureString, "sv", false)
	put("/d/sub/b", types.ParameterTypeString, "vb", false)
	put("/d/sub/deep/c", types.ParameterTypeString, "vc", false)
	put("/e/x", types.ParameterTypeString, "vx", false)
	put("top", types.ParameterTypeString, "vt", false)
	lo, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/d/a"), ParameterVersion: aws.Int64(1), Labels: []string{"lab1"}})
	if err == nil {
		note("label: ok v%d invalid=%v", lo.ParameterVersion, lo.InvalidLabels)
	} else {
		note("label: %s", code(err))
	}
	for _, n := range []string{"/d/a", "/d/a:1", "/d/a:2", "/d/a:lab1", "/d/a:7", "/d/a:nolabel", "/d/missing", "/d/list", "top"} {
		get(n, false)
	}
	get("/d/sec", true)
	get("/d/sec", false)
	gp, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/d/a", "/d/missing", "/d/a:1", "/d/sec", "/d/a:9"}, WithDecryption: aws.Bool(true)})
	if err != nil {
		note("batch: %s", code(err))
	} else {
		var got []string
		for i := range gp.Parameters {
			got = append(got, show(&gp.Parameters[i]))
		}
		slices.Sort(got)
		inv := slices.Clone(gp.InvalidParameters)
		slices.Sort(inv)
		note("batch: %q invalid=%q", got, inv)
	}
	for _, rec := range []bool{true, false} {
		var names []string
		p := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String("/d"), Recursive: aws.Bool(rec), MaxResults: aws.Int32(2)})
		pages := 0
		for p.HasMorePages() {
			o, err := p.NextPage(ctx)
			if err != nil {
				note("path: %s", code(err))
				break
			}
			pages++
			for _, prm := range o.Parameters {
				names = append(names, aws.ToString(prm.Name))
			}
		}
		slices.Sort(names)
		note("path /d recursive=%t: %q", rec, names)
	}
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ref1"), SecretString: aws.String("refval")})
	note("create secret: %s", code(err))
	o, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/reference/secretsmanager/ref1"), WithDecryption: aws.Bool(true)})
	if err == nil {
		note("reference: %s %s value=%q", aws.ToString(o.Parameter.Name), o.Parameter.Type, aws.ToString(o.Parameter.Value))
	} else {
		note("reference: %s", code(err))
	}
	return out
}

// deviations are moto 5.2.1's answers where AWS (which ssmtest follows)
// answers otherwise, by the line the script writes.
var deviations = map[string]string{
	`get /d/a:1: /d/a String v1 sel="" value="va" dt=text arn=true`:    "AWS sets Selector on a read by selector",
	`get /d/a:2: /d/a String v2 sel="" value="va2" dt=text arn=true`:   "AWS sets Selector on a read by selector",
	`get /d/a:lab1: /d/a String v1 sel="" value="va" dt=text arn=true`: "AWS sets Selector on a read by selector",
	`batch: ["/d/a String v1 sel=\"\" value=\"va\" dt=text arn=true" "/d/a String v2 sel=\"\" value=\"va2\" dt=text arn=true" "/d/sec SecureString v1 sel=\"\" value=\"sv\" dt=text arn=true"] invalid=["/d/a:9" "/d/missing"]`: "AWS sets Selector in GetParameters too",
	`reference: ref1 SecureString value="refval"`: "AWS names the answer /aws/reference/secretsmanager/ID",
}

// TestDifferentialMoto runs the script against ssmtest and moto 5.2.1 and
// compares them line by line.
func TestDifferentialMoto(t *testing.T) {
	u := mototest.URL(t)
	resp, err := http.Post(u+"/moto-api/reset", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(u),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}
	moto := script(t, ssm.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg))

	sm := smtest.NewServer()
	defer sm.Close()
	srv := ssmtest.NewServer(ssmtest.WithSecretsManager(sm))
	defer srv.Close()
	fake := script(t, srv.Client(""), sm.Client(""))
	if len(moto) != len(fake) {
		t.Fatalf("moto %d lines, ssmtest %d", len(moto), len(fake))
	}
	for i := range moto {
		if moto[i] == fake[i] {
			continue
		}
		if why, ok := deviations[moto[i]]; ok {
			t.Logf("moto deviates from AWS (%s): moto %q, ssmtest %q", why, moto[i], fake[i])
			continue
		}
		t.Errorf("line %d:\n  moto    %s\n  ssmtest %s", i, moto[i], fake[i])
	}
}
