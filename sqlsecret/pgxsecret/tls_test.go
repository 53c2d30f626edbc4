package pgxsecret_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/pgtest"
	"github.com/secretcache/secretcache/sqlsecret"
	"github.com/secretcache/secretcache/sqlsecret/pgxsecret"
)

// certFiles writes a self-signed certificate for 127.0.0.1 and its key
// where a server run as the postgres user can read them.
func certFiles(t *testing.T) (dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir, err = os.MkdirTemp("", "pgxsecret-tls-") // t.TempDir's parent is closed to the postgres user
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	crt, kf := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("no postgres user")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(kf, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Over TLS (sslmode=verify-full): the TLS server name follows the secret's
// host, the handed-over connection is the encrypted one, and cancel
// requests are encrypted too (pgx would otherwise send them in clear to a
// server that may refuse them).
func TestTLS(t *testing.T) {
	dir := certFiles(t)
	pg := pgtest.Start(t, pgtest.WithMD5(), pgtest.WithSetting("ssl", "on"),
		pgtest.WithSetting("ssl_cert_file", filepath.Join(dir, "server.crt")),
		pgtest.WithSetting("ssl_key_file", filepath.Join(dir, "server.key")))
	src := &stages{}
	f := &fixture{pg: pg, src: src}
	c, err := secretcache.New(secretcache.SourceFunc(src.get), secretcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pw := password()
	pg.CreateRole(t, "app", pw)
	src.set("AWSCURRENT", "v1", f.secret("app", pw))
	conn, _ := sqlsecret.New(c, "db", sqlsecret.WithLogger(quiet()))
	// The config names another host: the secret's replaces it, and the
	// certificate is checked against the secret's.
	cfg, err := pgxpool.ParseConfig("host=db.example.com sslmode=verify-full sslrootcert=" + filepath.Join(dir, "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	var dials firstWrites
	cfg.ConnConfig.DialFunc = dials.dial
	pool, err := pgxsecret.NewPool(context.Background(), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var ssl bool
	if err := pool.QueryRow(context.Background(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("ssl %v: %v", ssl, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = pool.Exec(ctx, "select pg_sleep(20)")
	var pgErr *pgconn.PgError
	if time.Since(start) > 10*time.Second || err == nil {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	if errors.As(err, &pgErr) && pgErr.Code != "57014" {
		t.Fatal(err)
	}
	// The server got the cancel request (57014 came back, or pgx gave up
	// waiting): the session is still usable and no cancel failed in clear.
	if err := pool.QueryRow(context.Background(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("after cancel: ssl %v: %v", ssl, err)
	}
	t.Logf("canceled after %v: %v", time.Since(start), err)
	// The cancel request reached the server (the backend stopped sleeping)
	// over a connection that began with an SSLRequest, as every one did.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var sleeping int
		if err := pool.QueryRow(context.Background(), "select count(*) from pg_stat_activity where query = 'select pg_sleep(20)' and state = 'active'").Scan(&sleeping); err != nil {
			t.Fatal(err)
		}
		if sleeping == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the query was not canceled on the server")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first := dials.get()
	if len(first) < 2 {
		t.Fatalf("%d dials, want the login and the cancel request", len(first))
	}
	for i, b := range first {
		if !bytes.Equal(b, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}) {
			t.Fatalf("dial %d began with % x, not an SSLRequest", i, b)
		}
	}
}

// firstWrites records the first 8 bytes written on each connection dialed.
type firstWrites struct {
	mu    sync.Mutex
	conns []*recordingConn
}

func (f *firstWrites) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c}
	f.mu.Lock()
	f.conns = append(f.conns, rc)
	f.mu.Unlock()
	return rc, nil
}

func (f *firstWrites) get() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]byte
	for _, c := range f.conns {
		c.mu.Lock()
		out = append(out, bytes.Clone(c.first))
		c.mu.Unlock()
	}
	return out
}

type recordingConn struct {
	net.Conn
	mu    sync.Mutex
	first []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if n := 8 - len(c.first); n > 0 {
		c.first = append(c.first, p[:min(n, len(p))]...)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}
