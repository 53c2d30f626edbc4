package creds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// OAuthClient is an OAuth 2.0 client-credentials secret. It decodes from a
// JSON object with "client_id" (or "clientId"), "client_secret" (or
// "clientSecret"), "token_url" (or "tokenUrl"), "scopes" (a JSON array, or
// one space-separated string; "scope" is accepted too) and "audience".
//
// An OAuthClient never prints its client secret: String, fmt, encoding/json
// and log/slog show "[REDACTED]".
type OAuthClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	TokenURL     string   `json:"token_url,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
}

// scopes decodes a JSON array of strings or one space-separated string.
type scopes []string

func (s *scopes) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = strings.Fields(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &fieldError{"scopes", "not a string or an array of strings"}
	}
	*s = many
	return nil
}

// UnmarshalJSON implements json.Unmarshaler, accepting the aliases above.
func (o *OAuthClient) UnmarshalJSON(b []byte) error {
	var in struct {
		ClientID      string `json:"client_id"`
		ClientID2     string `json:"clientId"`
		ClientSecret  string `json:"client_secret"`
		ClientSecret2 string `json:"clientSecret"`
		TokenURL      string `json:"token_url"`
		TokenURL2     string `json:"tokenUrl"`
		Scopes        scopes `json:"scopes"`
		Scope         scopes `json:"scope"`
		Audience      string `json:"audience"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	sc := in.Scopes
	if len(sc) == 0 {
		sc = in.Scope
	}
	*o = OAuthClient{
		ClientID:     firstString(in.ClientID, in.ClientID2),
		ClientSecret: firstString(in.ClientSecret, in.ClientSecret2),
		TokenURL:     firstString(in.TokenURL, in.TokenURL2),
		Scopes:       []string(sc),
		Audience:     in.Audience,
	}
	return nil
}

// ParseOAuthClient decodes an OAuth client secret. It fails with
// secretcache.ErrNotJSON when value is empty, oversized, not a JSON object
// or has a field of the wrong type, naming the field or offset, never the
// value. It does not call Validate.
func ParseOAuthClient(value string) (OAuthClient, error) {
	var o OAuthClient
	if err := decode("OAuth client", value, &o); err != nil {
		return OAuthClient{}, err
	}
	return o, nil
}

// Validate checks that the client id and secret are set and free of control
// characters, and that the token URL, if set, is an absolute http(s) URL.
func (o OAuthClient) Validate() error {
	switch {
	case o.ClientID == "":
		return invalid("validate", "client_id", "empty")
	case len(o.ClientID) > 1024 || badText(o.ClientID):
		return invalid("validate", "client_id", "too long or holds control characters")
	case o.ClientSecret == "":
		return invalid("validate", "client_secret", "empty")
	case len(o.ClientSecret) > 8192 || badText(o.ClientSecret):
		return invalid("validate", "client_secret", "too long or holds control characters")
	}
	if o.TokenURL != "" {
		u, err := url.Parse(o.TokenURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return invalid("validate", "token_url", "not an absolute http(s) URL without user info")
		}
	}
	for _, s := range o.Scopes {
		if s == "" || badText(s) || strings.Contains(s, " ") {
			return invalid("validate", "scopes", "a scope is empty or holds spaces or control characters")
		}
	}
	return nil
}

// SecretJSON returns the secret as JSON with the real client secret.
func (o OAuthClient) SecretJSON() ([]byte, error) {
	type plain OAuthClient
	return json.Marshal(plain(o))
}

// MarshalJSON implements json.Marshaler with the client secret redacted.
func (o OAuthClient) MarshalJSON() ([]byte, error) {
	type plain OAuthClient
	p := plain(o)
	p.ClientSecret = redact(p.ClientSecret)
	return json.Marshal(p)
}

// String describes the client with its secret redacted.
func (o OAuthClient) String() string {
	return fmt.Sprintf("creds.OAuthClient{ClientID:%q ClientSecret:%q TokenURL:%q Scopes:%q Audience:%q}",
		o.ClientID, redact(o.ClientSecret), o.TokenURL, o.Scopes, o.Audience)
}

// GoString implements fmt.GoStringer with the client secret redacted.
func (o OAuthClient) GoString() string { return o.String() }

// Format implements fmt.Formatter: every verb prints String.
func (o OAuthClient) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(o.String())) }

// LogValue implements slog.LogValuer with the client secret redacted.
func (o OAuthClient) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", o.ClientID),
		slog.String("client_secret", redact(o.ClientSecret)),
		slog.String("token_url", o.TokenURL),
		slog.Any("scopes", o.Scopes),
	)
}
