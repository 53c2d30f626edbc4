package smtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsname"
)

const (
	// maxVersions is how many versions a secret keeps. AWS keeps about 100
	// (plus every version of the last 24 hours); we drop the oldest
	// versions without staging labels beyond 100.
	maxVersions = 100

	// maxValueBytes is the AWS limit for SecretString and SecretBinary.
	// moto does not enforce it; we follow AWS.
	maxValueBytes = 65536
)

type regionState struct {
	secrets map[string]*secret // by name
}

type tag struct{ Key, Value string }

type version struct {
	id           string
	str          *string
	bin          []byte
	stages       []string
	created      time.Time
	lastAccessed time.Time
}

func (v *version) sameValue(str *string, bin []byte) bool {
	if (v.str == nil) != (str == nil) || (v.bin == nil) != (bin == nil) {
		return false
	}
	if str != nil && *v.str != *str {
		return false
	}
	return bytes.Equal(v.bin, bin)
}

type replicaInfo struct {
	region  string
	kmsKey  string
	status  string // InSync or Failed
	message string
	created time.Time
}

type rotationRules struct {
	days     *int64
	duration *string
	schedule *string
}

// secret is one secret in one region. A replica only holds its identity
// (name, region, ARN) and a pointer to its primary, from which every read
// takes its data, so writes to the primary are visible in the replicas at
// once.
type secret struct {
	seq     uint64
	region  string
	name    string
	arn     string
	primary *secret // non-nil for a replica

	// The fields below are only used on a primary (or standalone) secret.
	description  string
	kmsKeyID     string
	typ          string
	tags         []tag
	created      time.Time
	lastChanged  time.Time
	lastAccessed time.Time
	deletionDate time.Time // zero unless scheduled for deletion
	versions     map[string]*version
	order        []string // version ids, oldest first
	policy       *string

	rotationEnabled   bool
	rotationRequested bool
	rotationLambda    string
	rules             *rotationRules
	lastRotated       time.Time
	nextRotation      time.Time
	rotating          bool

	replicas []*replicaInfo
}

// data returns the secret holding the data: the primary for a replica.
func (s *secret) data() *secret {
	if s.primary != nil {
		return s.primary
	}
	return s
}

func (s *secret) deleted() bool { return !s.data().deletionDate.IsZero() }

// versionWith returns the version carrying stage, or nil.
func (s *secret) versionWith(stage string) *version {
	d := s.data()
	for _, id := range d.order {
		if v := d.versions[id]; slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// labelledVersions maps version ids to their stages, skipping deprecated
// versions (no stages), as DescribeSecret and ListSecrets show them.
func (s *secret) labelledVersions() map[string][]string {
	d := s.data()
	m := map[string][]string{}
	for _, id := range d.order {
		if v := d.versions[id]; len(v.stages) > 0 {
			m[id] = slices.Clone(v.stages)
		}
	}
	return m
}

// removeStage takes stage off every version.
func (s *secret) removeStage(stage string) {
	for _, v := range s.versions {
		v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
	}
}

// addVersion adds a new version carrying stages and moves the labels as AWS
// does: each label leaves the version that had it, and if AWSCURRENT moves
// then AWSPREVIOUS goes to the version that had AWSCURRENT.
func (s *secret) addVersion(id string, str *string, bin []byte, stages []string, now time.Time) *version {
	v := &version{id: id, str: str, bin: bin, created: now}
	if s.versions == nil {
		s.versions = map[string]*version{}
	}
	s.versions[id] = v
	s.order = append(s.order, id)
	s.attachStages(v, stages)
	s.prune()
	return v
}

// attachStages attaches stages to v, moving them from other versions.
func (s *secret) attachStages(v *version, stages []string) {
	for _, st := range stages {
		if slices.Contains(v.stages, st) {
			continue
		}
		if st == awsname.StageCurrent {
			if old := s.versionWith(awsname.StageCurrent); old != nil && old != v {
				s.removeStage(awsname.StagePrevious)
				old.stages = slices.DeleteFunc(old.stages, func(x string) bool { return x == awsname.StageCurrent })
				old.stages = append(old.stages, awsname.StagePrevious)
			}
			v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == awsname.StagePrevious })
		} else {
			s.removeStage(st)
		}
		v.stages = append(v.stages, st)
	}
}

// prune drops the oldest deprecated versions beyond maxVersions.
func (s *secret) prune() {
	for len(s.order) > maxVersions {
		i := slices.IndexFunc(s.order, func(id string) bool { return len(s.versions[id].stages) == 0 })
		if i < 0 {
			return
		}
		delete(s.versions, s.order[i])
		s.order = slices.Delete(s.order, i, i+1)
	}
}

func (s *secret) tagMap() map[string]string {
	m := map[string]string{}
	for _, t := range s.data().tags {
		m[t.Key] = t.Value
	}
	return m
}

func (s *secret) owningService() string {
	for _, t := range s.data().tags {
		if t.Key == "aws:secretsmanager:owningService" {
			return t.Value
		}
	}
	return ""
}

func (srv *Server) region(name string) *regionState {
	r := srv.regions[name]
	if r == nil {
		r = &regionState{secrets: map[string]*secret{}}
		srv.regions[name] = r
	}
	return r
}

// lookup finds a secret by name, full ARN or partial ARN (the ARN without
// the "-" and six random characters). Deleted secrets are returned too.
// Callers hold srv.mu.
func (srv *Server) lookup(region, id string) *secret {
	r := srv.regions[region]
	if r == nil || id == "" {
		return nil
	}
	if !strings.HasPrefix(id, "arn:") {
		return r.secrets[id]
	}
	a, ok := awsname.ParseARN(id)
	if !ok || a.Region != region || a.Account != srv.cfg.account {
		return nil
	}
	for _, s := range r.secrets {
		if s.arn == id {
			return s
		}
	}
	// A partial ARN: its resource is the name.
	return r.secrets[a.Resource]
}

func (srv *Server) newARN(region, name string) string {
	return "arn:aws:secretsmanager:" + region + ":" + srv.cfg.account + ":secret:" + name + "-" + randomSuffix()
}

func (srv *Server) nextSeq() uint64 {
	srv.seq++
	return srv.seq
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validName reports whether name is a valid secret name: 1 to 512
// characters among ASCII letters, digits and /_+=.@-. AWS also advises
// against names ending with a hyphen and six characters (they look like a
// full ARN's suffix in partial-ARN lookups) but does not reject them, and
// neither do we.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 512 {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("/_+=.@-", c):
		default:
			return false
		}
	}
	return true
}
