package ssmparam

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsfail"
	"github.com/secretcache/secretcache/internal/clip"
)

// FetchBatch reads refs with GetParameters, MaxBatch names a call (more
// refs are split into several calls, one after the other; a name repeated
// is sent once), one Result per ref in order. Each returned parameter is
// matched to its ref by name (or ARN) and selector and checked as Fetch
// checks an answer; a name AWS lists in InvalidParameters is
// secretcache.ErrNotFound for its refs (a missing parameter, version or
// label). A ref the answer leaves out (or that cannot be told apart in it:
// an answer without Selector, as moto's) is read again alone with
// GetParameter; one whose parameter fails the checks gets
// secretcache.ErrMismatch (transient). A failure of a whole call, in
// every region, sets the error of every ref it held. Invalid refs get
// secretcache.ErrInvalidRequest without a call; an empty refs an empty
// result.
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
	sels := make([]selector, len(refs))
	var names []string     // distinct names to send, in order
	at := map[string]int{} // sent name -> index in names
	for i, ref := range refs {
		sel, err := parseRef(ref)
		if err == nil {
			err = s.checkReference(ref.ID, sel)
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		sels[i] = sel
		if _, ok := at[sel.sent()]; !ok {
			at[sel.sent()] = len(names)
			names = append(names, sel.sent())
		}
	}
	for start := 0; start < len(names); start += MaxBatch {
		chunk := names[start:min(start+MaxBatch, len(names))]
		ans, err := awsfail.Run(s.set, octx, ctx, "", s.batchCall(chunk))
		for i, ref := range refs {
			if out[i].Err != nil || out[i].Secret != nil {
				continue
			}
			sent := sels[i].sent()
			if j := at[sent]; j < start || j >= start+len(chunk) {
				continue
			}
			if err != nil {
				var se *secretcache.Error
				if errors.As(err, &se) {
					cp := *se
					cp.ID = clip.ID(ref.ID)
					out[i].Err = &cp
				} else {
					out[i].Err = err
				}
				continue
			}
			out[i] = ans.result(ref.ID, sels[i])
			if out[i].Err == errNoEntry {
				// Not in the answer, or not recognisable in it (a label
				// read answered without Selector): read alone.
				s, err := s.Fetch(ctx, ref)
				out[i] = secretcache.Result{Secret: s, Err: err}
			}
		}
	}
	return out
}

// errNoEntry marks a ref its batch answer has no entry for.
var errNoEntry = errors.New("ssmparam: no entry in the batch answer")

// batchAnswer is what one region answered to one GetParameters call.
type batchAnswer struct {
	region    string
	requestID string
	params    map[string]int // name+selector and ARN+selector -> index in out.Parameters
	invalid   map[string]bool
	out       *ssm.GetParametersOutput
}

func (a *batchAnswer) result(id string, sel selector) secretcache.Result {
	const op = "GetParameters"
	sent := sel.sent()
	if a.invalid[sent] {
		return secretcache.Result{Err: &secretcache.Error{Op: "fetch", ID: clip.ID(id), Kind: secretcache.ErrNotFound,
			Err: fmt.Errorf("%s in %s: parameter listed in InvalidParameters", op, a.region)}}
	}
	j, ok := a.params[sent]
	if !ok && sel.version != "" {
		// An answer without Selector (moto's): the version tells.
		j, ok = a.params[sel.name+"#"+sel.version]
	}
	if !ok {
		return secretcache.Result{Err: errNoEntry}
	}
	sec, why := accept(id, sel, &a.out.Parameters[j])
	if why != "" {
		return secretcache.Result{Err: refused(id, op, a.region, a.requestID, why)}
	}
	return secretcache.Result{Secret: sec}
}

func (s *Source) batchCall(names []string) awsfail.Attempt[*ssm.Client, *batchAnswer] {
	return func(ctx context.Context, r *region) (*batchAnswer, error) {
		const op = "GetParameters"
		in := &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(!s.cfg.noDecryption)}
		start := time.Now()
		out, err := r.Client.GetParameters(ctx, in)
		if err != nil {
			err = awsfail.NewCallError(op, r.Name, err)
			s.cfg.Observe(ctx, op, r.Name, start, err, classify)
			return nil, err
		}
		s.cfg.Observe(ctx, op, r.Name, start, nil, classify)
		a := &batchAnswer{region: r.Name, requestID: requestID(out.ResultMetadata), out: out,
			params: map[string]int{}, invalid: map[string]bool{}}
		for _, n := range out.InvalidParameters {
			a.invalid[n] = true
		}
		for j, p := range out.Parameters {
			sel := aws.ToString(p.Selector) // ":3", ":label" or ""
			if sel != "" && !strings.HasPrefix(sel, ":") {
				sel = ":" + sel
			}
			for _, k := range []string{aws.ToString(p.Name), aws.ToString(p.ARN)} {
				if k == "" {
					continue
				}
				if i, seen := a.params[k+sel]; !seen || sel != "" || out.Parameters[i].Version < p.Version {
					// Without Selectors (moto), the latest version is
					// the highest.
					a.params[k+sel] = j
				}
				if sel == "" {
					a.params[k+"#"+strconv.FormatInt(p.Version, 10)] = j
				}
			}
		}
		return a, nil
	}
}
