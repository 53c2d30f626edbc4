package awssm_test

import (
	"strings"
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// In a batch a malformed entry affects its ref only: the others are served
// from the batch, and that ref is read again alone, once, by GetSecretValue
// in each region (as after a transient per-secret error), and refused where
// the answer is malformed too. No loop: one batch call, one single get per
// region.
func TestFetchBatchMalformedEntry(t *testing.T) {
	f := newAnswerFixture(t)
	for _, c := range malformedCases {
		t.Run(c.name, func(t *testing.T) {
			var calls callLog
			var logs logBuffer
			src := newSource(t, f.srv, awssm.WithCallObserver(calls.observe), awssm.WithLogger(logs.logger()))
			ref := c.refOf(f)
			batched := ref.VersionStage == "" && ref.VersionID == ""
			refs := []secretcache.Ref{{ID: "a"}, ref, {ID: "c"}}
			check := func(res []secretcache.Result) {
				t.Helper()
				for i, n := range []string{"a", "", "c"} {
					if n != "" && (res[i].Err != nil || res[i].Secret.String != n+"-value") {
						t.Fatalf("%s: %v %v", n, res[i].Secret, res[i].Err)
					}
				}
			}

			// Every answer for db malformed, in every region.
			f.srv.SetFault("", "", smtest.Fault{Rewrite: rewriteDB(c.m(f))})
			defer f.srv.ClearFaults()
			f.srv.ResetCalls()
			res := src.FetchBatch(bg, refs)
			check(res)
			if res[1].Secret != nil {
				t.Fatalf("served %+v", res[1].Secret)
			}
			mustRefuse(t, res[1].Err, ref.ID, "GetSecretValue", replica, c.want)
			if b, gp, gr := f.srv.Calls("", "BatchGetSecretValue"), f.srv.Calls(primary, "GetSecretValue"),
				f.srv.Calls(replica, "GetSecretValue"); b != 1 || gp != 1 || gr != 1 {
				t.Fatalf("%d batch calls, %d and %d single gets; want 1, 1 and 1", b, gp, gr)
			}
			got := calls.take()
			if batched {
				if len(got) == 0 || got[0] != "BatchGetSecretValue "+primary+" mismatch" || !strings.Contains(logs.String(), "refused part of a BatchGetSecretValue answer") {
					t.Fatalf("observed %q, logged %s", got, logs.String())
				}
			}
			if strings.Contains(logs.String(), dbValue) {
				t.Fatal("the value was logged")
			}

			// Only the batch answer malformed: the single get serves db.
			f.srv.ClearFault("", "")
			f.srv.SetFault("", "BatchGetSecretValue", smtest.Fault{Rewrite: rewriteDB(c.m(f))})
			f.srv.ResetCalls()
			res = src.FetchBatch(bg, refs)
			check(res)
			if res[1].Err != nil || res[1].Secret.Name != "db" {
				t.Fatalf("db: %v %v", res[1].Secret, res[1].Err)
			}
			if b, g := f.srv.Calls("", "BatchGetSecretValue"), f.srv.Calls("", "GetSecretValue"); b != 1 || g != 1 {
				t.Fatalf("%d batch calls and %d single gets, want 1 and 1", b, g)
			}

			// The primary down: the batch fails over to the replica (ARNs
			// rewritten to it), whose malformed entry for db is refused
			// as well.
			f.srv.ClearFaults()
			f.srv.SetFault(primary, "", smtest.Fault{ErrorCode: "InternalServiceError"})
			f.srv.SetFault(replica, "", smtest.Fault{Rewrite: rewriteDB(c.m(f))})
			arnRefs := []secretcache.Ref{{ID: arnOf(t, f.srv, "a")}, ref, {ID: "c"}}
			res = src.FetchBatch(bg, arnRefs)
			check(res)
			if res[0].Secret.ARN != arnRefs[0].ID {
				t.Fatalf("a: ARN %s, want %s", res[0].Secret.ARN, arnRefs[0].ID)
			}
			if res[1].Secret != nil {
				t.Fatalf("served %+v", res[1].Secret)
			}
			mustRefuse(t, res[1].Err, ref.ID, "GetSecretValue", replica, c.want)
		})
	}
}

func arnOf(t *testing.T, srv *smtest.Server, name string) string {
	t.Helper()
	info, ok := srv.Secret(primary, name)
	if !ok {
		t.Fatalf("no secret %s", name)
	}
	return info.ARN
}

// Batch answers that are broken as a whole rather than in one entry: an
// entry repeated (the same or with another value or version), an entry for
// a secret not asked for (added, or in place of the one asked for), an
// error for an id not asked for, a value and an error for one id. Nothing
// is guessed: a ref with no single clear answer is read alone; the others
// are served from the batch; the call observer reports the answer as a
// mismatch.
func TestFetchBatchDuplicateAndStrayEntries(t *testing.T) {
	f := newAnswerFixture(t)
	copyDB := func(a map[string]any, change func(e map[string]any)) {
		vals := a["SecretValues"].([]any)
		for _, v := range vals {
			if e := v.(map[string]any); e["Name"] == "db" {
				c := map[string]any{}
				for k, x := range e {
					c[k] = x
				}
				change(c)
				a["SecretValues"] = append(vals, c)
				return
			}
		}
	}
	cases := []struct {
		name    string
		rewrite func(a map[string]any)
		reread  bool // db is read alone
	}{
		{"duplicated entry", func(a map[string]any) { copyDB(a, func(map[string]any) {}) }, true},
		{"duplicated entry with another value", func(a map[string]any) { copyDB(a, set("SecretString", "evil")) }, true},
		{"duplicated entry with another version", func(a map[string]any) {
			copyDB(a, set("VersionId", f.previous, "SecretString", "db-old-value"))
		}, true},
		{"entry for a secret not asked for, added", func(a map[string]any) {
			copyDB(a, set("Name", "other", "ARN", f.otherARN, "SecretString", "evil"))
		}, false},
		{"entry for a secret not asked for, in place of db", func(a map[string]any) {
			rewriteDB(set("Name", "other", "ARN", f.otherARN))("BatchGetSecretValue", a)
		}, true},
		{"error for an id not asked for", func(a map[string]any) {
			errs, _ := a["Errors"].([]any)
			a["Errors"] = append(errs, map[string]any{"SecretId": "nobody", "ErrorCode": "ResourceNotFoundException", "Message": "x"})
		}, false},
		{"a value and an error for db", func(a map[string]any) {
			errs, _ := a["Errors"].([]any)
			a["Errors"] = append(errs, map[string]any{"SecretId": "db", "ErrorCode": "DecryptionFailure", "Message": "x"})
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls callLog
			src := newSource(t, f.srv, awssm.WithCallObserver(calls.observe))
			f.srv.SetFault("", "BatchGetSecretValue", smtest.Fault{Rewrite: func(op string, a map[string]any) { c.rewrite(a) }})
			defer f.srv.ClearFaults()
			f.srv.ResetCalls()
			refs := []secretcache.Ref{{ID: "a"}, {ID: "db"}, {ID: "c"}}
			res := src.FetchBatch(bg, refs)
			for i, want := range []string{"a-value", dbValue, "c-value"} {
				if res[i].Err != nil || res[i].Secret.String != want || res[i].Secret.Name != refs[i].ID {
					t.Fatalf("%s: %v %v", refs[i].ID, res[i].Secret, res[i].Err)
				}
			}
			want := 0
			if c.reread {
				want = 1
			}
			if b, g := f.srv.Calls("", "BatchGetSecretValue"), f.srv.Calls("", "GetSecretValue"); b != 1 || g != want {
				t.Fatalf("%d batch calls and %d single gets, want 1 and %d", b, g, want)
			}
			if got := calls.take(); c.name != "a value and an error for db" && (len(got) == 0 || got[0] != "BatchGetSecretValue "+primary+" mismatch") {
				t.Fatalf("observed %q", got)
			}

			// With the single gets broken too, db is refused, the others
			// still served.
			f.srv.SetFault("", "GetSecretValue", smtest.Fault{Rewrite: rewriteDB(del("SecretString"))})
			res = src.FetchBatch(bg, refs)
			if !c.reread {
				if res[1].Err != nil || res[1].Secret.String != dbValue {
					t.Fatalf("db: %v %v", res[1].Secret, res[1].Err)
				}
				return
			}
			mustRefuse(t, res[1].Err, "db", "GetSecretValue", replica, "no SecretString")
			if res[0].Err != nil || res[2].Err != nil {
				t.Fatal(res[0].Err, res[2].Err)
			}
		})
	}
}
