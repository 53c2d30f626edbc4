package secretcache_test

import (
	"context"
	"errors"
	"testing"

	"github.com/secretcache/secretcache"
)

// FuzzGet: whatever the id, stage and version, a read either fails with
// ErrInvalidRequest before reaching the source or returns exactly the
// secret asked for; it never panics and never confuses two refs.
func FuzzGet(f *testing.F) {
	for _, s := range [][3]string{{"prod/db", "", ""}, {"prod/db", "AWSPENDING", ""}, {"a", "", "v1"},
		{"\x00AWSPENDING\x00\x00a", "", ""}, {"", "", ""}, {"arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf", "", ""},
		{"a b", "", ""}, {"a", "AWSCURRENT", ""}, {"\xff", "", ""}} {
		f.Add(s[0], s[1], s[2])
	}
	src := awsLike{secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		var stages []string
		if ref.VersionStage != "" {
			stages = []string{ref.VersionStage}
		}
		return &secretcache.Secret{Name: ref.ID, VersionID: ref.VersionID, VersionStages: stages,
			String: ref.ID + "|" + ref.VersionStage + "|" + ref.VersionID}, nil
	})}
	c, err := secretcache.New(src, secretcache.WithLogger(quiet()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	f.Fuzz(func(t *testing.T, id, stage, version string) {
		var opts []secretcache.GetOption
		if stage != "" {
			opts = append(opts, secretcache.WithVersionStage(stage))
		}
		if version != "" {
			opts = append(opts, secretcache.WithVersionID(version))
		}
		for range 2 { // a miss, then a hit
			got, err := c.GetString(context.Background(), id, opts...)
			if err != nil {
				if !errors.Is(err, secretcache.ErrInvalidRequest) {
					t.Fatalf("id %q stage %q version %q: %v", id, stage, version, err)
				}
				return
			}
			wantStage := stage
			if stage == "" && version == "" {
				wantStage = "AWSCURRENT"
			}
			if want := id + "|" + wantStage + "|" + version; got != want {
				t.Fatalf("asked %q, got %q", want, got)
			}
		}
	})
}
