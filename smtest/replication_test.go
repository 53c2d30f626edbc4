package smtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestReplication(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	east, west, eu := s.Client("us-east-1"), s.Client("us-west-2"), s.Client("eu-west-1")
	out := mustCreate(t, east, "shared", "v1", 1)
	if _, err := eu.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("shared"), SecretString: aws.String("eu's own")}); err != nil {
		t.Fatal(err)
	}
	rep, err := east.ReplicateSecretToRegions(ctx, &sm.ReplicateSecretToRegionsInput{
		SecretId:          aws.String("shared"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2")}, {Region: aws.String("eu-west-1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *rep.ARN != *out.ARN || len(rep.ReplicationStatus) != 2 || rep.ReplicationStatus[0].Status != types.StatusTypeInSync || rep.ReplicationStatus[1].Status != types.StatusTypeFailed {
		t.Fatalf("replicate: %+v", rep)
	}
	// Reads on the replica, with the replica's ARN.
	g, err := west.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("shared")})
	if err != nil || *g.SecretString != "v1" || !strings.Contains(*g.ARN, ":us-west-2:") || strings.TrimPrefix(*g.ARN, "arn:aws:secretsmanager:us-west-2") != strings.TrimPrefix(*out.ARN, "arn:aws:secretsmanager:us-east-1") {
		t.Fatalf("replica read: %+v %v", g, err)
	}
	// Writes to the primary propagate.
	if _, err := s.PutSecretValue("us-east-1", "shared", "v2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("us-west-2", "shared", ""); v != "v2" {
		t.Fatalf("replica value %q", v)
	}
	// Writes to the replica are rejected.
	_, err = west.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("shared"), SecretString: aws.String("x")})
	wantCode(t, err, "InvalidParameterException")
	_, err = west.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("shared")})
	wantCode(t, err, "InvalidParameterException")
	_, err = west.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("shared"), Description: aws.String("x")})
	wantCode(t, err, "InvalidParameterException")
	// The primary can't be deleted while it has replicas.
	_, err = east.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("shared")})
	wantCode(t, err, "InvalidParameterException")
	// Describe shows both sides.
	d, err := west.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("shared")})
	if err != nil || d.PrimaryRegion == nil || *d.PrimaryRegion != "us-east-1" {
		t.Fatalf("describe replica: %+v %v", d, err)
	}
	d, _ = east.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("shared")})
	if len(d.ReplicationStatus) != 2 {
		t.Fatalf("describe primary: %+v", d.ReplicationStatus)
	}
	l, _ := west.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []types.Filter{{Key: "primary-region", Values: []string{"us-east-1"}}}})
	if len(l.SecretList) != 1 {
		t.Fatalf("primary-region filter: %v", l.SecretList)
	}
	si, _ := s.Secret("us-east-1", "shared")
	if !slices.Equal(si.Replicas, []string{"us-west-2"}) {
		t.Fatalf("SecretInfo.Replicas %v", si.Replicas)
	}
	// Remove the replica region, then the primary can be deleted.
	if _, err := east.RemoveRegionsFromReplication(ctx, &sm.RemoveRegionsFromReplicationInput{SecretId: aws.String("shared"), RemoveReplicaRegions: []string{"us-west-2", "eu-west-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Secret("us-west-2", "shared"); ok {
		t.Fatal("replica still there")
	}
	if v, _ := s.Value("eu-west-1", "shared", ""); v != "eu's own" {
		t.Fatalf("eu secret clobbered: %q", v)
	}
	if err := s.DeleteSecret("us-east-1", "shared", true); err != nil {
		t.Fatal(err)
	}
	// Replicate to own region, and via the helper.
	mustCreate(t, east, "two", "v", 2)
	_, err = east.ReplicateSecretToRegions(ctx, &sm.ReplicateSecretToRegionsInput{SecretId: aws.String("two"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-east-1")}}})
	wantCode(t, err, "InvalidParameterException")
	if err := s.Replicate("two", "", "ap-south-1"); err != nil {
		t.Fatal(err)
	}
	// Promote the replica.
	if _, err := s.Client("ap-south-1").StopReplicationToReplica(ctx, &sm.StopReplicationToReplicaInput{SecretId: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecretValue("ap-south-1", "two", "independent"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value("", "two", ""); v != "v" {
		t.Fatalf("primary changed: %q", v)
	}
}
