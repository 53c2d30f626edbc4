package smtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsname"
)

// The Go helpers below run the same code as the API operations (same
// validation, same errors as *APIError, same change events) but are not
// counted by Calls and are not subject to faults. region "" means the
// default region.

// call runs an operation in-process and emits its change events.
func call[T any](srv *Server, ctx context.Context, region string, fn func(*Server, context.Context, string, *T) (any, []ChangeEvent, error), in *T) (obj, error) {
	out, evs, err := fn(srv, ctx, srv.resolveRegion(region), in)
	srv.emit(evs)
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
func (srv *Server) CreateSecret(region, name, value string) (arn string, err error) {
	o, err := call(srv, context.Background(), region, (*Server).opCreateSecret, &createSecretIn{Name: &name, SecretString: &value})
	return outString(o, "ARN"), err
}

// CreateBinarySecret creates a secret holding a binary value as its first
// version (AWSCURRENT) and returns its ARN.
func (srv *Server) CreateBinarySecret(region, name string, value []byte) (arn string, err error) {
	if value == nil {
		value = []byte{}
	}
	o, err := call(srv, context.Background(), region, (*Server).opCreateSecret, &createSecretIn{Name: &name, SecretBinary: value})
	return outString(o, "ARN"), err
}

// PutSecretValue adds a new string version to a secret (by name or ARN)
// with the given staging labels (default AWSCURRENT) and returns its
// VersionId.
func (srv *Server) PutSecretValue(region, name, value string, stages ...string) (versionID string, err error) {
	return srv.PutSecretValueWithToken(region, name, "", value, stages...)
}

// PutSecretValueWithToken is PutSecretValue with an explicit
// ClientRequestToken (the new VersionId; "" generates one), e.g. for the
// createSecret step of a RotationFunc. The same token with the same value
// is a no-op; with another value it fails with ResourceExistsException.
func (srv *Server) PutSecretValueWithToken(region, name, token, value string, stages ...string) (versionID string, err error) {
	in := &putSecretValueIn{SecretId: &name, SecretString: &value}
	if token != "" {
		in.ClientRequestToken = &token
	}
	if len(stages) > 0 {
		in.VersionStages = stages
	}
	o, err := call(srv, context.Background(), region, (*Server).opPutSecretValue, in)
	return outString(o, "VersionId"), err
}

// UpdateStage moves a staging label as UpdateSecretVersionStage does:
// moveToVersionID and removeFromVersionID may each be "" (absent).
func (srv *Server) UpdateStage(region, name, stage, moveToVersionID, removeFromVersionID string) error {
	in := &updateStageIn{SecretId: &name, VersionStage: &stage}
	if moveToVersionID != "" {
		in.MoveToVersionId = &moveToVersionID
	}
	if removeFromVersionID != "" {
		in.RemoveFromVersionId = &removeFromVersionID
	}
	_, err := call(srv, context.Background(), region, (*Server).opUpdateSecretVersionStage, in)
	return err
}

// DeleteSecret deletes a secret: at once with force, else scheduled for
// deletion after the default 30-day recovery window (see RestoreSecret).
func (srv *Server) DeleteSecret(region, name string, force bool) error {
	in := &deleteSecretIn{SecretId: &name}
	if force {
		in.ForceDeleteWithoutRecovery = &force
	}
	_, err := call(srv, context.Background(), region, (*Server).opDeleteSecret, in)
	return err
}

// RestoreSecret cancels the scheduled deletion of a secret.
func (srv *Server) RestoreSecret(region, name string) error {
	_, err := call(srv, context.Background(), region, (*Server).opRestoreSecret, &secretIDIn{SecretId: &name})
	return err
}

// Replicate replicates the secret name of fromRegion ("" = default region)
// to toRegions as read-only replicas, like ReplicateSecretToRegions. A
// region where the name is taken gets a Failed replication status, not an
// error.
func (srv *Server) Replicate(name, fromRegion string, toRegions ...string) error {
	in := &replicateIn{SecretId: &name}
	for _, r := range toRegions {
		in.AddReplicaRegions = append(in.AddReplicaRegions, replicaRegionIn{Region: &r})
	}
	_, err := call(srv, context.Background(), fromRegion, (*Server).opReplicateSecretToRegions, in)
	return err
}

// Rotate rotates a secret as RotateSecret with RotateImmediately does,
// running the RotationFunc (or the built-in rotation) in the four steps,
// and returns the new VersionId, now AWSCURRENT.
func (srv *Server) Rotate(ctx context.Context, region, name string) (newVersionID string, err error) {
	o, err := call(srv, ctx, region, (*Server).opRotateSecret, &rotateIn{SecretId: &name})
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
func (srv *Server) Secret(region, nameOrARN string) (SecretInfo, bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	sec := srv.lookup(srv.resolveRegion(region), nameOrARN)
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
func (srv *Server) Value(region, nameOrARN, stage string) (string, bool) {
	if stage == "" {
		stage = awsname.StageCurrent
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	sec := srv.lookup(srv.resolveRegion(region), nameOrARN)
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
// invalid. Errors are *SeedError values naming the secret, and for JSON
// syntax errors the line and column, never a value.
func (srv *Server) LoadJSON(region string, data []byte) error {
	return srv.loadJSON(region, data, "")
}

// LoadFile is LoadJSON on the contents of the file at path; its errors
// (*SeedError) also name the file.
func (srv *Server) LoadFile(region, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &SeedError{File: path, Err: errors.Unwrap(err)}
	}
	return srv.loadJSON(region, data, path)
}

// SeedError is an error of LoadJSON or LoadFile. It names the file (if
// any), the place of a JSON syntax error, and the secret at fault; it never
// holds a secret value.
type SeedError struct {
	File   string // the seed file ("" for LoadJSON)
	Line   int    // 1-based line of a JSON syntax error, or 0
	Column int    // 1-based column of a JSON syntax error, or 0
	Secret string // the secret at fault, or ""
	Err    error  // what is wrong
}

func (e *SeedError) Error() string { return "smtest: " + e.Detail() }

// Detail is the message without the "smtest: " prefix, for a program that
// adds its own ("--seed FILE: ...").
func (e *SeedError) Detail() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ": ")
	} else {
		b.WriteString("LoadJSON: ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
	}
	if e.Secret != "" {
		fmt.Fprintf(&b, "secret %q: ", e.Secret)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *SeedError) Unwrap() error { return e.Err }

const seedShape = `the seed must be a JSON object mapping secret names to a string or an object, such as {"app/db": {"password": "..."}, "app/key": "..."}`

func (srv *Server) loadJSON(region string, data []byte, file string) error {
	fail := func(name string, err error) error { return &SeedError{File: file, Secret: name, Err: err} }
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		se := &SeedError{File: file, Err: fmt.Errorf("%v; %s", err, seedShape)}
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			se.Line, se.Column = lineCol(data, syn.Offset)
			se.Err = fmt.Errorf("invalid JSON: %v; %s", err, seedShape)
		case errors.As(err, &typ):
			se.Err = fmt.Errorf("the document is a JSON %s; %s", typ.Value, seedShape)
		}
		return se
	}
	if doc == nil {
		return &SeedError{File: file, Err: errors.New("the document is null; " + seedShape)}
	}
	names := make([]string, 0, len(doc))
	values := make(map[string]string, len(doc))
	for name, raw := range doc {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) > 0 && raw[0] == '"':
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return fail(name, err)
			}
			values[name] = v
		case len(raw) > 0 && raw[0] == '{':
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return fail(name, err)
			}
			values[name] = buf.String()
		default:
			return fail(name, fmt.Errorf("value must be a string or an object, not %s", jsonKind(raw)))
		}
		if !validName(name) {
			return fail(name, errors.New("invalid secret name: 1 to 512 characters of letters, digits and /_+=.@-"))
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := values[name]
		if cur, ok := srv.Value(region, name, awsname.StageCurrent); ok && cur == value {
			continue
		}
		if _, ok := srv.Secret(region, name); ok {
			if _, err := srv.PutSecretValue(region, name, value); err != nil {
				return fail(name, err)
			}
			continue
		}
		if _, err := srv.CreateSecret(region, name, value); err != nil {
			return fail(name, err)
		}
	}
	return nil
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(raw []byte) string {
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '[':
		return "an array"
	case raw[0] == 't' || raw[0] == 'f':
		return "a boolean"
	case raw[0] == 'n':
		return "null"
	}
	return "a number"
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 1), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

// Reset deletes every secret in every region. Faults, counters, hooks and
// the rotation function are kept.
func (srv *Server) Reset() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	clear(srv.regions)
}

// Regions lists the regions that hold at least one secret, sorted.
func (srv *Server) Regions() []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var out []string
	for name, r := range srv.regions {
		if len(r.secrets) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
