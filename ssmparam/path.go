package ssmparam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsfail"
	"github.com/secretcache/secretcache/internal/clip"
)

// MaxListNames is the most names ListNames returns; a path holding more is
// refused.
const MaxListNames = 10000

// ListNames returns the names of the parameters under path, at every level
// below it (GetParametersByPath, recursive, all pages of 10), sorted, for a
// warm-up: cache.Warm(ctx, names...) then reads them in batches of 10. path
// must begin with "/" (a hierarchy; "/" lists every parameter whose name
// begins with "/"), hold only letters, digits and ._-/, and be at most 2048
// bytes; else, or when more than MaxListNames parameters match, it fails
// with secretcache.ErrInvalidRequest before (or instead of) serving names.
// It fails over between regions like Fetch. The values the listing returns
// are dropped: the cache reads each parameter itself, with its own checks.
func (s *Source) ListNames(ctx context.Context, path string) ([]string, error) {
	if err := checkPath(path); err != nil {
		return nil, &secretcache.Error{Op: "list", ID: clip.ID(path), Kind: secretcache.ErrInvalidRequest, Err: err}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	names, err := awsfail.Run(s.set, octx, ctx, path, s.pathCall(path))
	var se *secretcache.Error
	if errors.As(err, &se) && se.Op == "fetch" {
		se.Op = "list"
	}
	return names, err
}

func checkPath(path string) error {
	switch {
	case path == "" || path[0] != '/':
		return errors.New("parameter path must begin with /")
	case len(path) > MaxNameLength:
		return fmt.Errorf("parameter path is %d bytes, over the limit of %d", len(path), MaxNameLength)
	case strings.ContainsFunc(path, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r))
	}):
		return errors.New("parameter path may hold letters, digits and ._-/ only")
	}
	return nil
}

func (s *Source) pathCall(path string) awsfail.Attempt[*ssm.Client, []string] {
	return func(ctx context.Context, r *region) ([]string, error) {
		const op = "GetParametersByPath"
		in := &ssm.GetParametersByPathInput{Path: aws.String(path), Recursive: aws.Bool(true),
			MaxResults: aws.Int32(10), WithDecryption: aws.Bool(false)}
		p := ssm.NewGetParametersByPathPaginator(r.Client, in, func(o *ssm.GetParametersByPathPaginatorOptions) {
			o.StopOnDuplicateToken = true
		})
		seen := map[string]bool{}
		var names []string
		for p.HasMorePages() {
			start := time.Now()
			out, err := p.NextPage(ctx)
			if err != nil {
				err = awsfail.NewCallError(op, r.Name, err)
			}
			s.cfg.Observe(ctx, op, r.Name, start, err, classify)
			if err != nil {
				return nil, err
			}
			for _, prm := range out.Parameters {
				n := aws.ToString(prm.Name)
				if n == "" || seen[n] {
					continue
				}
				seen[n] = true
				names = append(names, n)
			}
			if len(names) > MaxListNames {
				return nil, &secretcache.Error{Op: "list", ID: clip.ID(path), Kind: secretcache.ErrInvalidRequest,
					Err: fmt.Errorf("more than %d parameters under the path", MaxListNames)}
			}
		}
		slices.Sort(names)
		return names, nil
	}
}
