package awssm

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/smtest"
)

// good is a well-formed answer for "app" at AWSCURRENT.
func good(now time.Time) answer {
	return answer{arn: aws.String(arnA), name: aws.String("app"), versionID: aws.String(strings.Repeat("1", 32)),
		stages: []string{"AWSCURRENT"}, str: aws.String("v"), created: aws.Time(now.Add(-time.Hour))}
}

func TestAcceptBoundaries(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cur := secretcache.Ref{ID: "app"}
	cases := []struct {
		name   string
		ref    secretcache.Ref
		change func(a *answer)
		want   string // "" accepted, else part of the problem
	}{
		{"good", cur, func(*answer) {}, ""},
		{"binary", cur, func(a *answer) { a.str, a.bin = nil, []byte{0} }, ""},
		{"empty binary", cur, func(a *answer) { a.str, a.bin = nil, []byte{} }, "an empty SecretBinary"},
		{"empty binary and a string", cur, func(a *answer) { a.bin = []byte{} }, "both"},
		{"created exactly MaxClockSkew ahead", cur, func(a *answer) { a.created = aws.Time(now.Add(MaxClockSkew)) }, ""},
		{"created a second more", cur, func(a *answer) { a.created = aws.Time(now.Add(MaxClockSkew + time.Second)) }, "ahead"},
		{"created at the launch", cur, func(a *answer) { a.created = aws.Time(secretsManagerLaunch) }, ""},
		{"created a second before", cur, func(a *answer) { a.created = aws.Time(secretsManagerLaunch.Add(-time.Second)) }, "before"},
		{"created zero", cur, func(a *answer) { a.created = aws.Time(time.Time{}) }, "before"},
		{"version id 32", cur, func(a *answer) { a.versionID = aws.String(strings.Repeat("a", 32)) }, ""},
		{"version id 64", cur, func(a *answer) { a.versionID = aws.String(strings.Repeat("a", 64)) }, ""},
		{"version id 31", cur, func(a *answer) { a.versionID = aws.String(strings.Repeat("a", 31)) }, "VersionId of 31 bytes"},
		{"version id with a space", cur, func(a *answer) { a.versionID = aws.String(strings.Repeat("a", 31) + " ") }, "printable"},
		{"version id with DEL", cur, func(a *answer) { a.versionID = aws.String(strings.Repeat("a", 31) + "\x7f") }, "printable"},
		{"version id not ASCII", cur, func(a *answer) { a.versionID = aws.String(strings.Repeat("a", 30) + "é") }, "printable"},
		// A version asked for by id alone may carry no stage (deprecated).
		{"no stages, asked by version id", secretcache.Ref{ID: "app", VersionID: strings.Repeat("1", 32)},
			func(a *answer) { a.stages = nil }, ""},
		{"no stages, asked by stage", secretcache.Ref{ID: "app", VersionStage: "AWSPENDING"},
			func(a *answer) { a.stages = nil }, `no VersionStages (asked for stage "AWSPENDING")`},
		{"a long stage label", cur, func(a *answer) { a.stages = append(a.stages, strings.Repeat("s", 257)) }, "label"},
		{"name only", cur, func(a *answer) { a.arn = nil }, ""},
		{"ARN only, asked by name", cur, func(a *answer) { a.name = nil }, `asked for "app"`},
		{"ARN only, asked by ARN", secretcache.Ref{ID: arnA}, func(a *answer) { a.name = nil }, ""},
		{"ARN whose suffix is not 6 characters", cur,
			func(a *answer) { a.arn = aws.String(arnA[:len(arnA)-7] + "-AbCdE") }, "is not one of its name"},
		{"every problem listed", cur, func(a *answer) { a.versionID, a.str, a.created = nil, nil, nil },
			"no VersionId; no SecretString or SecretBinary; no CreatedDate"},
	}
	for _, c := range cases {
		a := good(now)
		c.change(&a)
		s, why := accept(c.ref, c.ref.ID, a, now)
		switch {
		case c.want == "" && (why != "" || s == nil):
			t.Errorf("%s: refused: %s", c.name, why)
		case c.want != "" && (s != nil || !strings.Contains(why, c.want)):
			t.Errorf("%s: got %v, problem %q; want a problem with %q", c.name, s, why, c.want)
		}
	}
}

// BenchmarkAnswerCheck measures what checking an answer costs (accept) next
// to the read it guards (a GetSecretValue over loopback HTTP to smtest with
// the real SDK, in the same run).
func BenchmarkAnswerCheck(b *testing.B) {
	b.Run("accept", func(b *testing.B) {
		now := time.Now()
		a := good(now)
		ref := secretcache.Ref{ID: "app"}
		b.ReportAllocs()
		for b.Loop() {
			if _, why := accept(ref, "app", a, now); why != "" {
				b.Fatal(why)
			}
		}
	})
	b.Run("fetch", func(b *testing.B) {
		srv := smtest.NewServer()
		defer srv.Close()
		srv.CreateSecret("us-east-1", "app", "value")
		src, err := New(srv.AWSConfig("us-east-1"), WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Fetch(context.Background(), secretcache.Ref{ID: "app"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
