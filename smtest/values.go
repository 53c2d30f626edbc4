package smtest

// The operations on values and versions: GetSecretValue,
// BatchGetSecretValue, PutSecretValue, UpdateSecretVersionStage and
// ListSecretVersionIds.

import (
	"context"
	"slices"

	"github.com/secretcache/secretcache/internal/awsname"
)

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

type updateStageIn struct {
	SecretId            *string
	VersionStage        *string
	MoveToVersionId     *string
	RemoveFromVersionId *string
}

type listVersionsIn struct {
	SecretId          *string
	IncludeDeprecated *bool
	MaxResults        *int64
	NextToken         *string
}

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
	maxResults, err := pageSize(in.MaxResults, 20)
	if err != nil {
		return nil, nil, err
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

func (srv *Server) opPutSecretValue(ctx context.Context, region string, in *putSecretValueIn) (any, []ChangeEvent, error) {
	if err := checkPut(in.SecretId, in.ClientRequestToken, in.SecretString, in.SecretBinary, true); err != nil {
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

func (srv *Server) opListSecretVersionIds(ctx context.Context, region string, in *listVersionsIn) (any, []ChangeEvent, error) {
	maxResults, err := pageSize(in.MaxResults, 100)
	if err != nil {
		return nil, nil, err
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
