package creds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
)

const pw = `s3cr3t'\ "pw`

// printers renders v every way a value ends up in a log or an error.
func printers(t *testing.T, v any) []string {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
	var tbuf bytes.Buffer
	slog.New(slog.NewTextHandler(&tbuf, nil)).Info("x", "v", v)
	out := []string{string(js), buf.String(), tbuf.String(), fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x %d", v, v, v, v, v, v, v)}
	if s, ok := v.(fmt.Stringer); ok {
		out = append(out, s.String())
	}
	return out
}

func assertRedacted(t *testing.T, v any, secret string) {
	t.Helper()
	for _, s := range printers(t, v) {
		if strings.Contains(s, secret) {
			t.Fatalf("secret leaked: %s", s)
		}
		if !strings.Contains(s, creds.Redacted) {
			t.Fatalf("no redaction marker in %s", s)
		}
	}
}

func TestDatabaseRedacts(t *testing.T) {
	d := creds.Database{Engine: "postgres", Host: "db.example", Port: 5432, Username: "app", Password: pw, DBName: "orders"}
	assertRedacted(t, d, pw)
	assertRedacted(t, &d, pw)
	assertRedacted(t, struct{ D creds.Database }{d}, pw)
	js, _ := json.Marshal(d)
	if !strings.Contains(string(js), `"host":"db.example"`) || !strings.Contains(string(js), `"port":5432`) {
		t.Fatalf("metadata missing: %s", js)
	}
	raw, err := d.SecretJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := creds.ParseDatabase(string(raw))
	if err != nil || back != d {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func TestAPIKeyAndOAuthRedact(t *testing.T) {
	k := creds.APIKey{Key: pw, Header: "X-API-Key"}
	assertRedacted(t, k, pw)
	assertRedacted(t, &k, pw)
	o := creds.OAuthClient{ClientID: "id", ClientSecret: pw, TokenURL: "https://auth.example/token", Scopes: []string{"a", "b"}}
	assertRedacted(t, o, pw)
	assertRedacted(t, &o, pw)
}

func TestParseDatabase(t *testing.T) {
	for _, in := range []string{
		`{"engine":"postgres","host":"h","port":5432,"username":"u","password":"p","dbname":"d"}`,
		`{"engine":"postgres","host":"h","port":"5432","username":"u","password":"p","dbname":"d"}`,
	} {
		d, err := creds.ParseDatabase(in)
		if err != nil || d.Port != 5432 || d.Password != "p" || d.DBName != "d" {
			t.Fatalf("%s: %v %v", in, d, err)
		}
	}
	d, err := creds.ParseDatabase(`{"host":"h","username":"u","password":"p","masterarn":"arn:x","port":""}`)
	if err != nil || d.MasterARN != "arn:x" || d.PortOrDefault() != 5432 {
		t.Fatalf("%v %v", d, err)
	}
}

func TestParseBadInput(t *testing.T) {
	secret := "hunter2-value"
	cases := map[string]string{
		"empty":     "",
		"spaces":    "   ",
		"not json":  secret,
		"array":     `["` + secret + `"]`,
		"string":    `"` + secret + `"`,
		"truncated": `{"password":"` + secret,
		"bad port":  `{"port":"` + secret + `"}`,
		"neg port":  `{"port":-1}`,
		"big port":  `{"port":70000}`,
		"wrong":     `{"password":123,"host":"` + secret + `"}`,
		"oversized": `{"password":"` + strings.Repeat("x", creds.MaxSecretSize) + `"}`,
		"garbage":   "\x00\xff{" + secret,
	}
	for name, in := range cases {
		_, err := creds.ParseDatabase(in)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, secretcache.ErrNotJSON) {
			t.Errorf("%s: %v is not ErrNotJSON", name, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "xxxxxxxx") {
			t.Errorf("%s: error leaks the value: %v", name, err)
		}
		if _, err := creds.ParseOAuthClient(in); err == nil && !strings.Contains(name, "port") && name != "wrong" {
			t.Errorf("oauth %s: no error", name)
		} else if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("oauth %s: error leaks the value: %v", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, host := range []string{"h", "db.example.com", "10.0.0.1", "::1", "fd00::5", "/var/run/postgresql"} {
		ok := creds.Database{Host: host, Username: "u", Password: "p"}
		if err := ok.Validate(); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	bad := []creds.Database{
		{Username: "u", Password: "pw-value"},
		{Host: "a b", Username: "u", Password: "pw-value"},
		{Host: "a,b", Username: "u", Password: "pw-value"},
		{Host: "db.example.com:5433", Username: "u", Password: "pw-value"}, // a port in the host
		{Host: "[::1]", Username: "u", Password: "pw-value"},
		{Host: "h\n", Username: "u", Password: "pw-value"},
		{Host: "h", Password: "pw-value"},
		{Host: "h", Username: "u\x00", Password: "pw-value"},
		{Host: "h", Username: "u"},
		{Host: "h", Username: "u", Password: "pw-value\x00"},
		{Host: "h", Username: "u", Password: "pw-value", Port: 70000},
		{Host: "h", Username: "u", Password: "pw-value", DBName: "d\r"},
	}
	for _, d := range bad {
		err := d.Validate()
		if !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("%v: %v", d, err)
		}
		if d.Password != "" && strings.Contains(err.Error(), d.Password) {
			t.Errorf("leak: %v", err)
		}
		if _, err := d.ConnString(); err == nil {
			t.Errorf("ConnString of %v: no error", d)
		}
		if _, err := d.DSN(); err == nil {
			t.Errorf("DSN of %v: no error", d)
		}
	}
}

func TestConnStringQuotesEverything(t *testing.T) {
	hostile := []string{pw, `a b=c host=evil`, `\`, `'`, `''\\'`, "ünïcødé", " lead", "trail "}
	for _, p := range hostile {
		d := creds.Database{Host: "db.example", Port: 6543, Username: `we'ird\user`, Password: p, DBName: "my db"}
		cs, err := d.ConnString()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pgconn.ParseConfig(cs)
		if err != nil {
			t.Fatalf("%q does not parse", p)
		}
		if cfg.Password != p || cfg.User != d.Username || cfg.Host != "db.example" || cfg.Port != 6543 || cfg.Database != "my db" {
			t.Fatalf("%q: parsed as user=%q host=%q port=%d db=%q pw-equal=%v", p, cfg.User, cfg.Host, cfg.Port, cfg.Database, cfg.Password == p)
		}
		u, err := d.DSN()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err = pgconn.ParseConfig(u)
		if err != nil || cfg.Password != p || cfg.User != d.Username || cfg.Database != "my db" {
			t.Fatalf("DSN of %q: %v", p, err)
		}
	}
	if _, err := (creds.Database{Engine: "mysql", Host: "h", Username: "u", Password: "p"}).ConnString(); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatalf("mysql ConnString: %v", err)
	}
}

func TestDSN(t *testing.T) {
	my := creds.Database{Engine: "mysql", Host: "db", Username: "u", Password: "p@ss/w:rd", DBName: "d"}
	dsn, err := my.DSN()
	if err != nil || dsn != "u:p@ss/w:rd@tcp(db:3306)/d" {
		t.Fatalf("%q %v", dsn, err)
	}
	for _, d := range []creds.Database{
		{Engine: "mysql", Host: "db", Username: "u:x", Password: "p"},
		{Engine: "mysql", Host: "db", Username: "u", Password: "p", DBName: "a/b"},
		{Engine: "oracle-ee", Host: "db", Username: "u", Password: "p"},
	} {
		if _, err := d.DSN(); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("%v: %v", d, err)
		}
	}
	v6 := creds.Database{Host: "::1", Username: "u", Password: "p"}
	dsn, err = v6.DSN()
	if err != nil || !strings.Contains(dsn, "[::1]:5432") {
		t.Fatalf("%q %v", dsn, err)
	}
	sock := creds.Database{Host: "/run/postgresql", Username: "u", Password: "p", DBName: "d"}
	dsn, _ = sock.DSN()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil || cfg.Host != "/run/postgresql" || cfg.Database != "d" {
		t.Fatalf("socket DSN: %v", err)
	}
	for engine, port := range map[string]int{"aurora-mysql": 3306, "sqlserver-ex": 1433, "oracle-se2": 1521, "db2-se": 50000, "mongo": 0} {
		if got := (creds.Database{Engine: engine}).PortOrDefault(); got != port {
			t.Errorf("%s: %d", engine, got)
		}
	}
}

func TestAPIKey(t *testing.T) {
	for in, want := range map[string]creds.APIKey{
		`{"api_key":"k1"}`:                     {Key: "k1"},
		`{"apiKey":"k2","header":"X-Api-Key"}`: {Key: "k2", Header: "X-Api-Key"},
		`{"key":"k3"}`:                         {Key: "k3"},
		`{"token":"k4"}`:                       {Key: "k4"},
		"  plain-key\n":                        {Key: "plain-key"},
	} {
		got, err := creds.ParseAPIKey(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", `{}`, `{"api_key":"a\nb"}`, `{"api_key":"k","header":"bad header"}`, `{"api_key":1}`, `[1]`, `"x"`,
		strings.Repeat("k", creds.MaxSecretSize+1)} {
		if _, err := creds.ParseAPIKey(in); err == nil {
			t.Errorf("%.40q: no error", in)
		}
	}
	h := http.Header{}
	creds.APIKey{Key: "k"}.Apply(h)
	if h.Get("Authorization") != "Bearer k" {
		t.Fatal(h)
	}
	creds.APIKey{Key: "k", Header: "X-Key"}.Apply(h)
	if h.Get("X-Key") != "k" {
		t.Fatal(h)
	}
	creds.APIKey{Key: "k"}.Apply(nil) // no panic
	raw, _ := creds.APIKey{Key: "k", Header: "X"}.SecretJSON()
	if string(raw) != `{"api_key":"k","header":"X"}` {
		t.Fatal(string(raw))
	}
}

func TestOAuthClient(t *testing.T) {
	o, err := creds.ParseOAuthClient(`{"clientId":"id","clientSecret":"s","tokenUrl":"https://a/t","scope":"read write"}`)
	if err != nil || o.ClientID != "id" || o.ClientSecret != "s" || o.TokenURL != "https://a/t" || len(o.Scopes) != 2 {
		t.Fatalf("%v %v", o, err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err = creds.ParseOAuthClient(`{"client_id":"id","client_secret":"s","scopes":["a"]}`)
	if err != nil || len(o.Scopes) != 1 || o.Validate() != nil {
		t.Fatalf("%v %v", o, err)
	}
	if _, err := creds.ParseOAuthClient(`{"scopes":{"a":1}}`); !errors.Is(err, secretcache.ErrNotJSON) {
		t.Fatal(err)
	}
	for _, bad := range []creds.OAuthClient{
		{ClientSecret: "s"}, {ClientID: "i"}, {ClientID: "i\n", ClientSecret: "s"},
		{ClientID: "i", ClientSecret: "s", TokenURL: "ftp://x"},
		{ClientID: "i", ClientSecret: "s", TokenURL: "https://u:p@x/"},
		{ClientID: "i", ClientSecret: "s", TokenURL: "::"},
		{ClientID: "i", ClientSecret: "s", Scopes: []string{""}},
	} {
		if err := bad.Validate(); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	raw, _ := creds.OAuthClient{ClientID: "i", ClientSecret: "s"}.SecretJSON()
	if !strings.Contains(string(raw), `"client_secret":"s"`) {
		t.Fatal(string(raw))
	}
}

func TestNames(t *testing.T) {
	n, err := creds.ParseName("prod/database/orders")
	if err != nil || n != (creds.Name{Environment: "prod", Kind: "database", Service: "orders"}) || n.String() != "prod/database/orders" {
		t.Fatalf("%v %v", n, err)
	}
	n, err = creds.ParseName("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key/stripe-AbCdEf")
	if err != nil || n.Service != "stripe" {
		t.Fatalf("%v %v", n, err)
	}
	for _, bad := range []string{"", "a/b", "a/b/c/d", "/b/c", "a//c", "a/b/", "./b/c", "a/../c", "a b/c/d", "a/b/c\n",
		"arn:aws:s3:::bucket", strings.Repeat("a", 129) + "/b/c", strings.Repeat("a/", 2000), "a/b/ç"} {
		if _, err := creds.ParseName(bad); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Errorf("%.40q: %v", bad, err)
		}
	}
	if _, err := creds.NewName("prod", creds.KindOAuth, "github"); err != nil {
		t.Fatal(err)
	}
	if p, err := creds.Prefix("prod"); err != nil || p != "prod/" {
		t.Fatal(p, err)
	}
	if p, err := creds.KindPrefix("prod", creds.KindDatabase); err != nil || p != "prod/database/" {
		t.Fatal(p, err)
	}
	if _, err := creds.Prefix("a/b"); err == nil {
		t.Fatal("prefix with slash")
	}
	if _, err := creds.KindPrefix("a", ""); err == nil {
		t.Fatal("empty kind")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("MustName did not panic")
			}
		}()
		creds.MustName("", "x", "y")
	}()
}

func TestGetJSONWithCache(t *testing.T) {
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1", String: `{"engine":"postgres","host":"h","port":"5432","username":"u","password":"p"}`}, nil
	})
	c, err := secretcache.New(src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := secretcache.GetJSON[creds.Database](context.Background(), c, "prod/database/orders")
	if err != nil || d.Password != "p" || d.Port != 5432 {
		t.Fatalf("%v %v", d, err)
	}
}
