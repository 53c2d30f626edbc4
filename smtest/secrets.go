package smtest

// The operations on secrets as a whole: CreateSecret, DescribeSecret,
// UpdateSecret, ListSecrets, DeleteSecret and RestoreSecret.

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsname"
)

type createSecretIn struct {
	Name                        *string
	ClientRequestToken          *string
	Description                 *string
	KmsKeyId                    *string
	SecretBinary                []byte
	SecretString                *string
	Tags                        []tagIn
	AddReplicaRegions           []replicaRegionIn
	ForceOverwriteReplicaSecret bool
	Type                        *string
}

type updateSecretIn struct {
	SecretId           *string
	ClientRequestToken *string
	Description        *string
	KmsKeyId           *string
	SecretBinary       []byte
	SecretString       *string
	Type               *string
}

type listSecretsIn struct {
	Filters                []filterIn
	IncludePlannedDeletion *bool
	MaxResults             *int64
	NextToken              *string
	SortBy                 *string
	SortOrder              *string
}

type deleteSecretIn struct {
	SecretId                   *string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

func (srv *Server) opCreateSecret(ctx context.Context, region string, in *createSecretIn) (any, []ChangeEvent, error) {
	tags, err := checkCreate(region, in)
	if err != nil {
		return nil, nil, err
	}
	name := *in.Name
	srv.mu.Lock()
	defer srv.mu.Unlock()
	rs := srv.region(region)
	if old := rs.secrets[name]; old != nil {
		out, err := createTaken(old, in)
		return out, nil, err
	}
	now := srv.now()
	s := &secret{
		seq:         srv.nextSeq(),
		region:      region,
		name:        name,
		arn:         srv.newARN(region, name),
		description: str(in.Description),
		kmsKeyID:    str(in.KmsKeyId),
		typ:         str(in.Type),
		tags:        tags,
		created:     now,
		lastChanged: now,
		versions:    map[string]*version{},
	}
	if len(in.Tags) == 0 {
		s.tags = nil
	}
	var v *version
	if in.SecretString != nil || in.SecretBinary != nil {
		id := str(in.ClientRequestToken)
		if id == "" {
			id = newUUID()
		}
		v = s.addVersion(id, cloneStr(in.SecretString), slices.Clone(in.SecretBinary), []string{awsname.StageCurrent}, now)
	}
	rs.secrets[name] = s
	evs := srv.events(s, "CreateSecret", v)
	evs = append(evs, srv.addReplicas(s, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, "CreateSecret", v)...)
	out := obj{}.put("ARN", s.arn).put("Name", s.name).put("ReplicationStatus", replicationStatus(s))
	if v != nil {
		out.put("VersionId", v.id)
	}
	return out, evs, nil
}

// checkCreate checks a CreateSecret request before any lock is taken and
// returns its tags.
func checkCreate(region string, in *createSecretIn) ([]tag, error) {
	if in.Name == nil {
		return nil, errNull("name")
	}
	if len(*in.Name) > 512 {
		return nil, errTooLong("name", 512)
	}
	if !validName(*in.Name) {
		return nil, apiErr(codeValidation, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if err := checkValue(in.SecretString, in.SecretBinary, false); err != nil {
		return nil, err
	}
	if err := checkDescription(in.Description); err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	for _, rr := range in.AddReplicaRegions {
		if rr.Region == nil || awsname.CheckRegion(*rr.Region) != nil || *rr.Region == region {
			return nil, apiErr(codeInvalidParam, "Invalid replica region.")
		}
	}
	return tags, nil
}

// createTaken answers a CreateSecret for a name that old holds: the retry
// of the request that created old (same token, same value) gets the same
// answer; anything else is refused. Callers hold srv.mu.
func createTaken(old *secret, in *createSecretIn) (any, error) {
	if old.primary == nil && old.deleted() {
		return nil, apiErr(codeInvalidReq, "You can't create this secret because a secret with this name is already scheduled for deletion.")
	}
	if old.primary == nil && in.ClientRequestToken != nil {
		if v := old.versions[*in.ClientRequestToken]; v != nil {
			if v.sameValue(in.SecretString, in.SecretBinary) {
				return obj{}.put("ARN", old.arn).put("Name", old.name).put("VersionId", v.id).
					put("ReplicationStatus", replicationStatus(old)), nil
			}
			return nil, apiErr(codeExists, "You can't use ClientRequestToken %s because that value is already in use for a version of secret %s.", v.id, old.arn)
		}
	}
	return nil, apiErr(codeExists, "The operation failed because the secret %s already exists.", *in.Name)
}

func (srv *Server) opDescribeSecret(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.find(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	o := describe(s)
	o.put("VersionIdsToStages", o["SecretVersionsToStages"])
	delete(o, "SecretVersionsToStages")
	return o, nil, nil
}

// describe is the metadata of a secret, as DescribeSecret and ListSecrets
// show it. Callers hold srv.mu.
func describe(s *secret) obj {
	d := s.data()
	o := obj{}.put("ARN", s.arn).put("Name", s.name).put("Description", d.description).
		put("KmsKeyId", d.kmsKeyID).put("Type", d.typ).
		put("CreatedDate", d.created).put("LastChangedDate", d.lastChanged).
		put("LastAccessedDate", day(d.lastAccessed)).put("DeletedDate", d.deletionDate).
		put("Tags", tagsOut(d.tags)).put("OwningService", s.owningService())
	if vs := s.labelledVersions(); len(vs) > 0 {
		o["SecretVersionsToStages"] = vs
	}
	if d.rotationRequested {
		o["RotationEnabled"] = d.rotationEnabled
		o.put("RotationLambdaARN", d.rotationLambda).put("LastRotatedDate", d.lastRotated).
			put("NextRotationDate", d.nextRotation)
		if d.rules != nil {
			rr := obj{}
			if d.rules.days != nil {
				rr["AutomaticallyAfterDays"] = *d.rules.days
			}
			rr.put("Duration", str(d.rules.duration)).put("ScheduleExpression", str(d.rules.schedule))
			o["RotationRules"] = rr
		}
	}
	if s.primary != nil {
		o["PrimaryRegion"] = s.primary.region
	}
	// A replica shows the replication status of its primary, as in moto.
	o.put("ReplicationStatus", replicationStatus(d))
	return o
}

// sortedSecrets lists the secrets of a region in the given order. Callers
// hold srv.mu.
func (srv *Server) sortedSecrets(region, sortBy, sortOrder string) []*secret {
	rs := srv.regions[region]
	if rs == nil {
		return nil
	}
	list := make([]*secret, 0, len(rs.secrets))
	for _, s := range rs.secrets {
		list = append(list, s)
	}
	less := func(a, b *secret) int {
		var c int
		switch sortBy {
		case "name":
			c = strings.Compare(a.name, b.name)
		case "last-changed-date":
			c = a.data().lastChanged.Compare(b.data().lastChanged)
		case "last-accessed-date":
			c = a.data().lastAccessed.Compare(b.data().lastAccessed)
		default: // created-date
			c = a.data().created.Compare(b.data().created)
		}
		if c == 0 {
			c = cmpU64(a.seq, b.seq)
		}
		if sortOrder == "desc" {
			c = -c
		}
		return c
	}
	slices.SortFunc(list, less)
	return list
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (srv *Server) opUpdateSecret(ctx context.Context, region string, in *updateSecretIn) (any, []ChangeEvent, error) {
	if err := checkPut(in.SecretId, in.ClientRequestToken, in.SecretString, in.SecretBinary, false); err != nil {
		return nil, nil, err
	}
	if err := checkDescription(in.Description); err != nil {
		return nil, nil, err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	out := obj{}.put("ARN", s.arn).put("Name", s.name)
	var v *version
	if in.SecretString != nil || in.SecretBinary != nil {
		var created bool
		v, created, err = srv.putValue(s, in.ClientRequestToken, in.SecretString, in.SecretBinary, []string{awsname.StageCurrent})
		if err != nil {
			return nil, nil, err
		}
		out.put("VersionId", v.id)
		if !created && in.Description == nil && in.KmsKeyId == nil {
			return out, nil, nil
		}
	}
	if in.Description != nil {
		s.description = *in.Description
	}
	if in.KmsKeyId != nil {
		s.kmsKeyID = *in.KmsKeyId
	}
	if in.Type != nil {
		s.typ = *in.Type
	}
	s.lastChanged = srv.now()
	return out, srv.events(s, "UpdateSecret", v), nil
}

func (srv *Server) opListSecrets(ctx context.Context, region string, in *listSecretsIn) (any, []ChangeEvent, error) {
	maxResults, err := pageSize(in.MaxResults, 100)
	if err != nil {
		return nil, nil, err
	}
	if err := checkFilters(in.Filters); err != nil {
		return nil, nil, err
	}
	sortBy, sortOrder := str(in.SortBy), str(in.SortOrder)
	switch sortBy {
	case "", "created-date", "last-accessed-date", "last-changed-date", "name":
	default:
		return nil, nil, apiErr(codeValidation, "1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]", sortBy)
	}
	switch sortOrder {
	case "", "asc", "desc":
	default:
		return nil, nil, apiErr(codeValidation, "1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]", sortOrder)
	}
	includeDeleted := in.IncludePlannedDeletion != nil && *in.IncludePlannedDeletion

	srv.mu.Lock()
	defer srv.mu.Unlock()
	var matched []*secret
	for _, s := range srv.sortedSecrets(region, sortBy, sortOrder) {
		if s.deleted() && !includeDeleted {
			continue
		}
		if matchFilters(s, in.Filters) {
			matched = append(matched, s)
		}
	}
	start, end, next, err := page(len(matched), in.NextToken, maxResults)
	if err != nil {
		return nil, nil, err
	}
	list := make([]obj, 0, end-start)
	for _, s := range matched[start:end] {
		list = append(list, describe(s))
	}
	return obj{"SecretList": list}.put("NextToken", next), nil, nil
}

func (srv *Server) opDeleteSecret(ctx context.Context, region string, in *deleteSecretIn) (any, []ChangeEvent, error) {
	sid, err := requireID("secretId", in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if in.RecoveryWindowInDays != nil && (*in.RecoveryWindowInDays < 7 || *in.RecoveryWindowInDays > 30) {
		return nil, nil, apiErr(codeInvalidParam, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	if in.RecoveryWindowInDays != nil && force {
		return nil, nil, apiErr(codeInvalidParam, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s := srv.lookup(region, sid)
	if s == nil {
		return nil, nil, errSecretNotFound()
	}
	if s.primary != nil {
		return nil, nil, errReplica()
	}
	if len(s.replicas) > 0 {
		regions := make([]string, 0, len(s.replicas))
		for _, r := range s.replicas {
			regions = append(regions, r.region)
		}
		return nil, nil, apiErr(codeInvalidParam, "You can't delete secret %s that still has replica regions [%s]", sid, strings.Join(regions, ","))
	}
	if s.deleted() && !force {
		return nil, nil, errMarkedDeleted()
	}
	now := srv.now()
	date := now
	if force {
		delete(srv.regions[region].secrets, s.name)
	} else {
		days := int64(30)
		if in.RecoveryWindowInDays != nil {
			days = *in.RecoveryWindowInDays
		}
		date = now.Add(time.Duration(days) * 24 * time.Hour)
		s.deletionDate = date
	}
	return obj{}.put("ARN", s.arn).put("Name", s.name).put("DeletionDate", date), srv.events(s, "DeleteSecret", nil), nil
}

func (srv *Server) opRestoreSecret(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findPrimary(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	var evs []ChangeEvent
	if s.deleted() {
		s.deletionDate = time.Time{}
		evs = srv.events(s, "RestoreSecret", s.versionWith(awsname.StageCurrent))
	}
	return obj{}.put("ARN", s.arn).put("Name", s.name), evs, nil
}
