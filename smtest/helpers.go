package smtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"
)

// The Go helpers below run the same code as the API operations (same
// validation, same errors as *APIError, same change events) but are not
// counted by Calls and are not subject to faults. region "" means the
// default region.

// call runs an operation in-process and emits its change events.
func call[T any](s *Server, ctx context.Context, region string, fn func(*Server, context.Context, string, *T) (any, []ChangeEvent, error), in *T) (obj, error) {
	out, evs, err := fn(s, ctx, s.resolveRegion(region), in)
	s.emit(evs)
	if err != nil {
		return nil, err
	}
	o, _ := out.(obj)
	return o, nil
}

func outString(o obj, k string) string {
	v, _ := o[k].(string)
	return v
}

// CreateSecret creates a secret holding a string value as its first version
// (AWSCURRENT) and returns its ARN.
func (s *Server) CreateSecret(region, name, value string) (arn string, err error) {
	o, err := call(s, context.Background(), region, (*Server).opCreateSecret, &createSecretIn{Name: &name, SecretString: &value})
	return outString(o, "ARN"), err
}

// CreateBinarySecret creates a secret holding a binary value as its first
// version (AWSCURRENT) and returns its ARN.
func (s *Server) CreateBinarySecret(region, name string, value []byte) (arn string, err error) {
	if value == nil {
		value = []byte{}
	}
	o, err := call(s, context.Background(), region, (*Server).opCreateSecret, &createSecretIn{Name: &name, SecretBinary: value})
	return outString(o, "ARN"), err
}

// PutSecretValue adds a new string version to a secret (by name or ARN)
// with the given staging labels (default AWSCURRENT) and returns its
// VersionId.
func (s *Server) PutSecretValue(region, name, value string, stages ...string) (versionID string, err error) {
	return s.PutSecretValueWithToken(region, name, "", value, stages...)
}

// PutSecretValueWithToken is PutSecretValue with an explicit
// ClientRequestToken (the new VersionId; "" generates one), e.g. for the
// createSecret step of a RotationFunc. The same token with the same value
// is a no-op; with another value it fails with ResourceExistsException.
func (s *Server) PutSecretValueWithToken(region, name, token, value string, stages ...string) (versionID string, err error) {
	in := &putSecretValueIn{SecretId: &name, SecretString: &value}
	if token != "" {
		in.ClientRequestToken = &token
	}
	if len(stages) > 0 {
		in.VersionStages = stages
	}
	o, err := call(s, context.Background(), region, (*Server).opPutSecretValue, in)
	return outString(o, "VersionId"), err
}

// UpdateStage moves a staging label as UpdateSecretVersionStage does:
// moveToVersionID and removeFromVersionID may each be "" (absent).
func (s *Server) UpdateStage(region, name, stage, moveToVersionID, removeFromVersionID string) error {
	in := &updateStageIn{SecretId: &name, VersionStage: &stage}
	if moveToVersionID != "" {
		in.MoveToVersionId = &moveToVersionID
	}
	if removeFromVersionID != "" {
		in.RemoveFromVersionId = &removeFromVersionID
	}
	_, err := call(s, context.Background(), region, (*Server).opUpdateSecretVersionStage, in)
	return err
}

// DeleteSecret deletes a secret: at once with force, else scheduled for
// deletion after the default 30-day recovery window (see RestoreSecret).
func (s *Server) DeleteSecret(region, name string, force bool) error {
	in := &deleteSecretIn{SecretId: &name}
	if force {
		in.ForceDeleteWithoutRecovery = &force
	}
	_, err := call(s, context.Background(), region, (*Server).opDeleteSecret, in)
	return err
}

// RestoreSecret cancels the scheduled deletion of a secret.
func (s *Server) RestoreSecret(region, name string) error {
	_, err := call(s, context.Background(), region, (*Server).opRestoreSecret, &secretIDIn{SecretId: &name})
	return err
}

// Replicate replicates the secret name of fromRegion ("" = default region)
// to toRegions as read-only replicas, like ReplicateSecretToRegions. A
// region where the name is taken gets a Failed replication status, not an
// error.
func (s *Server) Replicate(name, fromRegion string, toRegions ...string) error {
	in := &replicateIn{SecretId: &name}
	for _, r := range toRegions {
		in.AddReplicaRegions = append(in.AddReplicaRegions, replicaRegionIn{Region: &r})
	}
	_, err := call(s, context.Background(), fromRegion, (*Server).opReplicateSecretToRegions, in)
	return err
}

// Rotate rotates a secret as RotateSecret with RotateImmediately does,
// running the RotationFunc (or the built-in rotation) in the four steps,
// and returns the new VersionId, now AWSCURRENT.
func (s *Server) Rotate(ctx context.Context, region, name string) (newVersionID string, err error) {
	o, err := call(s, ctx, region, (*Server).opRotateSecret, &rotateIn{SecretId: &name})
	return outString(o, "VersionId"), err
}

// SecretInfo is a snapshot of a secret, as Secret returns it. It carries no
// secret values: use Value for those.
type SecretInfo struct {
	ARN             string
	Name            string
	Region          string
	Description     string
	KmsKeyID        string
	PrimaryRegion   string   // set on a replica: the region of its primary
	Replicas        []string // on a primary: the regions of its replicas
	Deleted         bool     // scheduled for deletion
	DeletionDate    time.Time
	CreatedDate     time.Time
	LastChangedDate time.Time
	RotationEnabled bool
	LastRotatedDate time.Time
	Tags            map[string]string
	Versions        []VersionInfo // oldest first, deprecated (unlabelled) versions included
}

// VersionInfo describes one version of a secret.
type VersionInfo struct {
	VersionID   string
	Stages      []string
	CreatedDate time.Time
	Binary      bool // the value is SecretBinary
}

// Stage returns the VersionId carrying stage, or "".
func (si SecretInfo) Stage(stage string) string {
	for _, v := range si.Versions {
		if slices.Contains(v.Stages, stage) {
			return v.VersionID
		}
	}
	return ""
}

// Secret returns a snapshot of a secret found by name, full ARN or partial
// ARN, including secrets scheduled for deletion.
func (s *Server) Secret(region, nameOrARN string) (SecretInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(s.resolveRegion(region), nameOrARN)
	if sec == nil {
		return SecretInfo{}, false
	}
	d := sec.data()
	si := SecretInfo{
		ARN:             sec.arn,
		Name:            sec.name,
		Region:          sec.region,
		Description:     d.description,
		KmsKeyID:        d.kmsKeyID,
		Deleted:         sec.deleted(),
		DeletionDate:    d.deletionDate,
		CreatedDate:     d.created,
		LastChangedDate: d.lastChanged,
		RotationEnabled: d.rotationEnabled,
		LastRotatedDate: d.lastRotated,
		Tags:            sec.tagMap(),
	}
	if sec.primary != nil {
		si.PrimaryRegion = sec.primary.region
	}
	for _, r := range sec.replicas {
		if r.status == "InSync" {
			si.Replicas = append(si.Replicas, r.region)
		}
	}
	for _, id := range d.order {
		v := d.versions[id]
		si.Versions = append(si.Versions, VersionInfo{VersionID: id, Stages: slices.Clone(v.stages), CreatedDate: v.created, Binary: v.bin != nil})
	}
	return si, true
}

// Value returns the value of the version of a secret carrying stage ("" =
// AWSCURRENT); a binary value is returned as a string of its bytes. It
// does not count as an access and also reads secrets scheduled for
// deletion.
func (s *Server) Value(region, nameOrARN, stage string) (string, bool) {
	if stage == "" {
		stage = stageCurrent
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(s.resolveRegion(region), nameOrARN)
	if sec == nil {
		return "", false
	}
	v := sec.versionWith(stage)
	if v == nil {
		return "", false
	}
	if v.str != nil {
		return *v.str, true
	}
	return string(v.bin), true
}

// LoadJSON loads secrets from a JSON object mapping names to values: a JSON
// string is stored as is, a JSON object as its (compact) JSON text. A name
// that does not exist is created; an existing secret gets a new AWSCURRENT
// version if its value differs. Nothing is loaded if the document is
// invalid.
func (s *Server) LoadJSON(region string, data []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("smtest: LoadJSON: %w", err)
	}
	names := make([]string, 0, len(doc))
	values := make(map[string]string, len(doc))
	for name, raw := range doc {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) > 0 && raw[0] == '"':
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("smtest: LoadJSON: %q: %w", name, err)
			}
			values[name] = v
		case len(raw) > 0 && raw[0] == '{':
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return fmt.Errorf("smtest: LoadJSON: %q: %w", name, err)
			}
			values[name] = buf.String()
		default:
			return fmt.Errorf("smtest: LoadJSON: %q: value must be a string or an object", name)
		}
		if !validName(name) {
			return fmt.Errorf("smtest: LoadJSON: %q: invalid secret name", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := values[name]
		if cur, ok := s.Value(region, name, stageCurrent); ok && cur == value {
			continue
		}
		if _, ok := s.Secret(region, name); ok {
			if _, err := s.PutSecretValue(region, name, value); err != nil {
				return fmt.Errorf("smtest: LoadJSON: %q: %w", name, err)
			}
			continue
		}
		if _, err := s.CreateSecret(region, name, value); err != nil {
			return fmt.Errorf("smtest: LoadJSON: %q: %w", name, err)
		}
	}
	return nil
}

// LoadFile is LoadJSON on the contents of the file at path.
func (s *Server) LoadFile(region, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("smtest: LoadFile: %w", err)
	}
	return s.LoadJSON(region, data)
}

// Reset deletes every secret in every region. Faults, counters, hooks and
// the rotation function are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.regions)
}

// Regions lists the regions that hold at least one secret, sorted.
func (s *Server) Regions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, r := range s.regions {
		if len(r.secrets) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
