package awssm_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

const euWest = "eu-west-1"

// An ARN of a region the source does not list is another region's secret:
// it is sent as it is, never rewritten to a listed region where a secret of
// the same name may be another secret, and its answer is never reported
// with the ARN asked for. Here prod/db in eu-west-1 and prod/db in
// us-east-1 are unrelated secrets and the source lists us-east-1 alone.
func TestARNOfUnlistedRegionIsNeverServedByAnother(t *testing.T) {
	srv := newServer(t)
	euARN, err := srv.CreateSecret(euWest, "prod/db", "eu-value")
	if err != nil {
		t.Fatal(err)
	}
	usARN, _ := srv.CreateSecret(primary, "prod/db", "us-value")
	srv.CreateSecret(primary, "other", "other-value")
	rec := &recordingClient{next: http.DefaultClient}
	cfg := srv.AWSConfig(primary)
	cfg.HTTPClient = rec
	src, err := awssm.New(cfg, fastOpts(awssm.WithRegions(primary))...)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{euARN, euARN[:len(euARN)-7]}

	wrong := func(what string, s *secretcache.Secret, err error) {
		t.Helper()
		if s != nil {
			t.Fatalf("%s: served %s=%q (%s), want no secret", what, s.Name, s.String, s.ARN)
		}
		// smtest, like AWS, does not find another region's ARN.
		mustKind(t, err, secretcache.ErrNotFound)
	}
	for _, id := range ids {
		s, err := src.Fetch(bg, secretcache.Ref{ID: id})
		wrong("single "+id, s, err)
	}
	// Batch path: two AWSCURRENT ids and a name, in one BatchGetSecretValue.
	res := src.FetchBatch(bg, []secretcache.Ref{{ID: ids[0]}, {ID: ids[1]}, {ID: "other"}})
	for i, id := range ids {
		wrong("batch "+id, res[i].Secret, res[i].Err)
	}
	if res[2].Err != nil || res[2].Secret.String != "other-value" {
		t.Fatalf("other: %v %v", res[2].Secret, res[2].Err)
	}
	if b := srv.Calls(primary, "BatchGetSecretValue"); b != 1 {
		t.Fatalf("%d batch calls, want 1", b)
	}
	// The ARNs went to us-east-1 as they were, never as us-east-1 ARNs.
	_, _, bodies := rec.all()
	usPartial := strings.Replace(ids[1], euWest, primary, 1)
	for _, b := range bodies {
		if strings.Contains(b, usPartial) || strings.Contains(b, usARN[:len(usARN)-7]) {
			t.Fatalf("an eu-west-1 ARN was rewritten to us-east-1: %s", b)
		}
	}

	// Through the cache, too: never the us-east-1 value.
	c, err := secretcache.New(src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range ids {
		if v, err := c.GetString(bg, id); err == nil || v != "" {
			t.Fatalf("cache %s: %q %v", id, v, err)
		}
	}
	if v, err := c.GetString(bg, "prod/db"); err != nil || v != "us-value" {
		t.Fatalf("cache prod/db: %q %v", v, err)
	}
}

// An ARN of a listed region still fails over to the other listed regions
// (they hold replicas of the same secret) and is reported in its own region:
// full and partial ARNs, single and batch, the ARN naming the primary or
// the replica.
func TestARNOfListedRegionFailsOver(t *testing.T) {
	srv := newServer(t)
	euARN, err := srv.CreateSecret(euWest, "prod/db", "db-value")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Replicate("prod/db", euWest, primary); err != nil {
		t.Fatal(err)
	}
	usARN := strings.Replace(euARN, euWest, primary, 1)
	if info, ok := srv.Secret(primary, usARN); !ok || info.Name != "prod/db" {
		t.Fatalf("replica %s: %+v %v", usARN, info, ok)
	}
	arnB, _ := srv.CreateSecret(euWest, "prod/b", "b-value")
	srv.Replicate("prod/b", euWest, primary)
	src := newSource(t, srv, awssm.WithRegions(primary, euWest))

	check := func(what, want string, s *secretcache.Secret, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if s.Name != "prod/db" || s.String != "db-value" || s.ARN != want {
			t.Fatalf("%s: got %s=%q (%s), want ARN %s", what, s.Name, s.String, s.ARN, want)
		}
	}
	run := func(phase string) {
		t.Helper()
		for _, full := range []string{euARN, usARN} {
			for _, id := range []string{full, full[:len(full)-7]} {
				s, err := src.Fetch(bg, secretcache.Ref{ID: id})
				check(phase+" single "+id, full, s, err)
				res := src.FetchBatch(bg, []secretcache.Ref{{ID: id}, {ID: arnB}})
				check(phase+" batch "+id, full, res[0].Secret, res[0].Err)
				if res[1].Err != nil || res[1].Secret.String != "b-value" || res[1].Secret.ARN != arnB {
					t.Fatalf("%s batch %s: %v %v", phase, arnB, res[1].Secret, res[1].Err)
				}
			}
		}
	}
	run("healthy")
	if n := srv.Calls(euWest, "GetSecretValue") + srv.Calls(euWest, "BatchGetSecretValue"); n != 0 {
		t.Fatalf("%d calls to %s with the primary healthy", n, euWest)
	}
	srv.SetFault(primary, "", smtest.Fault{ErrorCode: "InternalServiceError"})
	run("primary down")
	if b, g := srv.Calls(euWest, "BatchGetSecretValue"), srv.Calls(euWest, "GetSecretValue"); b == 0 || g == 0 {
		t.Fatalf("%d batch and %d single calls to %s, want failover", b, g, euWest)
	}
}

// A failure of a whole BatchGetSecretValue call that is neither transient
// nor a denial of the batch call says nothing about the secrets: each is
// read alone and gets its own answer, never the batch call's error.
func TestFetchBatchWholeCallRefusedReadsEachAlone(t *testing.T) {
	for _, code := range []string{"InvalidParameterException", "ValidationException", "InvalidNextTokenException",
		"InvalidRequestException"} {
		t.Run(code, func(t *testing.T) {
			srv := newServer(t)
			var refs []secretcache.Ref
			for i := 0; i < 4; i++ {
				n := fmt.Sprintf("s%d", i)
				arn := replicated(t, srv, n, "v"+n)
				id := n
				if i%2 == 1 {
					id = arn
				}
				refs = append(refs, secretcache.Ref{ID: id})
			}
			refs = append(refs, secretcache.Ref{ID: "missing"})
			srv.SetFault("", "BatchGetSecretValue", smtest.Fault{ErrorCode: code})
			src := newSource(t, srv)
			for round := 1; round <= 2; round++ {
				res := src.FetchBatch(bg, refs)
				for i, r := range res[:4] {
					if r.Err != nil || r.Secret.String != fmt.Sprintf("vs%d", i) {
						t.Fatalf("round %d %v: %v %v", round, refs[i], r.Secret, r.Err)
					}
				}
				mustKind(t, res[4].Err, secretcache.ErrNotFound)
				if apiCode(res[4].Err) != "ResourceNotFoundException" {
					t.Fatalf("missing: %v", res[4].Err)
				}
				// One refused batch call a round (not a transient failure:
				// no failover), then one single get per ref.
				if b, g := srv.Calls(primary, "BatchGetSecretValue"), srv.Calls(primary, "GetSecretValue"); b != round || g != 5*round {
					t.Fatalf("round %d: %d batch and %d single calls, want %d and %d", round, b, g, round, 5*round)
				}
			}
			if n := srv.Calls(replica, "BatchGetSecretValue"); n != 0 {
				t.Fatalf("%d batch calls to the replica", n)
			}
			if b := breaker(src, primary); b.State != "closed" || b.Failures != 0 {
				t.Fatalf("breaker %+v", b)
			}
		})
	}
}
