package smtest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsname"
)

// Input shapes. Pointers tell an absent member from an empty one.

type tagIn struct {
	Key   *string
	Value *string
}

type replicaRegionIn struct {
	Region   *string
	KmsKeyId *string
}

type filterIn struct {
	Key    *string
	Values []string
}

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

type secretIDIn struct {
	SecretId *string
}

type getSecretValueIn struct {
	SecretId     *string
	VersionId    *string
	VersionStage *string
}

type batchGetIn struct {
	SecretIdList []string
	Filters      []filterIn
	MaxResults   *int64
	NextToken    *string
}

type putSecretValueIn struct {
	SecretId           *string
	ClientRequestToken *string
	SecretBinary       []byte
	SecretString       *string
	VersionStages      []string
	RotationToken      *string
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

type updateStageIn struct {
	SecretId            *string
	VersionStage        *string
	MoveToVersionId     *string
	RemoveFromVersionId *string
}

type listSecretsIn struct {
	Filters                []filterIn
	IncludePlannedDeletion *bool
	MaxResults             *int64
	NextToken              *string
	SortBy                 *string
	SortOrder              *string
}

type listVersionsIn struct {
	SecretId          *string
	IncludeDeprecated *bool
	MaxResults        *int64
	NextToken         *string
}

type deleteSecretIn struct {
	SecretId                   *string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

type tagResourceIn struct {
	SecretId *string
	Tags     []tagIn
}

type untagResourceIn struct {
	SecretId *string
	TagKeys  []string
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

type policyIn struct {
	SecretId          *string
	ResourcePolicy    *string
	BlockPublicPolicy *bool
}

// Validation helpers.

func requireID(field string, id *string) (string, error) {
	if id == nil {
		return "", errNull(field)
	}
	if *id == "" {
		return "", errTooShort(field, 1)
	}
	if len(*id) > 2048 {
		return "", errTooLong(field, 2048)
	}
	return *id, nil
}

func checkToken(tok *string) error {
	if tok == nil {
		return nil
	}
	if n := len(*tok); n < 32 || n > 64 {
		return apiErr(codeInvalidParam, "ClientRequestToken must be 32-64 characters long.")
	}
	return nil
}

func checkValue(str *string, bin []byte, required bool) error {
	if str != nil && bin != nil {
		return apiErr(codeInvalidParam, "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if str == nil && bin == nil {
		if required {
			return apiErr(codeInvalidReq, "You must provide either SecretString or SecretBinary.")
		}
		return nil
	}
	// AWS rejects values above 65,536 bytes; moto accepts them.
	if str != nil {
		if len(*str) == 0 {
			return errTooShort("secretString", 1)
		}
		if len(*str) > maxValueBytes {
			return errTooLong("secretString", maxValueBytes)
		}
	}
	if bin != nil {
		if len(bin) == 0 {
			return errTooShort("secretBinary", 1)
		}
		if len(bin) > maxValueBytes {
			return errTooLong("secretBinary", maxValueBytes)
		}
	}
	return nil
}

func checkDescription(d *string) error {
	if d != nil && len(*d) > 2048 {
		return errTooLong("description", 2048)
	}
	return nil
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

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// find looks a secret up for a read: it must exist.
func (srv *Server) find(region string, id *string) (*secret, error) {
	sid, err := requireID("secretId", id)
	if err != nil {
		return nil, err
	}
	s := srv.lookup(region, sid)
	if s == nil {
		return nil, errSecretNotFound()
	}
	return s, nil
}

// findPrimary looks a secret up for a change that replicas refuse: it must
// exist and be a primary.
func (srv *Server) findPrimary(region string, id *string) (*secret, error) {
	s, err := srv.find(region, id)
	if err != nil {
		return nil, err
	}
	if s.primary != nil {
		return nil, errReplica()
	}
	return s, nil
}

// findWritable looks a secret up for a write: it must exist, be a primary
// and not be scheduled for deletion.
func (srv *Server) findWritable(region string, id *string) (*secret, error) {
	s, err := srv.findPrimary(region, id)
	if err != nil {
		return nil, err
	}
	if s.deleted() {
		return nil, errMarkedDeleted()
	}
	return s, nil
}

// events builds the change events of a write to primary s: one for its own
// region and one for each replica region.
func (srv *Server) events(s *secret, op string, v *version) []ChangeEvent {
	mk := func(region, arn string) ChangeEvent {
		ev := ChangeEvent{Region: region, Op: op, Name: s.name, ARN: arn}
		if v != nil {
			ev.VersionID = v.id
			ev.Stages = slices.Clone(v.stages)
		}
		return ev
	}
	evs := []ChangeEvent{mk(s.region, s.arn)}
	for _, r := range s.replicas {
		if rs := srv.regions[r.region]; rs != nil {
			if rep := rs.secrets[s.name]; rep != nil && rep.primary == s {
				evs = append(evs, mk(r.region, rep.arn))
			}
		}
	}
	return evs
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

// CreateSecret

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

func cloneStr(p *string) *string {
	if p == nil {
		return nil
	}
	c := *p
	return &c
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

// GetSecretValue

func (srv *Server) opGetSecretValue(ctx context.Context, region string, in *getSecretValueIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.find(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	v, err := srv.readVersion(s, in.VersionId, in.VersionStage)
	if err != nil {
		return nil, nil, err
	}
	return valueEntry(s, v), nil, nil
}

// readVersion selects the version a GetSecretValue reads and marks it
// accessed. Callers hold srv.mu.
func (srv *Server) readVersion(s *secret, versionID, stage *string) (*version, error) {
	if s.deleted() {
		return nil, errMarkedDeleted()
	}
	if versionID != nil && (len(*versionID) < 32 || len(*versionID) > 64) {
		return nil, apiErr(codeValidation, "1 validation error detected: Value at 'versionId' failed to satisfy constraint: Member must have length between 32 and 64")
	}
	if stage != nil && (len(*stage) < 1 || len(*stage) > 256) {
		return nil, apiErr(codeValidation, "1 validation error detected: Value at 'versionStage' failed to satisfy constraint: Member must have length between 1 and 256")
	}
	d := s.data()
	var v *version
	if versionID != nil {
		v = d.versions[*versionID]
		if v == nil {
			return nil, apiErr(codeNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", *versionID)
		}
		if stage != nil && !slices.Contains(v.stages, *stage) {
			// AWS answers 400; moto answers 404 with the same code.
			return nil, apiErr(codeInvalidReq, "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	} else {
		st := awsname.StageCurrent
		if stage != nil {
			st = *stage
		}
		v = s.versionWith(st)
		if v == nil {
			return nil, apiErr(codeNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", st)
		}
	}
	now := srv.now()
	v.lastAccessed = now
	d.lastAccessed = now
	return v, nil
}

func valueEntry(s *secret, v *version) obj {
	o := obj{}.put("ARN", s.arn).put("Name", s.name).put("VersionId", v.id).
		put("VersionStages", slices.Clone(v.stages)).put("CreatedDate", v.created)
	if v.str != nil {
		o["SecretString"] = *v.str
	}
	if v.bin != nil {
		o["SecretBinary"] = v.bin // encoding/json writes []byte as base64
	}
	return o
}

// BatchGetSecretValue

func (srv *Server) opBatchGetSecretValue(ctx context.Context, region string, in *batchGetIn) (any, []ChangeEvent, error) {
	if in.SecretIdList != nil && in.Filters != nil {
		return nil, nil, apiErr(codeInvalidParam, "Either 'SecretIdList' or 'Filters' must be provided, but not both.")
	}
	if in.SecretIdList == nil && in.Filters == nil {
		return nil, nil, apiErr(codeInvalidParam, "Either 'SecretIdList' or 'Filters' must be provided.")
	}
	if in.MaxResults != nil && in.Filters == nil {
		return nil, nil, apiErr(codeInvalidParam, "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.")
	}
	if len(in.SecretIdList) > 20 {
		return nil, nil, errTooLong("secretIdList", 20)
	}
	maxResults := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 20 {
			return nil, nil, errRange("maxResults", 1, 20)
		}
		maxResults = int(*in.MaxResults)
	}
	if err := checkFilters(in.Filters); err != nil {
		return nil, nil, err
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	values := []obj{}
	errs := []obj{}
	if in.SecretIdList != nil {
		for _, id := range in.SecretIdList {
			s, err := srv.find(region, &id)
			var v *version
			if err == nil {
				v, err = srv.readVersion(s, nil, nil)
			}
			if err != nil {
				ae := asAPIError(err)
				errs = append(errs, obj{"SecretId": id, "ErrorCode": ae.Code, "Message": ae.Message})
				continue
			}
			values = append(values, valueEntry(s, v))
		}
		return obj{"SecretValues": values, "Errors": errs}, nil, nil
	}
	var matched []*secret
	for _, s := range srv.sortedSecrets(region, "", "") {
		if s.deleted() || s.versionWith(awsname.StageCurrent) == nil || !matchFilters(s, in.Filters) {
			continue
		}
		matched = append(matched, s)
	}
	start, end, next, err := page(len(matched), in.NextToken, maxResults)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range matched[start:end] {
		v, err := srv.readVersion(s, nil, nil)
		if err != nil {
			ae := asAPIError(err)
			errs = append(errs, obj{"SecretId": s.arn, "ErrorCode": ae.Code, "Message": ae.Message})
			continue
		}
		values = append(values, valueEntry(s, v))
	}
	return obj{"SecretValues": values, "Errors": errs}.put("NextToken", next), nil, nil
}

// DescribeSecret

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

// PutSecretValue

func (srv *Server) opPutSecretValue(ctx context.Context, region string, in *putSecretValueIn) (any, []ChangeEvent, error) {
	if _, err := requireID("secretId", in.SecretId); err != nil {
		return nil, nil, err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, nil, err
	}
	if err := checkValue(in.SecretString, in.SecretBinary, true); err != nil {
		return nil, nil, err
	}
	stages := in.VersionStages
	if stages == nil {
		stages = []string{awsname.StageCurrent}
	}
	if err := checkStages(stages); err != nil {
		return nil, nil, err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	v, created, err := srv.putValue(s, in.ClientRequestToken, in.SecretString, in.SecretBinary, stages)
	if err != nil {
		return nil, nil, err
	}
	out := obj{}.put("ARN", s.arn).put("Name", s.name).put("VersionId", v.id).put("VersionStages", slices.Clone(v.stages))
	if !created {
		return out, nil, nil
	}
	return out, srv.events(s, "PutSecretValue", v), nil
}

func checkStages(stages []string) error {
	if len(stages) < 1 || len(stages) > 20 {
		return apiErr(codeValidation, "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 20")
	}
	for _, st := range stages {
		if len(st) < 1 || len(st) > 256 {
			return apiErr(codeValidation, "1 validation error detected: Value at 'versionStages.member' failed to satisfy constraint: Member must have length between 1 and 256")
		}
	}
	return nil
}

// putValue adds a version to s, honouring ClientRequestToken idempotency.
// created is false for an idempotent repeat. Callers hold srv.mu.
func (srv *Server) putValue(s *secret, token, strVal *string, bin []byte, stages []string) (v *version, created bool, err error) {
	id := str(token)
	if id != "" {
		if old := s.versions[id]; old != nil {
			if old.sameValue(strVal, bin) {
				return old, false, nil
			}
			return nil, false, apiErr(codeExists, "You can't use ClientRequestToken %s because that value is already in use for a version of secret %s.", id, s.arn)
		}
	} else {
		id = newUUID()
	}
	stages = slices.Compact(slices.Clone(stages))
	if len(s.versions) == 0 && !slices.Contains(stages, awsname.StageCurrent) {
		// The first version of a secret always becomes AWSCURRENT.
		stages = append(stages, awsname.StageCurrent)
	}
	now := srv.now()
	v = s.addVersion(id, cloneStr(strVal), slices.Clone(bin), stages, now)
	s.lastChanged = now
	return v, true, nil
}

// UpdateSecret

func (srv *Server) opUpdateSecret(ctx context.Context, region string, in *updateSecretIn) (any, []ChangeEvent, error) {
	if _, err := requireID("secretId", in.SecretId); err != nil {
		return nil, nil, err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, nil, err
	}
	if err := checkValue(in.SecretString, in.SecretBinary, false); err != nil {
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

// UpdateSecretVersionStage

func (srv *Server) opUpdateSecretVersionStage(ctx context.Context, region string, in *updateStageIn) (any, []ChangeEvent, error) {
	if _, err := requireID("secretId", in.SecretId); err != nil {
		return nil, nil, err
	}
	if in.VersionStage == nil {
		return nil, nil, errNull("versionStage")
	}
	stage := *in.VersionStage
	if err := checkStages([]string{stage}); err != nil {
		return nil, nil, err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	var from, to *version
	if in.RemoveFromVersionId != nil {
		from = s.versions[*in.RemoveFromVersionId]
		if from == nil {
			return nil, nil, apiErr(codeInvalidParam, "Not a valid version: %s", *in.RemoveFromVersionId)
		}
		if !slices.Contains(from.stages, stage) {
			return nil, nil, apiErr(codeInvalidParam, "The staging label %s is not attached to version %s.", stage, from.id)
		}
	}
	if in.MoveToVersionId != nil {
		to = s.versions[*in.MoveToVersionId]
		if to == nil {
			return nil, nil, apiErr(codeInvalidParam, "Not a valid version: %s", *in.MoveToVersionId)
		}
	}
	if to != nil {
		// A label attached elsewhere may only move if the request names
		// the version it comes from.
		if holder := s.versionWith(stage); holder != nil && holder != to && holder != from {
			return nil, nil, apiErr(codeInvalidParam,
				"The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.",
				stage, holder.id)
		}
	} else if from != nil && stage == awsname.StageCurrent {
		return nil, nil, apiErr(codeInvalidParam, "You can't remove the staging label AWSCURRENT without moving it to another version: specify MoveToVersionId.")
	}
	target := to
	switch {
	case to != nil && from == to:
		// Nothing moves.
	case to != nil:
		if from != nil && stage != awsname.StageCurrent {
			from.stages = slices.DeleteFunc(from.stages, func(x string) bool { return x == stage })
		}
		s.attachStages(to, []string{stage})
	case from != nil:
		from.stages = slices.DeleteFunc(from.stages, func(x string) bool { return x == stage })
		target = from
	}
	s.lastChanged = srv.now()
	return obj{}.put("ARN", s.arn).put("Name", s.name), srv.events(s, "UpdateSecretVersionStage", target), nil
}

// ListSecrets

func (srv *Server) opListSecrets(ctx context.Context, region string, in *listSecretsIn) (any, []ChangeEvent, error) {
	maxResults := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, nil, errRange("maxResults", 1, 100)
		}
		maxResults = int(*in.MaxResults)
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

// ListSecretVersionIds

func (srv *Server) opListSecretVersionIds(ctx context.Context, region string, in *listVersionsIn) (any, []ChangeEvent, error) {
	maxResults := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, nil, errRange("maxResults", 1, 100)
		}
		maxResults = int(*in.MaxResults)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.find(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	d := s.data()
	includeDeprecated := in.IncludeDeprecated != nil && *in.IncludeDeprecated
	var vs []*version
	for i := len(d.order) - 1; i >= 0; i-- { // newest first
		v := d.versions[d.order[i]]
		if len(v.stages) == 0 && !includeDeprecated {
			continue
		}
		vs = append(vs, v)
	}
	start, end, next, err := page(len(vs), in.NextToken, maxResults)
	if err != nil {
		return nil, nil, err
	}
	list := make([]obj, 0, end-start)
	for _, v := range vs[start:end] {
		list = append(list, obj{}.put("VersionId", v.id).put("VersionStages", slices.Clone(v.stages)).
			put("CreatedDate", v.created).put("LastAccessedDate", day(v.lastAccessed)))
	}
	return obj{"Versions": list}.put("ARN", s.arn).put("Name", s.name).put("NextToken", next), nil, nil
}

// DeleteSecret

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

// RestoreSecret

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

// TagResource and UntagResource

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

// ReplicateSecretToRegions, RemoveRegionsFromReplication,
// StopReplicationToReplica

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

// Resource policies: stored and returned, never evaluated.

func (srv *Server) opPutResourcePolicy(ctx context.Context, region string, in *policyIn) (any, []ChangeEvent, error) {
	if in.ResourcePolicy == nil {
		return nil, nil, errNull("resourcePolicy")
	}
	if !json.Valid([]byte(*in.ResourcePolicy)) {
		return nil, nil, apiErr("MalformedPolicyDocumentException", "This resource policy contains a syntax error.")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	p := *in.ResourcePolicy
	s.policy = &p
	return obj{}.put("ARN", s.arn).put("Name", s.name), srv.events(s, "PutResourcePolicy", nil), nil
}

func (srv *Server) opGetResourcePolicy(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.find(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	o := obj{}.put("ARN", s.arn).put("Name", s.name)
	if p := s.data().policy; p != nil {
		o["ResourcePolicy"] = *p
	}
	return o, nil, nil
}

func (srv *Server) opDeleteResourcePolicy(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	s.policy = nil
	return obj{}.put("ARN", s.arn).put("Name", s.name), srv.events(s, "DeleteResourcePolicy", nil), nil
}

func (srv *Server) opValidateResourcePolicy(ctx context.Context, region string, in *policyIn) (any, []ChangeEvent, error) {
	if in.ResourcePolicy == nil {
		return nil, nil, errNull("resourcePolicy")
	}
	if !json.Valid([]byte(*in.ResourcePolicy)) {
		return nil, nil, apiErr("MalformedPolicyDocumentException", "This resource policy contains a syntax error.")
	}
	return obj{"PolicyValidationPassed": true, "ValidationErrors": []obj{}}, nil, nil
}
