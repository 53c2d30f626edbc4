package awssm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/internal/clip"
)

// BatchRecheckAfter is how long FetchBatch keeps using single
// GetSecretValue calls after BatchGetSecretValue was denied, before it tries
// the batch call again (the IAM policy may have changed).
const BatchRecheckAfter = time.Hour

// batchWorkers is how many calls one FetchBatch makes at a time.
const batchWorkers = 4

// FetchBatch reads refs, one Result per ref in order. The refs asking for
// AWSCURRENT go by BatchGetSecretValue, up to 20 ids a call (more refs are
// split into several calls; repeated ids are sent once), every returned
// secret and per-secret error matched to its ref by name, full ARN or
// partial ARN, and checked as Fetch checks an answer; a ref the answer
// leaves unclear (no entry, several, a value and an error), whose entry
// fails the checks, or with a per-secret transient error, is read again with
// GetSecretValue, once (failing over like Fetch), and the other refs are
// served from the batch. A malformed entry is logged, with what was wrong,
// and its page reported to the call observers as ErrMismatch. Refs for
// another stage or a version id, and a lone ref, use GetSecretValue. If the
// caller may not call BatchGetSecretValue, FetchBatch falls back to single
// gets and keeps doing so for BatchRecheckAfter (logged once). Any other
// failure of the whole call that is not transient (a ValidationException, an
// InvalidNextTokenException, ...) says nothing about the secrets: each ref
// it held is read again with GetSecretValue. A transient failure of the
// whole call, in every region, sets the error of every ref it held. Invalid
// refs get secretcache.ErrInvalidRequest without a call; an empty refs gets
// an empty result.
func (s *Source) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	out := make([]secretcache.Result, len(refs))
	if len(refs) == 0 {
		return out
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	b := &batchRun{s: s, ctx: octx, parent: ctx, refs: refs, out: out, sem: make(chan struct{}, batchWorkers)}
	b.plan(s.batchOn())
	// The batch calls and the refs read alone, together; then the refs the
	// batch answers left in doubt, alone.
	for chunk := range slices.Chunk(b.ids, s.Describe().MaxBatch) {
		b.spawn(func() { b.batch(chunk) })
	}
	for _, i := range b.singles {
		b.spawn(func() { b.single(i) })
	}
	b.wg.Wait()
	for _, i := range b.again {
		b.spawn(func() { b.single(i) })
	}
	b.wg.Wait()
	return out
}

func (s *Source) batchOn() bool {
	return !s.cfg.noBatch && time.Now().UnixNano() >= s.batchOffUntil.Load()
}

// batchRun is one FetchBatch under way.
type batchRun struct {
	s      *Source
	ctx    context.Context // bounded by the source's timeout
	parent context.Context // the caller's: once it is done, failures are the caller's doing
	refs   []secretcache.Ref

	ids     []string         // the distinct ids read by BatchGetSecretValue, first seen first
	byID    map[string][]int // the refs of each of those ids
	singles []int            // the refs read with GetSecretValue

	sem chan struct{} // bounds the calls under way
	wg  sync.WaitGroup

	mu    sync.Mutex           // guards out and again
	out   []secretcache.Result // one per ref
	again []int                // the refs the batch answers left in doubt
}

// plan sorts the refs: an invalid ref gets its error at once; a ref for
// AWSCURRENT goes in a batch when batches are on, any other ref alone. One
// id alone is not worth a batch call.
func (b *batchRun) plan(batchOn bool) {
	b.byID = map[string][]int{}
	for i, ref := range b.refs {
		if err := validateRef(ref); err != nil {
			b.out[i].Err = err
			continue
		}
		if !batchOn || !awsname.IsCurrent(ref) {
			b.singles = append(b.singles, i)
			continue
		}
		if _, ok := b.byID[ref.ID]; !ok {
			b.ids = append(b.ids, ref.ID)
		}
		b.byID[ref.ID] = append(b.byID[ref.ID], i)
	}
	if len(b.ids) == 1 {
		b.singles = append(b.singles, b.byID[b.ids[0]]...)
		b.ids = nil
	}
}

// spawn runs f on its own goroutine once fewer than batchWorkers calls are
// under way.
func (b *batchRun) spawn(f func()) {
	b.wg.Add(1)
	b.sem <- struct{}{}
	go func() {
		defer func() { <-b.sem; b.wg.Done() }()
		f()
	}()
}

// single reads ref i with GetSecretValue, failing over like Fetch.
func (b *batchRun) single(i int) {
	sec, err := failover(b.s, b.ctx, b.parent, b.refs[i].ID, b.s.getCall(b.refs[i]))
	b.mu.Lock()
	b.out[i] = secretcache.Result{Secret: sec, Err: err}
	b.mu.Unlock()
}

// batch reads ids with one BatchGetSecretValue (all pages) and gives every
// ref of each id its result; a ref of an id left in doubt is queued to be
// read again alone. Refs repeating an id get their own copy of the secret.
func (b *batchRun) batch(ids []string) {
	res, retryIDs := b.s.batch(b.ctx, b.parent, ids, b.refs, b.byID)
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, r := range res {
		for n, i := range b.byID[id] {
			if n > 0 && r.Secret != nil {
				r.Secret = r.Secret.Clone()
			}
			b.out[i] = r
		}
	}
	for _, id := range retryIDs {
		b.again = append(b.again, b.byID[id]...)
	}
}

// batch fetches up to Describe().MaxBatch distinct ids by BatchGetSecretValue. It
// returns the results it is sure of, by id, and the ids to read again one by
// one.
func (s *Source) batch(ctx, parent context.Context, ids []string, refs []secretcache.Ref, byID map[string][]int) (map[string]secretcache.Result, []string) {
	ans, err := failover(s, ctx, parent, "", s.batchCall(ids))
	if err != nil {
		return s.batchFailed(ids, err)
	}
	res := make(map[string]secretcache.Result, len(ids))
	var again []string
	now := time.Now()
	for i, id := range ids {
		r, ok := ans.result(i, refs[byID[id][0]], now)
		if !ok {
			again = append(again, id)
			continue
		}
		res[id] = r
	}
	return res, again
}

// batchFailed decides what a failure of a whole batch call, in every region,
// means for its ids: the results, or the ids to read again alone.
func (s *Source) batchFailed(ids []string, err error) (map[string]secretcache.Result, []string) {
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
		// token, ...): that is no answer about any one secret, and must
		// not drop their cached values. Ask for each alone.
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

// batchAnswer is what one region answered to BatchGetSecretValue, all pages.
type batchAnswer struct {
	region string
	ids    []string // the ids asked for
	sent   []string // the ids as sent, ARNs in region
	values []types.SecretValueEntry
	errs   []types.APIErrorType
	copies map[string]int // entries seen per secret (ARN and name)
}

// result is the answer for ids[i], asked for by ref: ok is false when the
// answer leaves it in doubt and it must be read again alone.
func (a *batchAnswer) result(i int, ref secretcache.Ref, now time.Time) (r secretcache.Result, ok bool) {
	sent := a.sent[i]
	var hits, errs []int
	for j, v := range a.values {
		if matches(sent, aws.ToString(v.ARN), aws.ToString(v.Name)) {
			hits = append(hits, j)
		}
	}
	for j, e := range a.errs {
		if aws.ToString(e.SecretId) == sent {
			errs = append(errs, j)
		}
	}
	switch {
	case len(hits) == 1 && len(errs) == 0:
		// A malformed entry (batchCall logged it) is read again alone, as
		// a transient failure fails over: once, by GetSecretValue, in
		// every region if need be, and refused there too if it is
		// malformed there.
		sec, why := accept(ref, sent, entryAnswer(&a.values[hits[0]]), now)
		return secretcache.Result{Secret: sec}, why == ""
	case len(hits) == 0 && len(errs) == 1:
		e := a.errs[errs[0]]
		be := &BatchEntryError{SecretID: sent, Region: a.region, Code: aws.ToString(e.ErrorCode), Message: aws.ToString(e.Message)}
		c := classifyCode(be.Code, be.Message, 0, 0)
		if c.failover {
			return secretcache.Result{}, false
		}
		return secretcache.Result{Err: &secretcache.Error{Op: "fetch", ID: a.ids[i], Kind: c.kind, Err: be}}, true
	}
	// Not answered, answered twice, or both a value and an error: ask for
	// it alone rather than guess.
	return secretcache.Result{}, false
}

func (s *Source) batchCall(ids []string) attempt[*batchAnswer] {
	return func(ctx context.Context, r *region) (*batchAnswer, error) {
		const op = "BatchGetSecretValue"
		a := &batchAnswer{region: r.Name, ids: ids, sent: make([]string, len(ids)), copies: map[string]int{}}
		for i, id := range ids {
			a.sent[i] = inRegion(id, r.Name, s.names)
		}
		in := &secretsmanager.BatchGetSecretValueInput{SecretIdList: slices.Clone(a.sent)}
		seen := map[string]bool{}
		for page := 0; ; page++ {
			start := time.Now()
			out, err := r.Client.BatchGetSecretValue(ctx, in)
			if err != nil {
				err = newCallError(op, r.Name, err)
				s.observe(ctx, op, r.Name, start, err)
				return nil, err
			}
			var perr error
			if why := a.add(out, time.Now()); len(why) > 0 {
				// The page is served all the same, each entry on its own
				// merits (batch): report what was wrong with it.
				rid := requestID(out.ResultMetadata)
				s.log.Warn("awssm: refused part of a BatchGetSecretValue answer; any secret it leaves in doubt is read again alone",
					"region", r.Name, "request_id", rid, "problems", why)
				perr = refused("", op, r.Name, rid, fmt.Sprintf("%d of %d entries: %s", len(why),
					len(out.SecretValues)+len(out.Errors), strings.Join(why[:min(len(why), 3)], "; ")))
			}
			s.observe(ctx, op, r.Name, start, perr)
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
			why = append(why, fmt.Sprintf("an entry for %q, which was not asked for", clip.ID(got)))
			continue
		}
		id := a.ids[first]
		if _, p := accept(secretcache.Ref{ID: id}, a.sent[first], entryAnswer(v), now); p != "" {
			why = append(why, fmt.Sprintf("%q: %s", clip.ID(id), p))
		}
		key := arn + "\x00" + name
		if a.copies[key]++; a.copies[key] > asked {
			why = append(why, fmt.Sprintf("%q: answered %d times", clip.ID(id), a.copies[key]))
		}
	}
	for _, e := range out.Errors {
		if !slices.Contains(a.sent, aws.ToString(e.SecretId)) {
			why = append(why, fmt.Sprintf("an error for %q, which was not asked for", clip.ID(aws.ToString(e.SecretId))))
		}
	}
	return why
}
