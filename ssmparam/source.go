package ssmparam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsfail"
	"github.com/secretcache/secretcache/internal/clip"
)

// MaxBatch is the most names one GetParameters call takes.
const MaxBatch = 10

var errNilTracer = errors.New("ssmparam: nil tracer provider")

// Source reads parameters from AWS Systems Manager Parameter Store, failing
// over between regions. It implements secretcache.Source,
// secretcache.BatchSource, secretcache.Describer and
// secretcache.BreakerReporter, and is safe for concurrent use.
type Source struct {
	cfg config
	log *slog.Logger
	set *awsfail.Set[*ssm.Client]
}

var (
	_ secretcache.BatchSource     = (*Source)(nil)
	_ secretcache.Describer       = (*Source)(nil)
	_ secretcache.BreakerReporter = (*Source)(nil)
)

type region = awsfail.Region[*ssm.Client]

// New returns a Source reading through SSM clients built from cfg
// (credentials, HTTP client, endpoint as for any SDK client), one per region
// of the failover list (cfg.Region alone without WithRegions), with the
// source's own retryer and "secretcache/<version>" in the user agent. It
// returns an error, never panics, for a missing region or an invalid option.
func New(cfg aws.Config, opts ...Option) (*Source, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("ssmparam: nil option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	names, err := c.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: c, log: c.Logger}
	clients := make([]*ssm.Client, len(names))
	for i, name := range names {
		clients[i] = ssm.NewFromConfig(cfg, func(o *ssm.Options) {
			c.SetClient(name, c.tracerProvider, awsfail.ClientFields{Region: &o.Region, BaseEndpoint: &o.BaseEndpoint,
				Retryer: &o.Retryer, RetryMaxAttempts: &o.RetryMaxAttempts, APIOptions: &o.APIOptions, TracerProvider: &o.TracerProvider})
		})
	}
	s.set = awsfail.NewSet(c.Config(classify), names, clients)
	return s, nil
}

// Describe states Parameter Store's rules to the cache: no stages (a read
// with no version or label reads the latest version), batches of 10, and
// naming by name or ARN, a selector (name:3, name:label) ignored.
func (s *Source) Describe() secretcache.Description {
	return secretcache.Description{
		MaxBatch: MaxBatch,
		SameSecret: func(id string, sec *secretcache.Secret) bool {
			return sameParameter(id, sec.Name, sec.ARN)
		},
		NameOf: NameOf,
	}
}

// Regions returns the failover list: the primary region first.
func (s *Source) Regions() []string { return s.set.Names() }

// Breakers reports the circuit breaker of each region, the primary first.
func (s *Source) Breakers() []secretcache.BreakerState { return s.set.Breakers() }

// Decrypts reports whether the source reads SecureString values decrypted
// (the default; see WithoutDecryption).
func (s *Source) Decrypts() bool { return !s.cfg.noDecryption }

// Fetch reads one parameter with GetParameter. ref.ID is a name
// ("/app/db/url", "flag"), an ARN, or a /aws/reference/secretsmanager/ID
// name, optionally with a selector: name:3 (version 3) or name:label. A
// selector can be given in the Ref instead: VersionID "3" or VersionStage
// "label". Neither means the latest version. An empty, oversized or
// malformed id, version or label fails with secretcache.ErrInvalidRequest
// before any call.
//
// The Secret holds the parameter's Name, ARN, Version (as VersionID),
// LastModifiedDate (as CreatedDate) and Value (as String; a StringList is
// its comma-separated text, a SecureString decrypted unless
// WithoutDecryption). Its VersionStages hold the label asked for, if any,
// and the parameter's type and data type as TypeStagePrefix+"SecureString"
// and DataTypeStagePrefix+"text" (see TypeOf). An answer for another
// parameter or version, or with no value, fails with
// secretcache.ErrMismatch, transient. Errors are *secretcache.Error of the
// mapped kind holding a *CallError: ParameterNotFound and
// ParameterVersionNotFound are ErrNotFound, KMS errors ErrDecryption,
// access errors ErrAccessDenied, throttling ErrThrottled (after the SDK's
// retries), failover on the transient ones.
func (s *Source) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	sel, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	if err := s.checkReference(ref.ID, sel); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return awsfail.Run(s.set, octx, ctx, ref.ID, s.getCall(ref.ID, sel))
}

// checkReference refuses a Secrets Manager reference read without
// decryption, which AWS refuses too.
func (s *Source) checkReference(id string, sel selector) error {
	if s.cfg.noDecryption && NameOf(sel.name) != "" && isReference(NameOf(sel.name)) {
		return &secretcache.Error{Op: "fetch", ID: clip.ID(id), Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("a " + ReferencePrefix + " name needs decryption; the source reads without (WithoutDecryption)")}
	}
	return nil
}

func isReference(name string) bool {
	return len(name) > len(ReferencePrefix) && name[:len(ReferencePrefix)] == ReferencePrefix
}

func (s *Source) getCall(id string, sel selector) awsfail.Attempt[*ssm.Client, *secretcache.Secret] {
	return func(ctx context.Context, r *region) (*secretcache.Secret, error) {
		const op = "GetParameter"
		in := &ssm.GetParameterInput{Name: aws.String(sel.sent()), WithDecryption: aws.Bool(!s.cfg.noDecryption)}
		start := time.Now()
		out, err := r.Client.GetParameter(ctx, in)
		if err != nil {
			err = awsfail.NewCallError(op, r.Name, err)
			s.cfg.Observe(ctx, op, r.Name, start, err, classify)
			return nil, err
		}
		sec, why := accept(id, sel, out.Parameter)
		if why != "" {
			err = refused(id, op, r.Name, requestID(out.ResultMetadata), why)
		}
		s.cfg.Observe(ctx, op, r.Name, start, err, classify)
		return sec, err
	}
}

// accept turns a parameter of an answer into a Secret, or says why it is
// not the one asked for.
func accept(id string, sel selector, p *types.Parameter) (*secretcache.Secret, string) {
	if p == nil {
		return nil, "no Parameter"
	}
	name, arn := aws.ToString(p.Name), aws.ToString(p.ARN)
	if name == "" {
		return nil, "no Name"
	}
	if !sameParameter(id, name, arn) {
		return nil, fmt.Sprintf("parameter %q, not the one asked for", clip.String(name, 200))
	}
	if p.Value == nil || *p.Value == "" {
		return nil, "no Value"
	}
	if sel.version != "" && strconv.FormatInt(p.Version, 10) != sel.version {
		return nil, fmt.Sprintf("version %d, asked for %s", p.Version, sel.version)
	}
	sec := &secretcache.Secret{Name: name, ARN: arn, String: *p.Value, VersionID: strconv.FormatInt(p.Version, 10)}
	if p.Version == 0 {
		sec.VersionID = "" // a /aws/reference read has no parameter version
	}
	if p.LastModifiedDate != nil {
		sec.CreatedDate = *p.LastModifiedDate
	}
	if sel.label != "" {
		sec.VersionStages = append(sec.VersionStages, sel.label)
	}
	if p.Type != "" {
		sec.VersionStages = append(sec.VersionStages, TypeStagePrefix+string(p.Type))
	}
	if dt := aws.ToString(p.DataType); dt != "" {
		sec.VersionStages = append(sec.VersionStages, DataTypeStagePrefix+dt)
	}
	return sec, ""
}

// TypeOf returns the parameter type ("String", "StringList",
// "SecureString") and data type ("text", "aws:ec2:image", ...) the source
// put in a Secret's VersionStages; "" for what it does not hold.
func TypeOf(stages []string) (typ, dataType string) {
	for _, st := range stages {
		if v, ok := cut(st, TypeStagePrefix); ok {
			typ = v
		} else if v, ok := cut(st, DataTypeStagePrefix); ok {
			dataType = v
		}
	}
	return typ, dataType
}

func cut(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// AnswerError is an answer of Parameter Store that the source refused: not
// the parameter or version asked for, or with no value. It comes inside a
// *secretcache.Error of kind secretcache.ErrMismatch (transient: a cache
// keeps the value it has). It never holds a value.
type AnswerError struct {
	Operation string // "GetParameter" or "GetParameters"
	Region    string // the region that answered
	RequestID string // the AWS request id of the answer, if any
	Problem   string // what is wrong with the answer
}

func (e *AnswerError) Error() string {
	s := e.Operation + " in " + e.Region + ": answer refused: " + e.Problem
	if e.RequestID != "" {
		s += " (request id " + clip.String(e.RequestID, 64) + ")"
	}
	return s
}

func refused(id, op, region, requestID, why string) error {
	return &secretcache.Error{Op: "fetch", ID: clip.ID(id), Kind: secretcache.ErrMismatch,
		Err: &AnswerError{Operation: op, Region: region, RequestID: requestID, Problem: why}}
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}
