package agent

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/agentjson"
)

// answer is the agent's answer to the reads of one cached secret version:
// the JSON built once, and the bare value and the field= answers built on
// first use. It is kept per ref (hitTable) and used only while the secret
// the cache returns is equal, field by field, to the one it was built from
// (sec), so the bytes served are always those agentjson.AppendSecret would write for
// the version just read. Its bytes hold the value: they are never logged,
// never changed once built (another request may be writing them), and are
// dropped with the answer when the version changes or leaves the cache.
type answer struct {
	sec *secretcache.Secret // the caller's copy the bodies were built from
	*bodies
}

type bodies struct {
	json   []byte
	length []string // Content-Length of json
	text   atomic.Pointer[rawBody]
	fields atomic.Pointer[fieldSet]
}

// rawBody is a precomputed body with its headers.
type rawBody struct {
	b      []byte
	length []string
	ctype  []string
}

func newRawBody(b []byte, ctype []string) *rawBody {
	return &rawBody{b: b, length: []string{strconv.Itoa(len(b))}, ctype: ctype}
}

func newAnswer(sec *secretcache.Secret) *answer {
	b := agentjson.AppendSecret(nil, sec)
	return &answer{sec: sec, bodies: &bodies{json: b, length: []string{strconv.Itoa(len(b))}}}
}

// sameAnswer reports whether x and y would give the same answers. Strings
// that share their bytes (the cache's copy of an unchanged entry) compare in
// constant time.
func sameAnswer(x, y *secretcache.Secret) bool {
	return x.VersionID == y.VersionID && x.String == y.String && x.ARN == y.ARN && x.Name == y.Name &&
		x.CreatedDate.Equal(y.CreatedDate) && slices.Equal(x.VersionStages, y.VersionStages) &&
		(x.VersionStages == nil) == (y.VersionStages == nil) &&
		(x.Binary == nil) == (y.Binary == nil) && bytes.Equal(x.Binary, y.Binary)
}

// sharesValue reports whether the string values of x and y are the same
// bytes, not copies.
func sharesValue(x, y *secretcache.Secret) bool {
	return unsafe.StringData(x.String) == unsafe.StringData(y.String)
}

// textBody is the bare value (Accept: text/plain without field=).
func (a *answer) textBody() *rawBody {
	if t := a.text.Load(); t != nil {
		return t
	}
	var t *rawBody
	if a.sec.IsBinary() {
		t = newRawBody(slices.Clone(a.sec.Binary), ctBinary)
	} else {
		t = newRawBody([]byte(a.sec.String), ctText)
	}
	if a.text.CompareAndSwap(nil, t) {
		return t
	}
	return a.text.Load()
}

// maxFieldAnswers caps the field= answers kept per version; others are
// built for each request.
const maxFieldAnswers = 64

// fieldSet is the parsed JSON object of a version, for field=, and the
// answers built for its keys.
type fieldSet struct {
	kind    error // secretcache.ErrWrongType or ErrNotJSON when field= cannot work; else nil
	members map[string]json.RawMessage
	mu      sync.Mutex
	built   map[string]*fieldAnswer // at most maxFieldAnswers
}

// fieldAnswer is the JSON and the bare answer for one key.
type fieldAnswer struct{ json, text *rawBody }

// field returns the answers for one top-level key of a JSON-object secret
// (see field), from the same version as the metadata they carry.
func (a *answer) field(id, key string) (*fieldAnswer, error) {
	fs := a.fields.Load()
	if fs == nil {
		fs = parseFields(a.sec)
		if !a.fields.CompareAndSwap(nil, fs) {
			fs = a.fields.Load()
		}
	}
	if fs.kind != nil {
		return nil, &secretcache.Error{Op: "field", ID: id, Kind: fs.kind}
	}
	raw, ok := fs.members[key]
	if !ok {
		return nil, &secretcache.Error{Op: "field", ID: id, Kind: secretcache.ErrKeyMissing}
	}
	fs.mu.Lock()
	f := fs.built[key]
	fs.mu.Unlock()
	if f != nil {
		return f, nil
	}
	v := fieldValue(raw)
	withField := *a.sec // the same metadata, the key's value as SecretString
	withField.String, withField.Binary = v, nil
	f = &fieldAnswer{json: newRawBody(agentjson.AppendSecret(nil, &withField), ctJSON), text: newRawBody([]byte(v), ctText)}
	fs.mu.Lock()
	if old := fs.built[key]; old != nil {
		f = old
	} else if len(fs.built) < maxFieldAnswers {
		fs.built[key] = f
	}
	fs.mu.Unlock()
	return f, nil
}

func parseFields(sec *secretcache.Secret) *fieldSet {
	if sec.IsBinary() {
		return &fieldSet{kind: secretcache.ErrWrongType}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sec.String), &m); err != nil || m == nil {
		return &fieldSet{kind: secretcache.ErrNotJSON}
	}
	return &fieldSet{members: m, built: map[string]*fieldAnswer{}}
}

// fieldValue is the text of a member: a string as its text, any other
// value as its JSON.
func fieldValue(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			return str
		}
	}
	return string(bytes.TrimSpace(raw))
}

// wipe zeroes the bodies of an answer built for one request, once written.
func (a *answer) wipe() {
	clear(a.json)
	if t := a.text.Load(); t != nil {
		clear(t.b)
	}
	if fs := a.fields.Load(); fs != nil {
		fs.mu.Lock()
		for _, f := range fs.built {
			clear(f.json.b)
			clear(f.text.b)
		}
		fs.mu.Unlock()
	}
}
