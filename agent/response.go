package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/secretcache/secretcache"
)

// appendSecret appends the GetSecretValue JSON of s as the AWS agent writes
// it: compact, keys in the order ARN, Name, VersionId, SecretString or
// SecretBinary (base64), VersionStages, CreatedDate (epoch seconds with
// their fraction, as a string). Missing ARN, Name, VersionId and CreatedDate
// are null; missing VersionStages are left out. With field set, SecretString
// holds value instead of the secret's own string.
func appendSecret(b []byte, s *secretcache.Secret, field bool, value string) []byte {
	b = append(b, `{"ARN":`...)
	b = appendNullable(b, s.ARN)
	b = append(b, `,"Name":`...)
	b = appendNullable(b, s.Name)
	b = append(b, `,"VersionId":`...)
	b = appendNullable(b, s.VersionID)
	switch {
	case field:
		b = append(b, `,"SecretString":`...)
		b = appendString(b, value)
	case s.IsBinary():
		b = append(b, `,"SecretBinary":"`...)
		b = base64.StdEncoding.AppendEncode(b, s.Binary)
		b = append(b, '"')
	default:
		b = append(b, `,"SecretString":`...)
		b = appendString(b, s.String)
	}
	if s.VersionStages != nil {
		b = append(b, `,"VersionStages":[`...)
		for i, st := range s.VersionStages {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, st)
		}
		b = append(b, ']')
	}
	b = append(b, `,"CreatedDate":`...)
	if s.CreatedDate.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = appendEpoch(b, s.CreatedDate)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendEpoch writes t as seconds since the epoch with the shortest
// fraction that reads back to the same float, e.g. 1569534789.046.
func appendEpoch(b []byte, t time.Time) []byte {
	f := float64(t.Unix()) + float64(t.Nanosecond())/1e9
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the bytes of valid UTF-8 text that appendString writes
// as they are: everything but control characters, the quote and the
// backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string the way serde_json does: only the
// quote, the backslash and control characters are escaped (\b \f \n \r \t
// by name, others as \u00XX); everything else, HTML characters included, is
// written as is. Invalid UTF-8 becomes U+FFFD so that the output is always
// valid JSON.
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		return appendInvalidUTF8(b, s)
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && jsonPlain[s[i]] {
			i++
		}
		b = append(b, s[start:i]...)
		if i < len(s) {
			b = appendEscaped(b, s[i])
			i++
		}
	}
	return append(b, '"')
}

func appendEscaped(b []byte, c byte) []byte {
	switch c {
	case '"':
		return append(b, '\\', '"')
	case '\\':
		return append(b, '\\', '\\')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendInvalidUTF8 is appendString for text that is not valid UTF-8.
func appendInvalidUTF8(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonPlain[c] {
				b = append(b, c)
			} else {
				b = appendEscaped(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendError appends an error body in the AWS agent's format,
// {"__type":"Code", "message":"text"} (with its space after the comma), or
// {"__type":"InternalFailure"} when there is no message.
func appendError(b []byte, code, msg string) []byte {
	if msg == "" || code == "InternalFailure" {
		return append(b, `{"__type":"InternalFailure"}`...)
	}
	b = append(b, `{"__type":`...)
	b = appendString(b, code)
	b = append(b, `, "message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// MarshalSecret returns the JSON the agent answers with for s: the
// GetSecretValue shape, byte for byte as the AWS Secrets Manager Agent
// writes it (see "The agent" in README.md). It holds the secret
// value; a nil s gives "null".
func MarshalSecret(s *secretcache.Secret) []byte {
	if s == nil {
		return []byte("null")
	}
	return appendSecret(nil, s, false, "")
}

// answer is the agent's answer to the reads of one cached secret version:
// the JSON built once, and the bare value and the field= answers built on
// first use. It is kept per ref (hitTable) and used only while the secret
// the cache returns is equal, field by field, to the one it was built from
// (sec), so the bytes served are always those appendSecret would write for
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
	b := appendSecret(nil, sec, false, "")
	return &answer{sec: sec, bodies: &bodies{json: b, length: []string{strconv.Itoa(len(b))}}}
}

// sameSecret reports whether x and y would give the same answers. Strings
// that share their bytes (the cache's copy of an unchanged entry) compare in
// constant time.
func sameSecret(x, y *secretcache.Secret) bool {
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
	f = &fieldAnswer{json: newRawBody(appendSecret(nil, a.sec, true, v), ctJSON), text: newRawBody([]byte(v), ctText)}
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
