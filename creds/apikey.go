package creds

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// APIKey is an API key secret. It decodes from a JSON object whose key is
// under "api_key", "apiKey", "key" or "token" (the first non-empty one, in
// that order), with an optional "header" naming the HTTP header to send it
// in (empty: "Authorization: Bearer <key>").
//
// An APIKey never prints its key: String, fmt, encoding/json and log/slog
// show "[REDACTED]".
type APIKey struct {
	Key    string `json:"api_key"`
	Header string `json:"header,omitempty"`
}

// UnmarshalJSON implements json.Unmarshaler, accepting the aliases above.
func (k *APIKey) UnmarshalJSON(b []byte) error {
	var in struct {
		APIKey  string `json:"api_key"`
		APIKey2 string `json:"apiKey"`
		Key     string `json:"key"`
		Token   string `json:"token"`
		Header  string `json:"header"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*k = APIKey{Key: firstString(in.APIKey, in.APIKey2, in.Key, in.Token), Header: in.Header}
	return nil
}

// ParseAPIKey decodes an API key secret: a JSON object as described at
// APIKey, or, when value is not JSON, the whole trimmed value as the key. It
// fails with secretcache.ErrNotJSON for an empty or oversized value and for
// a JSON value that is not an object of strings, and with
// secretcache.ErrInvalidRequest when the result does not Validate.
func ParseAPIKey(value string) (APIKey, error) {
	var k APIKey
	t := strings.TrimSpace(value)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") || strings.HasPrefix(t, "\"") || t == "" || len(value) > MaxSecretSize {
		if err := decode("API key", value, &k); err != nil {
			return APIKey{}, err
		}
	} else {
		k.Key = t
	}
	if err := k.Validate(); err != nil {
		return APIKey{}, err
	}
	return k, nil
}

// Validate checks that the key is set and can travel in an HTTP header (no
// control characters, at most 8 KiB) and that Header, if set, is a valid
// header name.
func (k APIKey) Validate() error {
	switch {
	case k.Key == "":
		return invalid("validate", "api_key", "empty")
	case len(k.Key) > 8192 || badText(k.Key):
		return invalid("validate", "api_key", "too long or not a valid header value")
	case k.Header != "" && !token(k.Header):
		return invalid("validate", "header", "not a valid HTTP header name")
	}
	return nil
}

// Apply sets the key on an HTTP header: in k.Header when set, else as
// "Authorization: Bearer <key>". It does nothing for a nil header.
func (k APIKey) Apply(h http.Header) {
	if h == nil {
		return
	}
	if k.Header != "" {
		h.Set(k.Header, k.Key)
		return
	}
	h.Set("Authorization", "Bearer "+k.Key)
}

// SecretJSON returns the secret as JSON with the real key.
func (k APIKey) SecretJSON() ([]byte, error) {
	type plain APIKey
	return json.Marshal(plain(k))
}

// MarshalJSON implements json.Marshaler with the key redacted.
func (k APIKey) MarshalJSON() ([]byte, error) {
	type plain APIKey
	p := plain(k)
	p.Key = redact(p.Key)
	return json.Marshal(p)
}

// String describes the key with its value redacted.
func (k APIKey) String() string {
	return fmt.Sprintf("creds.APIKey{Key:%q Header:%q}", redact(k.Key), k.Header)
}

// GoString implements fmt.GoStringer with the key redacted.
func (k APIKey) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb prints String.
func (k APIKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue implements slog.LogValuer with the key redacted.
func (k APIKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("api_key", redact(k.Key)), slog.String("header", k.Header))
}

// token reports whether s is an RFC 9110 token (a header name or an auth
// scheme) of at most 256 bytes.
func token(s string) bool { return len(s) <= 256 && httpguts.ValidHeaderFieldName(s) }
