// Package agentjson writes the JSON bodies of the AWS Secrets Manager Agent
// byte for byte: a secret's GetSecretValue object and an error's
// {"__type", "message"}, and reads a secret's object back (ParseSecret, for
// "secretcache exec" and "render" through an agent). It is the one home of
// that format for the agent and the CLI; it does no HTTP and keeps no state.
package agentjson

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/secretcache/secretcache"
)

// AppendSecret appends the GetSecretValue JSON of s as the AWS agent writes
// it: compact, keys in the order ARN, Name, VersionId, SecretString or
// SecretBinary (base64), VersionStages, CreatedDate (epoch seconds with
// their fraction, as a string). Missing ARN, Name, VersionId and CreatedDate
// are null; missing VersionStages are left out.
func AppendSecret(b []byte, s *secretcache.Secret) []byte {
	b = append(b, `{"ARN":`...)
	b = appendNullable(b, s.ARN)
	b = append(b, `,"Name":`...)
	b = appendNullable(b, s.Name)
	b = append(b, `,"VersionId":`...)
	b = appendNullable(b, s.VersionID)
	switch {
	case s.IsBinary():
		b = append(b, `,"SecretBinary":"`...)
		b = base64.StdEncoding.AppendEncode(b, s.Binary)
		b = append(b, '"')
	default:
		b = append(b, `,"SecretString":`...)
		b = AppendString(b, s.String)
	}
	if s.VersionStages != nil {
		b = append(b, `,"VersionStages":[`...)
		for i, st := range s.VersionStages {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, st)
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
	return AppendString(b, s)
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the bytes of valid UTF-8 text that AppendString writes
// as they are: everything but control characters, the quote and the
// backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string the way serde_json does: only the
// quote, the backslash and control characters are escaped (\b \f \n \r \t
// by name, others as \u00XX); everything else, HTML characters included, is
// written as is. Invalid UTF-8 becomes U+FFFD so that the output is always
// valid JSON.
func AppendString(b []byte, s string) []byte {
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

// appendInvalidUTF8 is AppendString for text that is not valid UTF-8.
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

// AppendError appends an error body in the AWS agent's format,
// {"__type":"Code", "message":"text"} (with its space after the comma), or
// {"__type":"InternalFailure"} when there is no message.
func AppendError(b []byte, code, msg string) []byte {
	if msg == "" || code == "InternalFailure" {
		return append(b, `{"__type":"InternalFailure"}`...)
	}
	b = append(b, `{"__type":`...)
	b = AppendString(b, code)
	b = append(b, `, "message":`...)
	b = AppendString(b, msg)
	return append(b, '}')
}

// wireSecret is the GetSecretValue JSON of AppendSecret, read back.
type wireSecret struct {
	ARN           *string  `json:"ARN"`
	Name          *string  `json:"Name"`
	VersionID     *string  `json:"VersionId"`
	SecretString  *string  `json:"SecretString"`
	SecretBinary  *string  `json:"SecretBinary"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   any      `json:"CreatedDate"`
}

// ParseSecret reads a GetSecretValue JSON answer (the agent's, or AWS's)
// into a Secret. CreatedDate may be epoch seconds as a number or a string.
// It fails on malformed JSON, on an answer with neither or both of
// SecretString and SecretBinary, and on bad base64; the error never quotes
// the body.
func ParseSecret(body []byte) (*secretcache.Secret, error) {
	var w wireSecret
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, errors.New("the answer is not GetSecretValue JSON")
	}
	s := &secretcache.Secret{VersionStages: w.VersionStages}
	for dst, src := range map[*string]*string{&s.ARN: w.ARN, &s.Name: w.Name, &s.VersionID: w.VersionID} {
		if src != nil {
			*dst = *src
		}
	}
	switch {
	case (w.SecretString == nil) == (w.SecretBinary == nil):
		return nil, errors.New("the answer has neither or both of SecretString and SecretBinary")
	case w.SecretString != nil:
		s.String = *w.SecretString
	default:
		b, err := base64.StdEncoding.DecodeString(*w.SecretBinary)
		if err != nil {
			return nil, errors.New("the answer's SecretBinary is not base64")
		}
		s.Binary = b
	}
	var epoch float64
	switch d := w.CreatedDate.(type) {
	case float64:
		epoch = d
	case string:
		epoch, _ = strconv.ParseFloat(d, 64)
	}
	if epoch > 0 {
		sec, frac := math.Modf(epoch)
		s.CreatedDate = time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC()
	}
	return s, nil
}
