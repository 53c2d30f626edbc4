package awssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretcache/secretcache"
)

// BatchRecheckAfter is how long FetchBatch keeps using single
// GetSecretValue calls after BatchGetSecretValue was denied, before it tries
// the batch call again (the IAM policy may have changed).
const BatchRecheckAfter = time.Hour

// MaxListNames is the most names ListNames returns; a prefix that matches
// more is refused.
const MaxListNames = 10000

// maxPrefix is the longest prefix ListNames accepts (the ListSecrets filter
// limit).
const maxPrefix = 512

// Source reads secrets from AWS Secrets Manager, failing over between
// regions. It implements secretcache.Source, secretcache.BatchSource and
// secretcache.BreakerReporter, and is safe for concurrent use.
type Source struct {
	cfg     config
	log     *slog.Logger
	regions []*region
	names   []string // the regions' names, for inRegion

	batchOffUntil atomic.Int64 // unix nanos: single gets until then
	batchWarned   atomic.Bool
}

var (
	_ secretcache.BatchSource     = (*Source)(nil)
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
	if !c.regionsSet {
		if cfg.Region == "" {
			return nil, errors.New("awssm: no region: set aws.Config.Region or use WithRegions")
		}
		if err := validRegion(cfg.Region); err != nil {
			return nil, err
		}
		c.primary = cfg.Region
	}
	names := append([]string{c.primary}, c.replicas...)
	for r := range c.endpoints {
		if !slices.Contains(names, r) {
			return nil, fmt.Errorf("awssm: endpoint given for region %q, which is not in the region list %q", r, names)
		}
	}
	s := &Source{cfg: c, log: c.logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if worst := time.Duration(c.maxAttempts) * c.attemptTimeout; len(names) > 1 && worst >= c.timeout {
		s.log.Warn("awssm: a region that does not answer can use up the whole timeout before failover; "+
			"lower the attempts or the attempt timeout, or raise the timeout",
			"max_attempts", c.maxAttempts, "attempt_timeout", c.attemptTimeout, "timeout", c.timeout)
	}
	for i, name := range names {
		client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
			o.Region = name
			if ep, ok := c.endpoints[name]; ok {
				o.BaseEndpoint = aws.String(ep)
			}
			o.Retryer = s.newRetryer()
			o.RetryMaxAttempts = 0 // else the SDK wraps our retryer with cfg's
			o.APIOptions = append(slices.Clip(o.APIOptions), s.stackOptions()...)
		})
		s.regions = append(s.regions, s.newRegion(name, i == 0, client))
	}
	s.names = names
	return s, nil
}

// newRetryer returns a region's own retryer: the SDK's standard retryer
// (exponential backoff with full jitter, a retry quota), or its adaptive
// mode, which adds client-side rate limiting.
func (s *Source) newRetryer() aws.Retryer {
	std := func(o *retry.StandardOptions) {
		o.MaxAttempts = s.cfg.maxAttempts
		o.BaseDelay = s.cfg.backoffBase
		o.MaxBackoff = s.cfg.backoffMax
	}
	if s.cfg.adaptive {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, std)
		})
	}
	return retry.NewStandard(std)
}

// Regions returns the failover list: the primary region first.
func (s *Source) Regions() []string {
	out := make([]string, len(s.regions))
	for i, r := range s.regions {
		out[i] = r.name
	}
	return out
}

// Breakers reports the circuit breaker of each region, the primary first:
// its state ("closed", "open", "half-open"), its consecutive transient
// failures, the kind of the last one and when the state last changed.
func (s *Source) Breakers() []secretcache.BreakerState {
	out := make([]secretcache.BreakerState, len(s.regions))
	for i, r := range s.regions {
		out[i] = r.state()
	}
	return out
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
	octx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return failover(s, octx, ctx, ref.ID, s.getCall(ref))
}

func (s *Source) getCall(ref secretcache.Ref) attempt[*secretcache.Secret] {
	return func(ctx context.Context, r *region) (*secretcache.Secret, error) {
		const op = "GetSecretValue"
		sent := inRegion(ref.ID, r.name, s.names)
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(sent)}
		if ref.VersionID != "" {
			in.VersionId = aws.String(ref.VersionID)
		}
		if ref.VersionStage != "" {
			in.VersionStage = aws.String(ref.VersionStage)
		}
		start := time.Now()
		out, err := r.client.GetSecretValue(ctx, in)
		if err != nil {
			err = newCallError(op, r.name, err)
			s.observe(ctx, op, r.name, start, err)
			return nil, err
		}
		sec, why := accept(ref, sent, getAnswer(out), time.Now())
		if why != "" {
			err = refused(ref.ID, op, r.name, requestID(out.ResultMetadata), why)
		}
		s.observe(ctx, op, r.name, start, err)
		return sec, err
	}
}

// maxBatch is the most ids BatchGetSecretValue takes in one call.
const maxBatch = 20

// FetchBatch reads refs, one Result per ref in order. The refs asking for
// AWSCURRENT go by BatchGetSecretValue, up to maxBatch ids a
// call (more refs are split into several calls; repeated ids are sent once),
// every returned secret and per-secret error matched to its ref by name,
// full ARN or partial ARN, and checked as Fetch checks an answer; a ref the
// answer leaves unclear (no entry, several, a value and an error), whose
// entry fails the checks, or with a per-secret transient error, is read
// again with GetSecretValue, once (failing over like Fetch), and the other
// refs are served from the batch. A malformed entry is logged, with what was
// wrong, and its page reported to the call observers as ErrMismatch. Refs
// for another stage or a version id, and a lone ref, use GetSecretValue. If
// the caller may not call BatchGetSecretValue, FetchBatch falls back to
// single gets and keeps doing so for BatchRecheckAfter (logged once). Any
// other failure of the whole call that is not transient (a
// ValidationException, an InvalidNextTokenException, ...) says nothing about
// the secrets: each ref it held is read again with GetSecretValue. A
// transient failure of the whole call, in every region, sets the error of
// every ref it held. Invalid refs get secretcache.ErrInvalidRequest without
// a call; an empty refs gets an empty result.
func (s *Source) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	out := make([]secretcache.Result, len(refs))
	if len(refs) == 0 {
		return out
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()

	var singles []int
	byID := map[string][]int{}
	var ids []string
	batchOK := s.batchOn()
	for i, ref := range refs {
		if err := validateRef(ref); err != nil {
			out[i].Err = err
			continue
		}
		if !batchOK || !isCurrent(ref) {
			singles = append(singles, i)
			continue
		}
		if _, ok := byID[ref.ID]; !ok {
			ids = append(ids, ref.ID)
		}
		byID[ref.ID] = append(byID[ref.ID], i)
	}
	if len(ids) == 1 {
		singles = append(singles, byID[ids[0]]...)
		ids = nil
	}

	var mu sync.Mutex // guards out and again
	var again []int
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	single := func(i int) {
		sec, err := failover(s, octx, ctx, refs[i].ID, s.getCall(refs[i]))
		mu.Lock()
		out[i] = secretcache.Result{Secret: sec, Err: err}
		mu.Unlock()
	}
	for chunk := range slices.Chunk(ids, maxBatch) {
		run(func() {
			res, retryIDs := s.batch(octx, ctx, chunk, refs, byID)
			mu.Lock()
			defer mu.Unlock()
			for id, r := range res {
				for n, i := range byID[id] {
					if n > 0 && r.Secret != nil {
						r.Secret = r.Secret.Clone()
					}
					out[i] = r
				}
			}
			for _, id := range retryIDs {
				again = append(again, byID[id]...)
			}
		})
	}
	for _, i := range singles {
		run(func() { single(i) })
	}
	wg.Wait()
	for _, i := range again {
		run(func() { single(i) })
	}
	wg.Wait()
	return out
}

func (s *Source) batchOn() bool {
	return !s.cfg.noBatch && time.Now().UnixNano() >= s.batchOffUntil.Load()
}

// batch fetches up to MaxBatch distinct ids by BatchGetSecretValue. It
// returns the results it is sure of, by id, and the ids to read again one by
// one.
func (s *Source) batch(ctx, parent context.Context, ids []string, refs []secretcache.Ref, byID map[string][]int) (map[string]secretcache.Result, []string) {
	ans, err := failover(s, ctx, parent, "", s.batchCall(ids))
	if err != nil {
		kind, cause := secretcache.KindOf(err), err
		var se *secretcache.Error
		if errors.As(err, &se) && se.Err != nil {
			cause = se.Err
		}
		if kind == secretcache.ErrAccessDenied {
			s.batchOffUntil.Store(time.Now().Add(BatchRecheckAfter).UnixNano())
			if s.batchWarned.CompareAndSwap(false, true) {
				s.log.Warn("awssm: BatchGetSecretValue denied; using GetSecretValue per secret",
					"recheck_after", BatchRecheckAfter, "error", err)
			}
			return nil, ids
		}
		if !secretcache.IsTransient(err) {
			// The call was refused as a whole (a bad parameter, a bad page
			// token, ...): that is no answer about any one secret, and
			// must not drop their cached values. Ask for each alone.
			s.log.Warn("awssm: BatchGetSecretValue failed; reading each secret with GetSecretValue",
				"secrets", len(ids), "error", err)
			return nil, ids
		}
		res := make(map[string]secretcache.Result, len(ids))
		for _, id := range ids {
			res[id] = secretcache.Result{Err: &secretcache.Error{Op: "fetch", ID: id, Kind: kind, Err: cause}}
		}
		return res, nil
	}
	res := make(map[string]secretcache.Result, len(ids))
	var again []string
	now := time.Now()
	for i, id := range ids {
		sent := ans.sent[i]
		var hits, errs []int
		for j, v := range ans.values {
			if matches(sent, aws.ToString(v.ARN), aws.ToString(v.Name)) {
				hits = append(hits, j)
			}
		}
		for j, e := range ans.errs {
			if aws.ToString(e.SecretId) == sent {
				errs = append(errs, j)
			}
		}
		switch {
		case len(hits) == 1 && len(errs) == 0:
			// A malformed entry (batchCall logged it) is read again alone,
			// as a transient failure fails over: once, by GetSecretValue,
			// in every region if need be, and refused there too if it is
			// malformed there.
			sec, why := accept(refs[byID[id][0]], sent, entryAnswer(&ans.values[hits[0]]), now)
			if why != "" {
				again = append(again, id)
				continue
			}
			res[id] = secretcache.Result{Secret: sec}
		case len(hits) == 0 && len(errs) == 1:
			e := ans.errs[errs[0]]
			be := &BatchEntryError{SecretID: sent, Region: ans.region, Code: aws.ToString(e.ErrorCode), Message: aws.ToString(e.Message)}
			c := classifyCode(be.Code, be.Message, 0, 0)
			if c.failover {
				again = append(again, id)
				continue
			}
			res[id] = secretcache.Result{Err: &secretcache.Error{Op: "fetch", ID: id, Kind: c.kind, Err: be}}
		default:
			// Not answered, answered twice, or both a value and an error:
			// ask for it alone rather than guess.
			again = append(again, id)
		}
	}
	return res, again
}

// batchAnswer is what one region answered to BatchGetSecretValue, all pages.
type batchAnswer struct {
	region string
	ids    []string // the ids asked for
	sent   []string // the ids as sent, ARNs in region
	values []types.SecretValueEntry
	errs   []types.APIErrorType
	copies map[string]int // entries seen per secret (ARN and name)
}

func (s *Source) batchCall(ids []string) attempt[*batchAnswer] {
	return func(ctx context.Context, r *region) (*batchAnswer, error) {
		const op = "BatchGetSecretValue"
		a := &batchAnswer{region: r.name, ids: ids, sent: make([]string, len(ids)), copies: map[string]int{}}
		for i, id := range ids {
			a.sent[i] = inRegion(id, r.name, s.names)
		}
		in := &secretsmanager.BatchGetSecretValueInput{SecretIdList: slices.Clone(a.sent)}
		seen := map[string]bool{}
		for page := 0; ; page++ {
			start := time.Now()
			out, err := r.client.BatchGetSecretValue(ctx, in)
			if err != nil {
				err = newCallError(op, r.name, err)
				s.observe(ctx, op, r.name, start, err)
				return nil, err
			}
			var perr error
			if why := a.add(out, time.Now()); len(why) > 0 {
				// The page is served all the same, each entry on its own
				// merits (batch): report what was wrong with it.
				rid := requestID(out.ResultMetadata)
				s.log.Warn("awssm: refused part of a BatchGetSecretValue answer; any secret it leaves in doubt is read again alone",
					"region", r.name, "request_id", rid, "problems", why)
				perr = refused("", op, r.name, rid, fmt.Sprintf("%d of %d entries: %s", len(why),
					len(out.SecretValues)+len(out.Errors), strings.Join(why[:min(len(why), 3)], "; ")))
			}
			s.observe(ctx, op, r.name, start, perr)
			tok := aws.ToString(out.NextToken)
			// A token seen before or more pages than ids: stop; what is
			// missing is read one by one.
			if tok == "" || seen[tok] || page >= len(ids) {
				return a, nil
			}
			seen[tok] = true
			in = &secretsmanager.BatchGetSecretValueInput{SecretIdList: slices.Clone(a.sent), NextToken: aws.String(tok)}
		}
	}
}

// add takes in one page of the answer and returns what is wrong with it, if
// anything: entries that accept refuses, entries for no id asked for,
// entries repeated more often than ids name their secret, errors for no id
// asked for. It decides nothing: batch matches the entries to the ids.
func (a *batchAnswer) add(out *secretsmanager.BatchGetSecretValueOutput, now time.Time) []string {
	a.values = append(a.values, out.SecretValues...)
	a.errs = append(a.errs, out.Errors...)
	var why []string
	for k := range out.SecretValues {
		v := &out.SecretValues[k]
		arn, name := aws.ToString(v.ARN), aws.ToString(v.Name)
		asked := 0 // the ids that name this entry's secret
		first := -1
		for j, sent := range a.sent {
			if matches(sent, arn, name) {
				asked++
				if first < 0 {
					first = j
				}
			}
		}
		if first < 0 {
			got := name
			if got == "" {
				got = arn
			}
			why = append(why, fmt.Sprintf("an entry for %q, which was not asked for", shortID(got)))
			continue
		}
		id := a.ids[first]
		if _, p := accept(secretcache.Ref{ID: id}, a.sent[first], entryAnswer(v), now); p != "" {
			why = append(why, fmt.Sprintf("%q: %s", shortID(id), p))
		}
		key := arn + "\x00" + name
		if a.copies[key]++; a.copies[key] > asked {
			why = append(why, fmt.Sprintf("%q: answered %d times", shortID(id), a.copies[key]))
		}
	}
	for _, e := range out.Errors {
		if !slices.Contains(a.sent, aws.ToString(e.SecretId)) {
			why = append(why, fmt.Sprintf("an error for %q, which was not asked for", shortID(aws.ToString(e.SecretId))))
		}
	}
	return why
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
		return nil, &secretcache.Error{Op: "list", ID: shortID(prefix), Kind: secretcache.ErrInvalidRequest,
			Err: fmt.Errorf("prefix must be at most %d characters of letters, digits and /_+=.@-", maxPrefix)}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
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
		p := secretsmanager.NewListSecretsPaginator(r.client, in, func(o *secretsmanager.ListSecretsPaginatorOptions) {
			o.StopOnDuplicateToken = true
		})
		seen := map[string]bool{}
		var names []string
		for p.HasMorePages() {
			start := time.Now()
			out, err := p.NextPage(ctx)
			if err != nil {
				err = newCallError("ListSecrets", r.name, err)
			}
			s.observe(ctx, "ListSecrets", r.name, start, err)
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
				return nil, &secretcache.Error{Op: "list", ID: shortID(prefix), Kind: secretcache.ErrInvalidRequest,
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
