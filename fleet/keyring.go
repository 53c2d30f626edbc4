package fleet

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/secretcache/secretcache"
)

// KeySize is the size of a fleet key: 32 bytes (AES-256).
const KeySize = 32

// maxKeyringBytes bounds a keyring document (file, env var or secret).
const maxKeyringBytes = 64 << 10

// A Keyring holds the fleet keys: the current one encrypts and names new
// entries, every one decrypts. Build it with NewKeyring, ParseKeyring,
// KeyringFromFile, KeyringFromEnv or KeyringFromSecret.
type Keyring struct {
	current string
	keys    map[string]*fleetKey
}

type fleetKey struct {
	id   string
	aead cipher.AEAD
	mac  []byte // HMAC key naming Redis keys
}

// NewKeyring returns a keyring of keys (id -> 32 random bytes) whose
// current key is current. Ids are 1 to 64 characters among letters, digits
// and "-_."; a key of another size, an unknown current id or no key is an
// error that quotes no key material.
func NewKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("fleet: keyring has no key")
	}
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("fleet: keyring's current key %q is not among its keys", clipID(current))
	}
	kr := &Keyring{current: current, keys: make(map[string]*fleetKey, len(keys))}
	for id, k := range keys {
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("fleet: key %q is %d bytes, want %d", id, len(k), KeySize)
		}
		fk, err := deriveKey(id, k)
		if err != nil {
			return nil, err
		}
		kr.keys[id] = fk
	}
	return kr, nil
}

func checkKeyID(id string) error {
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return fmt.Errorf("fleet: key id %q: want 1 to 64 of letters, digits, \"-\", \"_\" and \".\" (got %d bytes)", clipID(id), len(id))
	}
	return nil
}

func clipID(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// deriveKey derives the encryption key and the naming key from a master
// key with HKDF-SHA256, so the two uses never share a key.
func deriveKey(id string, master []byte) (*fleetKey, error) {
	enc, err := hkdf.Key(sha256.New, master, nil, "secretcache fleet v1 encrypt", 32)
	if err != nil {
		return nil, err
	}
	mac, err := hkdf.Key(sha256.New, master, nil, "secretcache fleet v1 name", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &fleetKey{id: id, aead: aead, mac: mac}, nil
}

// Current returns the id of the current key.
func (kr *Keyring) Current() string { return kr.current }

// IDs returns the ids of every key, sorted.
func (kr *Keyring) IDs() []string {
	ids := make([]string, 0, len(kr.keys))
	for id := range kr.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (kr *Keyring) name(parts ...string) string { return kr.nameWith(kr.current, parts...) }

// older returns the ids of the keys other than the current one, sorted.
func (kr *Keyring) older() []string {
	var ids []string
	for _, id := range kr.IDs() {
		if id != kr.current {
			ids = append(ids, id)
		}
	}
	return ids
}

func (kr *Keyring) nameWith(id string, parts ...string) string {
	m := hmac.New(sha256.New, kr.keys[id].mac)
	for _, p := range parts {
		_, _ = m.Write([]byte(p))
		_, _ = m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// keyringDoc is the keyring document of ParseKeyring.
type keyringDoc struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
}

// ParseKeyring reads a keyring document:
//
//	{"current": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "..."}}
//
// Standard or URL base64, padded or not. Empty, oversized (over 64 KiB),
// malformed documents and bad keys are errors that quote no key material.
func ParseKeyring(doc []byte) (*Keyring, error) {
	if len(doc) == 0 {
		return nil, errors.New("fleet: keyring document is empty")
	}
	if len(doc) > maxKeyringBytes {
		return nil, fmt.Errorf("fleet: keyring document is %d bytes, over the limit of %d", len(doc), maxKeyringBytes)
	}
	var d keyringDoc
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		// json errors can quote the input: say only where.
		return nil, errors.New(`fleet: keyring document is not {"current": id, "keys": {id: base64 key}}`)
	}
	keys := make(map[string][]byte, len(d.Keys))
	for id, s := range d.Keys {
		k, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("fleet: key %q is not base64", clipID(id))
		}
		keys[id] = k
	}
	return NewKeyring(d.Current, keys)
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("not base64")
}

// KeyringFromFile reads a keyring document from path. The file is refused
// when group or others may write it (or the directory it is in), since
// whoever can write the key can plant entries.
func KeyringFromFile(path string) (*Keyring, error) {
	if path == "" {
		return nil, errors.New("fleet: keyring file path is empty")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: keyring file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("fleet: keyring file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("fleet: keyring file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("fleet: keyring file %s is writable by group or others (mode %v); chmod go-w it", path, fi.Mode().Perm())
	}
	if fi.Size() > maxKeyringBytes {
		return nil, fmt.Errorf("fleet: keyring file %s is %d bytes, over the limit of %d", path, fi.Size(), maxKeyringBytes)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("fleet: keyring file: %w", err)
	}
	kr, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return kr, nil
}

// KeyringFromEnv reads a keyring document from the environment variable
// name. An unset or empty variable is an error.
func KeyringFromEnv(name string) (*Keyring, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, fmt.Errorf("fleet: environment variable %s is unset or empty", name)
	}
	kr, err := ParseKeyring([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("%w (env %s)", err, name)
	}
	return kr, nil
}

// KeyringFromSecret reads a keyring document from secret id of src (an
// awssm.Source, say): IAM on that one secret then decides who can read the
// fleet cache. src is read directly, never through the fleet.
func KeyringFromSecret(ctx context.Context, src secretcache.Source, id string) (*Keyring, error) {
	if err := secretcache.CheckID(id); err != nil {
		return nil, fmt.Errorf("fleet: keyring secret: %w", err)
	}
	s, err := src.Fetch(ctx, secretcache.Ref{ID: id, VersionStage: describe(src).DefaultStage})
	if err != nil {
		return nil, fmt.Errorf("fleet: keyring secret: %w", err)
	}
	if s == nil {
		return nil, errors.New("fleet: keyring secret: the source returned nothing")
	}
	doc := []byte(s.String)
	if s.String == "" {
		doc = s.Binary
	}
	kr, err := ParseKeyring(doc)
	if err != nil {
		return nil, fmt.Errorf("%w (secret %q)", err, id)
	}
	return kr, nil
}
