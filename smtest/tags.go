package smtest

// Tags: TagResource, UntagResource, and the tags CreateSecret takes.

import (
	"context"
	"slices"
)

type tagIn struct {
	Key   *string
	Value *string
}

type tagResourceIn struct {
	SecretId *string
	Tags     []tagIn
}

type untagResourceIn struct {
	SecretId *string
	TagKeys  []string
}

func checkTags(tags []tagIn) ([]tag, error) {
	if len(tags) > 50 {
		return nil, apiErr(codeValidation, "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	out := make([]tag, 0, len(tags))
	for _, t := range tags {
		if t.Key == nil {
			return nil, errNull("tags.member.key")
		}
		if len(*t.Key) == 0 || len(*t.Key) > 128 {
			return nil, apiErr(codeValidation, "1 validation error detected: Value at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128")
		}
		v := ""
		if t.Value != nil {
			v = *t.Value
		}
		if len(v) > 256 {
			return nil, errTooLong("tags.member.value", 256)
		}
		out = append(out, tag{Key: *t.Key, Value: v})
	}
	return out, nil
}

func mergeTags(old, add []tag) []tag {
	out := slices.Clone(old)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(x tag) bool { return x.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	return out
}

func tagsOut(tags []tag) []obj {
	if tags == nil {
		return nil
	}
	out := make([]obj, 0, len(tags))
	for _, t := range tags {
		out = append(out, obj{"Key": t.Key, "Value": t.Value})
	}
	return out
}

func (srv *Server) opTagResource(ctx context.Context, region string, in *tagResourceIn) (any, []ChangeEvent, error) {
	if in.Tags == nil {
		return nil, nil, errNull("tags")
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, nil, err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findPrimary(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	merged := mergeTags(s.tags, tags)
	if len(merged) > 50 {
		return nil, nil, apiErr("LimitExceededException", "A secret can have at most 50 tags.")
	}
	s.tags = merged
	return obj{}, srv.events(s, "TagResource", nil), nil
}

func (srv *Server) opUntagResource(ctx context.Context, region string, in *untagResourceIn) (any, []ChangeEvent, error) {
	if in.TagKeys == nil {
		return nil, nil, errNull("tagKeys")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findPrimary(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	s.tags = slices.DeleteFunc(s.tags, func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	return obj{}, srv.events(s, "UntagResource", nil), nil
}
