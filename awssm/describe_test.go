package awssm_test

import (
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
)

func TestDescribe(t *testing.T) {
	var s *awssm.Source
	d := s.Describe()
	if d.DefaultStage != "AWSCURRENT" || d.MaxBatch != 20 || d.SameSecret == nil || d.NameOf == nil {
		t.Fatalf("Describe = %+v", d)
	}
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	if !d.SameSecret("prod/db", &secretcache.Secret{Name: "prod/db", ARN: arn}) {
		t.Error("name not matched")
	}
	if d.SameSecret("prod/db", &secretcache.Secret{Name: "prod/db", ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf"}) {
		t.Error("name and ARN that disagree accepted")
	}
	for _, id := range []string{arn, arn[:len(arn)-7]} { // full and partial ARN
		if !d.SameSecret(id, &secretcache.Secret{Name: "prod/db", ARN: arn}) {
			t.Errorf("%s not matched", id)
		}
	}
	if d.NameOf(arn) != "prod/db" {
		t.Error("NameOf")
	}
}
