package awssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsfail"
	"github.com/secretcache/secretcache/internal/clip"
)

// MaxListNames is the most names ListNames returns; a prefix that matches
// more is refused.
const MaxListNames = 10000

// maxPrefix is the longest prefix ListNames accepts (the ListSecrets filter
// limit).
const maxPrefix = 512

// Source reads secrets from AWS Secrets Manager, failing over between
// regions. It implements secretcache.Source, secretcache.BatchSource,
// secretcache.Describer and secretcache.BreakerReporter, and is safe for
// concurrent use.
type Source struct {
	cfg   config
	log   *slog.Logger
	set   *awsfail.Set[*secretsmanager.Client]
	names []string // the regions' names, for inRegion

	batchOffUntil atomic.Int64 // unix nanos: single gets until then
	batchWarned   atomic.Bool
}

var (
	_ secretcache.BatchSource     = (*Source)(nil)
	_ secretcache.Describer       = (*Source)(nil)
	_ secretcache.BreakerReporter = (*Source)(nil)
)

// New returns a Source reading through clients built from cfg: credentials,
// HTTP client, endpoint (BaseEndpoint, the environment, profiles) and so on
// come from cfg as for any SDK client, with one client per region of the
// failover list (cfg.Region alone without WithRegions). The source installs
// its own retryer (WithMaxAttempts, WithBackoff, WithAdaptiveRetry), so
// cfg's retry settings are not used, and adds "secretcache/<version>" to the
// user agent. It returns an error, never panics, for a missing region or an
// invalid option.
func New(cfg aws.Config, opts ...Option) (*Source, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("awssm: nil option")
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
	clients := make([]*secretsmanager.Client, len(names))
	for i, name := range names {
		clients[i] = secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
			c.SetClient(name, c.tracerProvider, awsfail.ClientFields{Region: &o.Region, BaseEndpoint: &o.BaseEndpoint,
				Retryer: &o.Retryer, RetryMaxAttempts: &o.RetryMaxAttempts, APIOptions: &o.APIOptions, TracerProvider: &o.TracerProvider})
		})
	}
	s.set = awsfail.NewSet(c.Config(classifyAWS), names, clients)
	s.names = names
	return s, nil
}

// Regions returns the failover list: the primary region first.
func (s *Source) Regions() []string {
	return s.set.Names()
}

// Breakers reports the circuit breaker of each region, the primary first:
// its state ("closed", "open", "half-open"), its consecutive transient
// failures, the kind of the last one and when the state last changed.
func (s *Source) Breakers() []secretcache.BreakerState {
	return s.set.Breakers()
}

// Fetch reads one secret version with GetSecretValue: ref.ID is a name, a
// full ARN or a partial ARN (without the random suffix); ref.VersionStage or
// ref.VersionID pick the version (neither means AWSCURRENT). It tries the
// regions in order, failing over on transient errors. An ARN of one of the
// source's regions is rewritten to the region it is sent to, and the
// returned ARN is in the region the ref names; an ARN of any other region is
// sent unchanged and its answer reported as returned. An empty, oversized
// (over secretcache.MaxIDLength) or malformed id, stage or version id fails
// with secretcache.ErrInvalidRequest before any call.
//
// Every answer is checked before it is served: it must name the secret
// asked for (name and ARN agreeing), carry a version id of AWS's form (the
// one asked for, if any), stages holding the one asked for (AWSCURRENT by
// default), a non-empty SecretString or SecretBinary, and a CreatedDate
// between 2018-04-01 and MaxClockSkew ahead of now. An answer that is not
// fails with secretcache.ErrMismatch, transient, holding an *AnswerError
// that says what was wrong (never the value); the next region is asked, as
// after a transient failure, but the region's breaker does not count it: the
// region answered. Other errors are *secretcache.Error holding a *CallError,
// with the SDK's error under it.
func (s *Source) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	if err := validateRef(ref); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return failover(s, octx, ctx, ref.ID, s.getCall(ref))
}

func (s *Source) getCall(ref secretcache.Ref) attempt[*secretcache.Secret] {
	return func(ctx context.Context, r *region) (*secretcache.Secret, error) {
		const op = "GetSecretValue"
		sent := inRegion(ref.ID, r.Name, s.names)
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(sent)}
		if ref.VersionID != "" {
			in.VersionId = aws.String(ref.VersionID)
		}
		if ref.VersionStage != "" {
			in.VersionStage = aws.String(ref.VersionStage)
		}
		start := time.Now()
		out, err := r.Client.GetSecretValue(ctx, in)
		if err != nil {
			err = newCallError(op, r.Name, err)
			s.observe(ctx, op, r.Name, start, err)
			return nil, err
		}
		sec, why := accept(ref, sent, getAnswer(out), time.Now())
		if why != "" {
			err = refused(ref.ID, op, r.Name, requestID(out.ResultMetadata), why)
		}
		s.observe(ctx, op, r.Name, start, err)
		return sec, err
	}
}

// ListNames returns the names of the secrets whose name starts with prefix
// (case-sensitive; "" lists all), sorted, by ListSecrets with a name filter,
// all pages, failing over between regions like Fetch. Secrets scheduled for
// deletion are left out. A prefix over 512 bytes or with a character no
// secret name can hold (names are letters, digits and /_+=.@-) fails with
// secretcache.ErrInvalidRequest before any call; so does a prefix matching
// more than MaxListNames secrets.
func (s *Source) ListNames(ctx context.Context, prefix string) ([]string, error) {
	if len(prefix) > maxPrefix || strings.ContainsFunc(prefix, func(r rune) bool { return !nameRune(r) }) {
		return nil, &secretcache.Error{Op: "list", ID: clip.ID(prefix), Kind: secretcache.ErrInvalidRequest,
			Err: fmt.Errorf("prefix must be at most %d characters of letters, digits and /_+=.@-", maxPrefix)}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	names, err := failover(s, octx, ctx, prefix, s.listCall(prefix))
	var se *secretcache.Error
	if errors.As(err, &se) && se.Op == "fetch" {
		se.Op = "list" // failover's errors are made for fetches
	}
	return names, err
}

func (s *Source) listCall(prefix string) attempt[[]string] {
	return func(ctx context.Context, r *region) ([]string, error) {
		in := &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(100)}
		if prefix != "" {
			in.Filters = []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix}}}
		}
		p := secretsmanager.NewListSecretsPaginator(r.Client, in, func(o *secretsmanager.ListSecretsPaginatorOptions) {
			o.StopOnDuplicateToken = true
		})
		seen := map[string]bool{}
		var names []string
		for p.HasMorePages() {
			start := time.Now()
			out, err := p.NextPage(ctx)
			if err != nil {
				err = newCallError("ListSecrets", r.Name, err)
			}
			s.observe(ctx, "ListSecrets", r.Name, start, err)
			if err != nil {
				return nil, err
			}
			for _, e := range out.SecretList {
				n := aws.ToString(e.Name)
				if n == "" || !strings.HasPrefix(n, prefix) || e.DeletedDate != nil || seen[n] {
					continue
				}
				seen[n] = true
				names = append(names, n)
			}
			if len(names) > MaxListNames {
				return nil, &secretcache.Error{Op: "list", ID: clip.ID(prefix), Kind: secretcache.ErrInvalidRequest,
					Err: fmt.Errorf("more than %d secrets match the prefix", MaxListNames)}
			}
		}
		slices.Sort(names)
		return names, nil
	}
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+=.@-", r)
}
