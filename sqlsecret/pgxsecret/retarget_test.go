package pgxsecret

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secretcache/secretcache/creds"
)

// The secret's server replaces the config's, the TLS server name with it;
// sslmode=prefer keeps one plain fallback, to the same server.
func TestRetarget(t *testing.T) {
	db := creds.Database{Host: "db.example.com", Port: 6543, Username: "u", Password: "p", DBName: "orders"}
	for _, tc := range []struct {
		conn      string
		tls       bool
		fallbacks int
	}{
		{"host=a,b sslmode=verify-full", true, 0},
		{"host=a sslmode=prefer", true, 1},
		{"host=a sslmode=disable", false, 0},
		{"host=a sslmode=allow", false, 1},
	} {
		cc, err := pgx.ParseConfig(tc.conn)
		if err != nil {
			t.Fatal(err)
		}
		retarget(cc, db)
		if cc.Host != db.Host || cc.Port != 6543 || cc.User != "u" || cc.Password != "p" || cc.Database != "orders" {
			t.Errorf("%s: %s %d %s %s", tc.conn, cc.Host, cc.Port, cc.User, cc.Database)
		}
		if (cc.TLSConfig != nil) != tc.tls || len(cc.Fallbacks) != tc.fallbacks {
			t.Errorf("%s: tls %v, %d fallbacks", tc.conn, cc.TLSConfig != nil, len(cc.Fallbacks))
		}
		if cc.TLSConfig != nil && cc.TLSConfig.ServerName != "" && cc.TLSConfig.ServerName != db.Host {
			t.Errorf("%s: server name %q", tc.conn, cc.TLSConfig.ServerName)
		}
		for _, fb := range cc.Fallbacks {
			if fb.Host != db.Host || fb.Port != 6543 || (fb.TLSConfig == nil) == (cc.TLSConfig == nil) {
				t.Errorf("%s: fallback %+v", tc.conn, fb)
			}
		}
	}
}

// A connection string that names no host (pgx then defaults to a Unix
// socket, and drops TLS) still logs in to the secret's TCP host with the
// TLS it asks for: sslmode=verify-full is never plaintext.
func TestNoHostKeepsTLS(t *testing.T) {
	db := creds.Database{Host: "db.example.com", Port: 5432, Username: "u", Password: "p"}
	for _, tc := range []struct {
		conn      string
		tls, skip bool // TLS at all; InsecureSkipVerify
		fallbacks int
	}{
		{"sslmode=verify-full", true, false, 0},
		{"sslmode=require pool_max_conns=20", true, true, 0},
		{"", true, true, 1}, // prefer
		{"sslmode=disable", false, false, 0},
		{"postgres:///orders?sslmode=verify-full", true, false, 0},
		{"postgres:///orders?host=/tmp&sslmode=verify-full", true, false, 0},
	} {
		cfg, err := pgxpool.ParseConfig(tc.conn)
		if err != nil {
			t.Fatal(err)
		}
		cc := cfg.ConnConfig
		if tc.tls && cc.Host[0] == '/' && cc.TLSConfig != nil {
			t.Fatalf("%q: pgx kept TLS for a socket; the test's premise is gone", tc.conn)
		}
		if err := tcpTLS(cc); err != nil {
			t.Fatalf("%q: %v", tc.conn, err)
		}
		retarget(cc, db)
		if (cc.TLSConfig != nil) != tc.tls || len(cc.Fallbacks) != tc.fallbacks {
			t.Errorf("%q: tls %v, %d fallbacks; want %v, %d", tc.conn, cc.TLSConfig != nil, len(cc.Fallbacks), tc.tls, tc.fallbacks)
			continue
		}
		if cc.TLSConfig != nil {
			if cc.TLSConfig.InsecureSkipVerify != tc.skip || (!tc.skip && cc.TLSConfig.ServerName != db.Host) {
				t.Errorf("%q: skip verify %v, server name %q", tc.conn, cc.TLSConfig.InsecureSkipVerify, cc.TLSConfig.ServerName)
			}
		}
	}
}
