package awssm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"

	"github.com/secretcache/secretcache/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// motoURL starts moto_server if needed, resets it, and returns its URL (see
// mototest: skipped without moto_server, failed under CI=true).
func motoURL(t *testing.T) string {
	t.Helper()
	u := mototest.URL(t)
	motoPost(t, "/moto-api/reset", "")
	motoPost(t, "/moto-api/reset-auth", "1000000000")
	return u
}

func motoPost(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post(mototest.URL(t)+path, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", path, resp.Status)
	}
}

func motoConfig(u, key, secret string) aws.Config {
	return aws.Config{Region: primary, BaseEndpoint: aws.String(u),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
}

// motoSetup creates secrets with the plain SDK client.
type motoSetup struct {
	t      *testing.T
	client map[string]*secretsmanager.Client
}

func newMotoSetup(t *testing.T, u string) *motoSetup {
	m := &motoSetup{t: t, client: map[string]*secretsmanager.Client{}}
	for _, r := range []string{primary, replica} {
		cfg := motoConfig(u, "AKIDTEST", "secret")
		cfg.Region = r
		m.client[r] = secretsmanager.NewFromConfig(cfg)
	}
	return m
}

func (m *motoSetup) create(name, value string, replicas ...string) string {
	m.t.Helper()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}
	for _, r := range replicas {
		in.AddReplicaRegions = append(in.AddReplicaRegions, types.ReplicaRegionType{Region: aws.String(r)})
	}
	out, err := m.client[primary].CreateSecret(bg, in)
	if err != nil {
		m.t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

func (m *motoSetup) put(name, value string, stages ...string) string {
	m.t.Helper()
	out, err := m.client[primary].PutSecretValue(bg, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(value), VersionStages: stages})
	if err != nil {
		m.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func motoSource(t *testing.T, u string, opts ...awssm.Option) *awssm.Source {
	t.Helper()
	src, err := awssm.New(motoConfig(u, "AKIDTEST", "secret"), fastOpts(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestMotoSingleGetsAndStages(t *testing.T) {
	u := motoURL(t)
	m := newMotoSetup(t, u)
	arn := m.create("app/db", "v1")
	v2 := m.put("app/db", "v2")
	v3 := m.put("app/db", "v3", "CANARY")
	if _, err := m.client[primary].CreateSecret(bg, &secretsmanager.CreateSecretInput{
		Name: aws.String("app/bin"), SecretBinary: []byte{0, 1, 255}}); err != nil {
		t.Fatal(err)
	}
	src := motoSource(t, u, awssm.WithRegions(primary))
	cases := []struct {
		ref  secretcache.Ref
		want string
	}{
		{secretcache.Ref{ID: "app/db"}, "v2"},
		{secretcache.Ref{ID: arn}, "v2"},
		{secretcache.Ref{ID: arn[:len(arn)-7]}, "v2"},
		{secretcache.Ref{ID: "app/db", VersionStage: "AWSCURRENT"}, "v2"},
		{secretcache.Ref{ID: "app/db", VersionStage: "AWSPREVIOUS"}, "v1"},
		{secretcache.Ref{ID: "app/db", VersionStage: "CANARY"}, "v3"},
		{secretcache.Ref{ID: "app/db", VersionID: v3}, "v3"},
		{secretcache.Ref{ID: arn, VersionID: v2, VersionStage: "AWSCURRENT"}, "v2"},
	}
	for _, c := range cases {
		s, err := src.Fetch(bg, c.ref)
		if err != nil {
			t.Fatalf("%v: %v", c.ref, err)
		}
		if s.String != c.want || s.Name != "app/db" || s.ARN != arn {
			t.Fatalf("%v: got %s (%s)", c.ref, s.VersionID, s.ARN)
		}
	}
	b, err := src.Fetch(bg, secretcache.Ref{ID: "app/bin"})
	if err != nil || !b.IsBinary() || !bytes.Equal(b.Binary, []byte{0, 1, 255}) {
		t.Fatal(b, err)
	}
}

func TestMotoErrorCodes(t *testing.T) {
	u := motoURL(t)
	m := newMotoSetup(t, u)
	m.create("app/db", "v1")
	v2 := m.put("app/db", "v2")
	m.create("app/gone", "x")
	if _, err := m.client[primary].DeleteSecret(bg, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/gone")}); err != nil {
		t.Fatal(err)
	}
	src := motoSource(t, u, awssm.WithRegions(primary))
	cases := []struct {
		ref  secretcache.Ref
		kind error
		code string
	}{
		{secretcache.Ref{ID: "nope"}, secretcache.ErrNotFound, "ResourceNotFoundException"},
		{secretcache.Ref{ID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"}, secretcache.ErrNotFound, "ResourceNotFoundException"},
		{secretcache.Ref{ID: "app/db", VersionStage: "NOPE"}, secretcache.ErrNotFound, "ResourceNotFoundException"},
		{secretcache.Ref{ID: "app/db", VersionID: strings.Repeat("0", 36)}, secretcache.ErrNotFound, "ResourceNotFoundException"},
		{secretcache.Ref{ID: "app/db", VersionID: v2, VersionStage: "AWSPREVIOUS"}, secretcache.ErrInvalidRequest, "InvalidRequestException"},
		{secretcache.Ref{ID: "app/gone"}, secretcache.ErrDeleted, "InvalidRequestException"},
	}
	for _, c := range cases {
		_, err := src.Fetch(bg, c.ref)
		mustKind(t, err, c.kind)
		if apiCode(err) != c.code {
			t.Fatalf("%v: code %q, want %q (%v)", c.ref, apiCode(err), c.code, err)
		}
	}
	if b := breaker(src, primary); b.Failures != 0 || b.State != "closed" {
		t.Fatalf("permanent errors counted: %+v", b)
	}
	// The same through BatchGetSecretValue's per-secret errors.
	res := src.FetchBatch(bg, []secretcache.Ref{{ID: "nope"}, {ID: "app/gone"}, {ID: "app/db"}})
	mustKind(t, res[0].Err, secretcache.ErrNotFound)
	mustKind(t, res[1].Err, secretcache.ErrDeleted)
	if res[2].Err != nil || res[2].Secret.String != "v2" {
		t.Fatal(res[2])
	}
	for _, r := range res[:2] {
		var be *awssm.BatchEntryError
		if !errors.As(r.Err, &be) {
			t.Fatalf("%v is not a BatchEntryError", r.Err)
		}
	}
}

func TestMotoBatch(t *testing.T) {
	u := motoURL(t)
	m := newMotoSetup(t, u)
	arns := map[string]string{}
	var refs []secretcache.Ref
	for i := 0; i < 25; i++ {
		n := fmt.Sprintf("batch/s%02d", i)
		arns[n] = m.create(n, "value-"+n)
		id := n
		switch i % 3 {
		case 1:
			id = arns[n]
		case 2:
			id = arns[n][:len(arns[n])-7]
		}
		refs = append(refs, secretcache.Ref{ID: id})
	}
	m.put("batch/s00", "value-batch/s00-v2")
	refs = append(refs, secretcache.Ref{ID: "batch/s00", VersionStage: "AWSPREVIOUS"}, secretcache.Ref{ID: "batch/none"})
	src := motoSource(t, u, awssm.WithRegions(primary))
	res := src.FetchBatch(bg, refs)
	for i, r := range res[:25] {
		n := fmt.Sprintf("batch/s%02d", i)
		want := "value-" + n
		if i == 0 {
			want += "-v2"
		}
		if r.Err != nil || r.Secret.Name != n || r.Secret.String != want || r.Secret.ARN != arns[n] {
			t.Fatalf("%v: %v %v", refs[i], r.Secret, r.Err)
		}
	}
	if res[25].Err != nil || res[25].Secret.String != "value-batch/s00" {
		t.Fatal(res[25])
	}
	mustKind(t, res[26].Err, secretcache.ErrNotFound)
}

// Failover on a server we did not write: the primary region's endpoint is
// dead, the replica region (a moto replica) answers, ARNs rewritten.
func TestMotoFailoverToReplica(t *testing.T) {
	u := motoURL(t)
	m := newMotoSetup(t, u)
	arn := m.create("app/db", "pw", replica)
	arn2 := m.create("app/other", "pw2", replica)
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	src := motoSource(t, u, awssm.WithRegionEndpoint(primary, dead))
	for i := 0; i < 4; i++ {
		s, err := src.Fetch(bg, secretcache.Ref{ID: arn})
		if err != nil || s.String != "pw" || s.ARN != arn {
			t.Fatalf("fetch %d: %v %v", i, s, err)
		}
		res := src.FetchBatch(bg, []secretcache.Ref{{ID: arn}, {ID: "app/other"}})
		if res[0].Err != nil || res[0].Secret.ARN != arn || res[1].Err != nil || res[1].Secret.String != "pw2" {
			t.Fatalf("batch %d: %v", i, res)
		}
		if res[1].Secret.ARN != strings.Replace(arn2, primary, replica, 1) {
			t.Fatalf("name ref: ARN %s", res[1].Secret.ARN)
		}
	}
	if b := breaker(src, primary); b.State != "open" {
		t.Fatalf("breaker %+v", b)
	}
	names, err := src.ListNames(bg, "app/")
	if err != nil || len(names) != 2 {
		t.Fatal(names, err)
	}
}

// IAM on moto: a principal allowed GetSecretValue only. BatchGetSecretValue
// is denied, so FetchBatch falls back to single gets; a secret the
// principal may not read is ErrAccessDenied; bad credentials too.
func TestMotoAccessDenied(t *testing.T) {
	u := motoURL(t)
	m := newMotoSetup(t, u)
	m.create("app/a", "va")
	m.create("app/b", "vb")
	key, secret := motoIAMUser(t, u, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["secretsmanager:GetSecretValue"],"Resource":"*"}]}`)
	motoPost(t, "/moto-api/reset-auth", "0")
	t.Cleanup(func() { motoPost(t, "/moto-api/reset-auth", "1000000000") })

	var logs logBuffer
	src, err := awssm.New(motoConfig(u, key, secret), fastOpts(awssm.WithRegions(primary), awssm.WithLogger(logs.logger()))...)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		res := src.FetchBatch(bg, []secretcache.Ref{{ID: "app/a"}, {ID: "app/b"}, {ID: "app/none"}})
		if res[0].Err != nil || res[0].Secret.String != "va" || res[1].Err != nil || res[1].Secret.String != "vb" {
			t.Fatalf("round %d: %v", round, res)
		}
		mustKind(t, res[2].Err, secretcache.ErrNotFound)
	}
	if n := strings.Count(logs.String(), "BatchGetSecretValue denied"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	// ListSecrets is not allowed either.
	_, err = src.ListNames(bg, "app/")
	mustKind(t, err, secretcache.ErrAccessDenied)

	// Unknown credentials.
	bad, err := awssm.New(motoConfig(u, "AKIDNOBODY", "x"), fastOpts(awssm.WithRegions(primary))...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Fetch(bg, secretcache.Ref{ID: "app/a"})
	mustKind(t, err, secretcache.ErrAccessDenied)
	if b := breaker(bad, primary); b.Failures != 0 {
		t.Fatalf("access denied counted as a breaker failure: %+v", b)
	}
}

// motoIAMUser creates an IAM user with an inline policy and an access key
// through moto's IAM Query API, signed with SigV4.
func motoIAMUser(t *testing.T, u, policy string) (key, secret string) {
	t.Helper()
	call := func(params url.Values) string {
		params.Set("Version", "2010-05-08")
		body := params.Encode()
		req, _ := http.NewRequestWithContext(bg, http.MethodPost, u+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", primary, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("IAM %s: %s: %s", params.Get("Action"), resp.Status, out)
		}
		return string(out)
	}
	call(url.Values{"Action": {"CreateUser"}, "UserName": {"reader"}})
	call(url.Values{"Action": {"PutUserPolicy"}, "UserName": {"reader"}, "PolicyName": {"read"}, "PolicyDocument": {policy}})
	out := call(url.Values{"Action": {"CreateAccessKey"}, "UserName": {"reader"}})
	k := regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`).FindStringSubmatch(out)
	s := regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`).FindStringSubmatch(out)
	if k == nil || s == nil {
		t.Fatalf("no access key in %s", out)
	}
	return k[1], s[1]
}

func TestMotoListNames(t *testing.T) {
	u := motoURL(t)
	m := newMotoSetup(t, u)
	for _, n := range []string{"prod/a", "prod/b", "production", "dev/a"} {
		m.create(n, "x")
	}
	src := motoSource(t, u, awssm.WithRegions(primary))
	names, err := src.ListNames(bg, "prod/")
	if err != nil || strings.Join(names, ",") != "prod/a,prod/b" {
		t.Fatal(names, err)
	}
	names, err = src.ListNames(bg, "")
	if err != nil || len(names) != 4 {
		t.Fatal(names, err)
	}
}
