package smtest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// lambdaLike is a rotation function written the way a real rotation Lambda
// is: it talks to Secrets Manager through the SDK.
func lambdaLike(s *Server, newValue string, steps *[]string, mu *sync.Mutex) RotationFunc {
	return func(ctx context.Context, st RotationStep) error {
		mu.Lock()
		*steps = append(*steps, st.Step)
		mu.Unlock()
		c := s.Client(st.Region)
		switch st.Step {
		case "createSecret":
			_, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{
				SecretId: aws.String(st.SecretID), ClientRequestToken: aws.String(st.Token),
				SecretString: aws.String(newValue), VersionStages: []string{"AWSPENDING"},
			})
			return err
		case "testSecret":
			out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(st.SecretID), VersionStage: aws.String("AWSPENDING")})
			if err != nil {
				return err
			}
			if *out.SecretString != newValue {
				return errors.New("pending value mismatch")
			}
		case "finishSecret":
			d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(st.SecretID)})
			if err != nil {
				return err
			}
			var current string
			for id, stages := range d.VersionIdsToStages {
				if slices.Contains(stages, "AWSCURRENT") {
					current = id
				}
			}
			_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{
				SecretId: aws.String(st.SecretID), VersionStage: aws.String("AWSCURRENT"),
				MoveToVersionId: aws.String(st.Token), RemoveFromVersionId: aws.String(current),
			})
			return err
		}
		return nil
	}
}

func TestRotateWithLambdaLikeFunc(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	c := s.Client("us-west-2")
	out := mustCreate(t, c, "db", "old", 1)
	var mu sync.Mutex
	var steps []string
	s.SetRotationFunc(lambdaLike(s, "new", &steps, &mu))

	var events []string
	s.OnChange(func(ev ChangeEvent) {
		mu.Lock()
		events = append(events, ev.Op)
		mu.Unlock()
	})
	rot, err := c.RotateSecret(ctx, &sm.RotateSecretInput{
		SecretId: aws.String("db"), RotationLambdaARN: aws.String("arn:aws:lambda:us-west-2:123456789012:function:rot"),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !slices.Equal(steps, rotationSteps) {
		t.Fatalf("steps %v", steps)
	}
	mu.Unlock()
	if *rot.ARN != *out.ARN || len(*rot.VersionId) < 32 {
		t.Fatalf("rotate out %+v", rot)
	}
	if v, _ := s.Value("us-west-2", "db", ""); v != "new" {
		t.Fatalf("current %q", v)
	}
	if v, _ := s.Value("us-west-2", "db", "AWSPREVIOUS"); v != "old" {
		t.Fatalf("previous %q", v)
	}
	si, _ := s.Secret("us-west-2", "db")
	if si.Stage("AWSCURRENT") != *rot.VersionId || si.Stage("AWSPENDING") != "" || !si.RotationEnabled || si.LastRotatedDate.IsZero() {
		t.Fatalf("after rotation: %+v", si)
	}
	mu.Lock()
	if !slices.Equal(events, []string{"PutSecretValue", "UpdateSecretVersionStage", "RotateSecret"}) {
		t.Fatalf("events %v", events)
	}
	mu.Unlock()
	d, _ := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("db")})
	if d.RotationEnabled == nil || !*d.RotationEnabled || *d.RotationRules.AutomaticallyAfterDays != 30 || d.NextRotationDate == nil || d.RotationLambdaARN == nil {
		t.Fatalf("describe %+v", d)
	}
	// Cancel.
	if _, err := c.CancelRotateSecret(ctx, &sm.CancelRotateSecretInput{SecretId: aws.String("db")}); err != nil {
		t.Fatal(err)
	}
	if si, _ := s.Secret("us-west-2", "db"); si.RotationEnabled {
		t.Fatal("still enabled")
	}
}

func TestRotateDefaultAndHelper(t *testing.T) {
	s := newServer(t)
	if _, err := s.CreateSecret("", "plain", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSecret("", "json", `{"username":"u","password":"old"}`); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	vid, err := s.Rotate(ctx, "", "plain")
	if err != nil {
		t.Fatal(err)
	}
	si, _ := s.Secret("", "plain")
	if si.Stage("AWSCURRENT") != vid {
		t.Fatalf("versions %+v", si.Versions)
	}
	if v, _ := s.Value("", "plain", ""); len(v) != 32 || v == "old" {
		t.Fatalf("new value %q", v)
	}
	if _, err := s.Rotate(ctx, "", "json"); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Value("", "json", "")
	var m map[string]string
	if err := json.Unmarshal([]byte(v), &m); err != nil || m["username"] != "u" || m["password"] == "old" || len(m["password"]) != 32 {
		t.Fatalf("json rotation: %q", v)
	}
	// Binary values rotate to random bytes.
	if _, err := s.CreateBinarySecret("", "bin", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, "", "bin"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("", "bin", ""); len(v) != 32 {
		t.Fatalf("binary rotation: %d bytes", len(v))
	}
	if _, err := s.Rotate(ctx, "", "nope"); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("missing: %v", err)
	}
}

func TestRotateFailures(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	c := s.Client("")
	if _, err := s.CreateSecret("", "s", "v1"); err != nil {
		t.Fatal(err)
	}

	// createSecret that stores nothing.
	s.SetRotationFunc(func(ctx context.Context, st RotationStep) error { return nil })
	_, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")

	// A failing testSecret leaves the pending version; the next rotation
	// fails until it is a reattempt with the same token.
	fail := true
	s.SetRotationFunc(func(ctx context.Context, st RotationStep) error {
		switch st.Step {
		case "createSecret":
			_, err := s.PutSecretValueWithToken(st.Region, st.SecretID, st.Token, "v2", "AWSPENDING")
			return err
		case "testSecret":
			if fail {
				return errors.New("database refused the new password")
			}
		}
		return nil
	})
	tok := *token(7)
	_, err = c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s"), ClientRequestToken: aws.String(tok)})
	wantCode(t, err, "InvalidRequestException")
	if v, _ := s.Value("", "s", ""); v != "v1" {
		t.Fatalf("current changed to %q", v)
	}
	if v, _ := s.Value("", "s", "AWSPENDING"); v != "v2" {
		t.Fatalf("pending %q", v)
	}
	_, err = c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")
	fail = false
	out, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s"), ClientRequestToken: aws.String(tok)})
	if err != nil || *out.VersionId != tok {
		t.Fatalf("reattempt: %v %v", out, err)
	}
	if v, _ := s.Value("", "s", ""); v != "v2" {
		t.Fatalf("current %q", v)
	}

	// Errors carrying an AWS code keep it.
	s.SetRotationFunc(func(ctx context.Context, st RotationStep) error {
		return &APIError{Code: "AccessDeniedException", Message: "no"}
	})
	_, err = c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "AccessDeniedException")

	// RotateImmediately=false only runs testSecret.
	var steps []string
	s.SetRotationFunc(func(ctx context.Context, st RotationStep) error { steps = append(steps, st.Step); return nil })
	if _, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s"), RotateImmediately: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, []string{"testSecret"}) {
		t.Fatalf("steps %v", steps)
	}
	// Rotation of a deleted secret or a replica is refused.
	if err := s.Replicate("s", "", "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client("eu-west-1").RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidParameterException")
	_, _ = s.CreateSecret("", "gone", "x")
	_ = s.DeleteSecret("", "gone", false)
	_, err = s.Rotate(ctx, "", "gone")
	wantCode(t, err, "InvalidRequestException")
	_, err = c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("s"), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(0)}})
	wantCode(t, err, "ValidationException")
}

func TestRotateConcurrentRefused(t *testing.T) {
	s := newServer(t)
	if _, err := s.CreateSecret("", "s", "v1"); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	s.SetRotationFunc(func(ctx context.Context, st RotationStep) error {
		if st.Step == "createSecret" {
			close(entered)
			<-release
			_, err := s.PutSecretValueWithToken(st.Region, st.SecretID, st.Token, "v2", "AWSPENDING")
			return err
		}
		return nil
	})
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { _, err := s.Rotate(ctx, "", "s"); done <- err }()
	<-entered
	// While the rotation function runs, the server answers other calls and
	// refuses a second rotation.
	if _, err := s.Client("").GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Rotate(ctx, "", "s")
	wantCode(t, err, "InvalidRequestException")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
