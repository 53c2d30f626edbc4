package agent

import (
	"testing"
)

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"secretId=a", "secretId=a&versionStage=b&refreshNow=true&field=k", "&&=&%zz", "a;b", "field="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, msg := parseQuery(raw, true)
		if msg == "" && q.hasField && q.field == "" {
			t.Fatalf("empty field accepted for %q", raw)
		}
	})
}
