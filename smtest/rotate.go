package smtest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache/internal/awsname"
)

// RotationStep is one call of the rotation function, as Secrets Manager
// invokes a rotation Lambda.
type RotationStep struct {
	Region   string
	SecretID string // the secret's ARN
	Token    string // the ClientRequestToken: VersionId of the pending version
	Step     string // "createSecret", "setSecret", "testSecret" or "finishSecret"
}

// RotationFunc plays the rotation Lambda. RotateSecret calls it for the four
// steps in order, without any server lock held: it may call the server
// through the SDK (Client) or through the Go helpers.
//
// In the "createSecret" step it must store the new value as the version
// Token with the staging label AWSPENDING (PutSecretValue with
// ClientRequestToken = Token and VersionStages = ["AWSPENDING"], or
// PutSecretValueWithToken), unless that version exists already. In
// "finishSecret" it may move AWSCURRENT to Token with
// UpdateSecretVersionStage, as a real Lambda does; if it does not, the
// server does it when the step returns. An error stops the rotation; the
// AWSPENDING version, if any, stays, and a later RotateSecret fails with
// InvalidRequestException until it is given that version's token (a
// reattempt) or the label is removed.
type RotationFunc func(ctx context.Context, step RotationStep) error

var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// SetRotationFunc sets the function RotateSecret runs. With nil (the
// default) a built-in rotation is used: its createSecret step stores a new
// random 32-character password as the pending version (for a JSON object
// value with a "password" member, only that member changes; a binary value
// gets 32 random bytes).
func (srv *Server) SetRotationFunc(fn RotationFunc) {
	srv.rmu.Lock()
	defer srv.rmu.Unlock()
	srv.rotFn = fn
}

func (srv *Server) rotationFunc() RotationFunc {
	srv.rmu.Lock()
	defer srv.rmu.Unlock()
	if srv.rotFn != nil {
		return srv.rotFn
	}
	return srv.defaultRotation
}

type rotateIn struct {
	SecretId           *string
	ClientRequestToken *string
	RotateImmediately  *bool
	RotationLambdaARN  *string
	RotationRules      *struct {
		AutomaticallyAfterDays *int64
		Duration               *string
		ScheduleExpression     *string
	}
}

func errRotationInProgress() *APIError {
	return apiErr(codeInvalidReq, "A previous rotation isn't complete. That rotation will be reattempted.")
}

func (srv *Server) opRotateSecret(ctx context.Context, region string, in *rotateIn) (any, []ChangeEvent, error) {
	if err := checkRotate(in); err != nil {
		return nil, nil, err
	}
	rot, err := srv.startRotation(region, in)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		srv.mu.Lock()
		rot.s.rotating = false
		srv.mu.Unlock()
	}()
	steps := rotationSteps
	if in.RotateImmediately != nil && !*in.RotateImmediately {
		// Without immediate rotation AWS only tests the configuration.
		steps = []string{"testSecret"}
	}
	if err := srv.runRotation(ctx, rot, steps); err != nil {
		return nil, nil, err
	}
	out := obj{"ARN": rot.arn, "Name": rot.name, "VersionId": rot.token}
	if len(steps) == 1 {
		return out, nil, nil
	}
	evs, err := srv.finishRotation(rot)
	if err != nil {
		return nil, nil, err
	}
	return out, evs, nil
}

// checkRotate checks a RotateSecret request before any lock is taken.
func checkRotate(in *rotateIn) error {
	if _, err := requireID("secretId", in.SecretId); err != nil {
		return err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return err
	}
	if in.RotationLambdaARN != nil && len(*in.RotationLambdaARN) > 2048 {
		return errTooLong("rotationLambdaARN", 2048)
	}
	if r := in.RotationRules; r != nil && r.AutomaticallyAfterDays != nil && (*r.AutomaticallyAfterDays < 1 || *r.AutomaticallyAfterDays > 1000) {
		return errRange("rotationRules.automaticallyAfterDays", 1, 1000)
	}
	return nil
}

// rotation is one RotateSecret under way.
type rotation struct {
	s                        *secret
	region, arn, name, token string // token: the VersionId of the new version
}

// startRotation stores the rotation settings of the request and marks the
// secret as rotating, or refuses while another rotation is under way or
// left a pending version behind (unless the request names that version).
func (srv *Server) startRotation(region string, in *rotateIn) (*rotation, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, err
	}
	token := str(in.ClientRequestToken)
	if p := s.versionWith(awsname.StagePending); s.rotating ||
		p != nil && !slices.Contains(p.stages, awsname.StageCurrent) && p.id != token {
		return nil, errRotationInProgress()
	}
	if token == "" {
		token = newUUID()
	}
	s.rotationRequested = true
	s.rotationEnabled = true
	if in.RotationLambdaARN != nil {
		s.rotationLambda = *in.RotationLambdaARN
	}
	if r := in.RotationRules; r != nil {
		s.rules = &rotationRules{days: r.AutomaticallyAfterDays, duration: r.Duration, schedule: r.ScheduleExpression}
		if r.AutomaticallyAfterDays != nil {
			s.nextRotation = srv.now().Add(time.Duration(*r.AutomaticallyAfterDays) * 24 * time.Hour)
		}
	}
	s.rotating = true
	return &rotation{s: s, region: region, arn: s.arn, name: s.name, token: token}, nil
}

// runRotation calls the rotation function for each step, without the lock,
// and checks that createSecret stored the pending version.
func (srv *Server) runRotation(ctx context.Context, rot *rotation, steps []string) error {
	fn := srv.rotationFunc()
	for _, step := range steps {
		if err := fn(ctx, RotationStep{Region: rot.region, SecretID: rot.arn, Token: rot.token, Step: step}); err != nil {
			return rotationError(step, err)
		}
		if step != "createSecret" {
			continue
		}
		srv.mu.Lock()
		v := rot.s.versions[rot.token]
		ok := v != nil && slices.Contains(v.stages, awsname.StagePending)
		srv.mu.Unlock()
		if !ok {
			return apiErr(codeInvalidReq, "Rotation step createSecret did not store version %s with the staging label AWSPENDING.", rot.token)
		}
	}
	return nil
}

// finishRotation makes the new version AWSCURRENT, if the rotation function
// did not, and takes AWSPENDING off it.
func (srv *Server) finishRotation(rot *rotation) ([]ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, v := rot.s, rot.s.versions[rot.token]
	if v == nil || s.deleted() {
		return nil, apiErr(codeInvalidReq, "Version %s disappeared during rotation.", rot.token)
	}
	if !slices.Contains(v.stages, awsname.StageCurrent) {
		s.attachStages(v, []string{awsname.StageCurrent})
	}
	v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == awsname.StagePending })
	s.lastRotated = srv.now()
	s.lastChanged = s.lastRotated
	return srv.events(s, "RotateSecret", v), nil
}

func rotationError(step string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return apiErr(ae.ErrorCode(), "Rotation step %s failed: %s", step, ae.ErrorMessage())
	}
	return apiErr(codeInvalidReq, "Rotation step %s failed: %v", step, err)
}

// defaultRotation is the built-in rotation function.
func (srv *Server) defaultRotation(ctx context.Context, step RotationStep) error {
	if step.Step != "createSecret" {
		return nil
	}
	srv.mu.Lock()
	s := srv.lookup(step.Region, step.SecretID)
	if s == nil {
		srv.mu.Unlock()
		return errSecretNotFound()
	}
	if s.versions[step.Token] != nil {
		srv.mu.Unlock()
		return nil
	}
	var strVal *string
	var bin []byte
	cur := s.versionWith(awsname.StageCurrent)
	switch {
	case cur != nil && cur.bin != nil:
		bin = make([]byte, 32)
		randRead(bin)
	default:
		pw := randomPassword(32, alnum)
		if cur != nil && cur.str != nil {
			var m map[string]any
			if json.Unmarshal([]byte(*cur.str), &m) == nil {
				if _, ok := m["password"].(string); ok {
					m["password"] = pw
					if b, err := json.Marshal(m); err == nil {
						pw = string(b)
					}
				}
			}
		}
		strVal = &pw
	}
	tok := step.Token
	v, created, err := srv.putValue(s, &tok, strVal, bin, []string{awsname.StagePending})
	var evs []ChangeEvent
	if err == nil && created {
		evs = srv.events(s, "PutSecretValue", v)
	}
	srv.mu.Unlock()
	srv.emit(evs)
	return err
}

func (srv *Server) opCancelRotateSecret(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	if !s.rotationRequested {
		return nil, nil, apiErr(codeInvalidReq, "You tried to cancel rotation on a secret that doesn't have rotation configured.")
	}
	s.rotationEnabled = false
	out := obj{"ARN": s.arn, "Name": s.name}
	var v *version
	if p := s.versionWith(awsname.StagePending); p != nil && !slices.Contains(p.stages, awsname.StageCurrent) {
		out["VersionId"] = p.id
		v = p
	}
	return out, srv.events(s, "CancelRotateSecret", v), nil
}
