package smtest

// Replication: ReplicateSecretToRegions, RemoveRegionsFromReplication,
// StopReplicationToReplica, and the replicas CreateSecret adds.

import (
	"context"
	"slices"
	"strings"

	"github.com/secretcache/secretcache/internal/awsname"
)

type replicaRegionIn struct {
	Region   *string
	KmsKeyId *string
}

type replicateIn struct {
	SecretId                    *string
	AddReplicaRegions           []replicaRegionIn
	ForceOverwriteReplicaSecret bool
}

type removeRegionsIn struct {
	SecretId             *string
	RemoveReplicaRegions []string
}

func replicationStatus(s *secret) []obj {
	if len(s.replicas) == 0 {
		return nil
	}
	out := make([]obj, 0, len(s.replicas))
	for _, r := range s.replicas {
		kms := r.kmsKey
		if kms == "" {
			kms = "alias/aws/secretsmanager"
		}
		out = append(out, obj{}.put("Region", r.region).put("KmsKeyId", kms).
			put("Status", r.status).put("StatusMessage", r.message))
	}
	return out
}

// addReplicas creates replicas of primary s. Callers hold srv.mu and have
// validated the regions.
func (srv *Server) addReplicas(s *secret, regions []replicaRegionIn, force bool, op string, v *version) []ChangeEvent {
	var evs []ChangeEvent
	for _, rr := range regions {
		r := *rr.Region
		if slices.ContainsFunc(s.replicas, func(x *replicaInfo) bool { return x.region == r }) {
			continue
		}
		info := &replicaInfo{region: r, kmsKey: str(rr.KmsKeyId), status: "InSync", message: "Replication succeeded", created: srv.now()}
		rs := srv.region(r)
		if old := rs.secrets[s.name]; old != nil {
			if !force || old.primary != nil || len(old.replicas) > 0 {
				info.status = "Failed"
				info.message = "Replication failed: Secret name " + s.name + " already exists in region " + r + "."
				s.replicas = append(s.replicas, info)
				continue
			}
			delete(rs.secrets, s.name)
		}
		rep := &secret{
			seq:     srv.nextSeq(),
			region:  r,
			name:    s.name,
			arn:     strings.Replace(s.arn, ":"+s.region+":", ":"+r+":", 1),
			primary: s,
		}
		rs.secrets[s.name] = rep
		s.replicas = append(s.replicas, info)
		ev := ChangeEvent{Region: r, Op: op, Name: s.name, ARN: rep.arn}
		if v == nil {
			v = s.versionWith(awsname.StageCurrent)
		}
		if v != nil {
			ev.VersionID = v.id
			ev.Stages = slices.Clone(v.stages)
		}
		evs = append(evs, ev)
	}
	return evs
}

func (srv *Server) opReplicateSecretToRegions(ctx context.Context, region string, in *replicateIn) (any, []ChangeEvent, error) {
	if _, err := requireID("secretId", in.SecretId); err != nil {
		return nil, nil, err
	}
	if len(in.AddReplicaRegions) == 0 {
		return nil, nil, errNull("addReplicaRegions")
	}
	for _, rr := range in.AddReplicaRegions {
		if rr.Region == nil || awsname.CheckRegion(*rr.Region) != nil || *rr.Region == region {
			return nil, nil, apiErr(codeInvalidParam, "Invalid replica region.")
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	evs := srv.addReplicas(s, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, "ReplicateSecretToRegions", nil)
	// AWS answers with the ARN; moto answers with the SecretId as given.
	return obj{"ARN": s.arn, "ReplicationStatus": nonNil(replicationStatus(s))}, evs, nil
}

func nonNil(l []obj) []obj {
	if l == nil {
		return []obj{}
	}
	return l
}

func (srv *Server) opRemoveRegionsFromReplication(ctx context.Context, region string, in *removeRegionsIn) (any, []ChangeEvent, error) {
	if in.RemoveReplicaRegions == nil {
		return nil, nil, errNull("removeReplicaRegions")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findPrimary(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	var evs []ChangeEvent
	s.replicas = slices.DeleteFunc(s.replicas, func(r *replicaInfo) bool {
		if !slices.Contains(in.RemoveReplicaRegions, r.region) {
			return false
		}
		if rs := srv.regions[r.region]; rs != nil {
			if rep := rs.secrets[s.name]; rep != nil && rep.primary == s {
				delete(rs.secrets, s.name)
				evs = append(evs, ChangeEvent{Region: r.region, Op: "RemoveRegionsFromReplication", Name: s.name, ARN: rep.arn})
			}
		}
		return true
	})
	return obj{"ARN": s.arn, "ReplicationStatus": nonNil(replicationStatus(s))}, evs, nil
}

func (srv *Server) opStopReplicationToReplica(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.find(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	p := s.primary
	if p == nil {
		return nil, nil, apiErr(codeInvalidReq, "The secret %s is not a replica.", s.name)
	}
	// Promote: the replica becomes a standalone secret with a copy of the
	// primary's data.
	s.primary = nil
	s.description, s.kmsKeyID, s.typ = p.description, p.kmsKeyID, p.typ
	s.tags = slices.Clone(p.tags)
	s.created, s.lastChanged, s.lastAccessed = p.created, srv.now(), p.lastAccessed
	s.versions = make(map[string]*version, len(p.versions))
	for id, v := range p.versions {
		c := *v
		c.stages = slices.Clone(v.stages)
		s.versions[id] = &c
	}
	s.order = slices.Clone(p.order)
	p.replicas = slices.DeleteFunc(p.replicas, func(r *replicaInfo) bool { return r.region == region })
	return obj{"ARN": s.arn}, srv.events(s, "StopReplicationToReplica", s.versionWith(awsname.StageCurrent)), nil
}
