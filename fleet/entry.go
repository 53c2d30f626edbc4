package fleet

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/secretcache/secretcache"
)

// An entry in Redis is
//
//	version (1 byte) | len(key id) (1 byte) | key id | nonce (12) | AES-256-GCM(plaintext)
//
// The plaintext is the JSON of sealed: the secret (value and metadata) and
// the time of the origin fetch. The associated data binds the ciphertext to
// its place: the fleet group, the ref it answers and the key id. GCM
// authenticates the plaintext too, so the name, ARN, version id and stages
// it holds cannot be changed; after opening, they are checked against the
// ref as the core checks a source's answer.
const entryVersion = 1

// maxEntryBytes bounds what is read back: a Secrets Manager value is at
// most 64 KiB, with metadata and base64 well under 256 KiB.
const maxEntryBytes = 256 << 10

type sealed struct {
	FetchedAt     int64     `json:"t"` // unix nanos of the origin fetch
	ARN           string    `json:"a,omitempty"`
	Name          string    `json:"n,omitempty"`
	VersionID     string    `json:"v,omitempty"`
	VersionStages []string  `json:"st,omitempty"`
	String        string    `json:"s,omitempty"`
	Binary        []byte    `json:"b,omitempty"`
	CreatedDate   time.Time `json:"c,omitzero"`
}

func aad(group, keyID string, ref secretcache.Ref) []byte {
	b := make([]byte, 0, 64+len(group)+len(ref.ID))
	for _, p := range []string{"secretcache fleet entry v1", group, keyID, ref.ID, ref.VersionStage, ref.VersionID} {
		b = append(b, p...)
		b = append(b, 0)
	}
	return b
}

func (kr *Keyring) seal(group string, ref secretcache.Ref, s *secretcache.Secret, fetchedAt time.Time) ([]byte, error) {
	k := kr.keys[kr.current]
	pt, err := json.Marshal(sealed{FetchedAt: fetchedAt.UnixNano(), ARN: s.ARN, Name: s.Name, VersionID: s.VersionID,
		VersionStages: s.VersionStages, String: s.String, Binary: s.Binary, CreatedDate: s.CreatedDate})
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	out := make([]byte, 0, 2+len(k.id)+k.aead.NonceSize()+len(pt)+k.aead.Overhead())
	out = append(out, entryVersion, byte(len(k.id)))
	out = append(out, k.id...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, pt, aad(group, k.id, ref)), nil
}

var errBadEntry = errors.New("fleet: entry refused")

// open decrypts and checks an entry; any fault is errBadEntry, which says
// nothing of the content.
func (kr *Keyring) open(group string, ref secretcache.Ref, b []byte, d secretcache.Description) (*secretcache.Secret, time.Time, error) {
	if len(b) < 2 || len(b) > maxEntryBytes || b[0] != entryVersion {
		return nil, time.Time{}, errBadEntry
	}
	n := int(b[1])
	if len(b) < 2+n {
		return nil, time.Time{}, errBadEntry
	}
	k, ok := kr.keys[string(b[2:2+n])]
	if !ok {
		return nil, time.Time{}, errBadEntry
	}
	rest := b[2+n:]
	if len(rest) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, time.Time{}, errBadEntry
	}
	pt, err := k.aead.Open(nil, rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():], aad(group, k.id, ref))
	if err != nil {
		return nil, time.Time{}, errBadEntry
	}
	defer clear(pt)
	var e sealed
	if err := json.Unmarshal(pt, &e); err != nil {
		return nil, time.Time{}, errBadEntry
	}
	s := &secretcache.Secret{ARN: e.ARN, Name: e.Name, VersionID: e.VersionID, VersionStages: e.VersionStages,
		String: e.String, Binary: e.Binary, CreatedDate: e.CreatedDate, FetchedAt: time.Unix(0, e.FetchedAt)}
	if !answersRef(ref, s, d) {
		return nil, time.Time{}, errBadEntry
	}
	return s, time.Unix(0, e.FetchedAt), nil
}

// answersRef reports whether s is a usable answer to ref under the source's
// rules: its secret, its version or stage, exactly one value.
func answersRef(ref secretcache.Ref, s *secretcache.Secret, d secretcache.Description) bool {
	if (s.String == "") == (len(s.Binary) == 0) {
		return false
	}
	if !d.SameSecret(ref.ID, s) {
		return false
	}
	if ref.VersionID != "" && s.VersionID != ref.VersionID {
		return false
	}
	if ref.VersionStage != "" && !slices.Contains(s.VersionStages, ref.VersionStage) {
		return false
	}
	return true
}
