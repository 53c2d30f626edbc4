package pgxsecret

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/sqlsecret"
)

// Configure makes the new connections of pools built from cfg log in with
// the credentials of conn's secret, surviving rotation as described in the
// package documentation: it sets cfg.BeforeConnect, which calls the
// function already there first. It fails with secretcache.ErrInvalidRequest
// for a nil conn or cfg. Configure cfg once: a second call would log in
// twice per connection.
func Configure(conn *sqlsecret.Connector, cfg *pgxpool.Config) error {
	switch {
	case conn == nil:
		return invalid("nil Connector")
	case cfg == nil:
		return invalid("nil pgxpool.Config")
	}
	if err := tcpTLS(cfg.ConnConfig); err != nil {
		return invalid("the pool's connection string: " + err.Error())
	}
	prev := cfg.BeforeConnect
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		if prev != nil {
			if err := prev(ctx, cc); err != nil {
				return err
			}
		}
		return login(ctx, conn, cc)
	}
	return nil
}

// NewPool returns a pool of cfg set up by Configure; a nil cfg is
// pgxpool.ParseConfig("")'s defaults. As pgxpool.NewWithConfig, it
// connects lazily (only cfg.MinConns connections at once, in the
// background). It fails as Configure does; cfg is the caller's and is
// changed.
func NewPool(ctx context.Context, conn *sqlsecret.Connector, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	if cfg == nil {
		var err error
		if cfg, err = pgxpool.ParseConfig(""); err != nil {
			return nil, err
		}
	}
	if err := Configure(conn, cfg); err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// login logs in as the Connector's recovery finds (one pgconn login per
// attempt, with a copy of cc), then hands the authenticated connection to
// pgx through cc: its dial returns it with the server's greeting replayed.
func login(ctx context.Context, conn *sqlsecret.Connector, cc *pgx.ConnConfig) error {
	var pc *pgconn.PgConn
	db, err := conn.Login(ctx, func(ctx context.Context, db creds.Database) error {
		if db.IsMySQL() {
			return invalid("the secret's engine is MySQL; pgxpool is for PostgreSQL")
		}
		probe := cc.Copy()
		retarget(probe, db)
		probe.AfterConnect = nil // it runs on pgx's connection, once
		var err error
		pc, err = pgconn.ConnectConfig(ctx, &probe.Config)
		return err
	})
	if err != nil {
		return err
	}
	hc, err := pc.Hijack()
	if err != nil {
		_ = pc.Close(ctx)
		return err
	}
	greeting, err := greet(hc)
	if err != nil {
		_ = hc.Conn.Close()
		return err
	}
	retarget(cc, db)
	// pgx's connect needs no password (the replay answers it), and the
	// connection's Config() must not carry one: a copy of it would log in
	// again without the TLS that the login already did.
	cc.Password = ""
	// pgx's connect gets the logged-in connection; anything else dials
	// (cancel requests go to the connection's address).
	dial, handed := cancelDial(cc.DialFunc, hc.TLSConfig, cc.SSLNegotiation == "direct"), atomic.Bool{}
	rc := newReplayConn(hc.Conn, greeting)
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if handed.CompareAndSwap(false, true) {
			return rc, nil
		}
		return dial(ctx, network, addr)
	}
	cc.LookupFunc = func(context.Context, string) ([]string, error) { return []string{db.Host}, nil }
	// What the login checked is not checked again over no authentication.
	cc.TLSConfig, cc.Fallbacks, cc.AfterNetConnect, cc.ValidateConnect = nil, nil, nil, nil
	cc.SSLCertMode, cc.ChannelBinding, cc.RequireAuth = "disable", "disable", ""
	return nil
}

// tcpPlaceholder stands for the secret's host while the TLS settings of a
// connection string are worked out; retarget names the real one.
const tcpPlaceholder = "secret-host.invalid"

// tcpTLS gives cc the TLS settings its connection string asks for on a TCP
// host when pgx parsed them for a Unix socket: with no host named, pgx's
// default host is a socket directory, for which it drops TLS. The secret's
// host is a TCP host: without this, sslmode=verify-full would log in to it
// in plaintext, with no certificate check.
func tcpTLS(cc *pgx.ConnConfig) error {
	if !strings.HasPrefix(cc.Host, "/") {
		return nil
	}
	s := cc.ConnString()
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Del("host")
		u.Host, u.RawQuery = tcpPlaceholder, q.Encode()
		s = u.String()
	} else {
		s += " host=" + tcpPlaceholder
	}
	re, err := pgconn.ParseConfig(s)
	if err != nil {
		return err
	}
	cc.TLSConfig, cc.Fallbacks = re.TLSConfig, re.Fallbacks
	return nil
}

// retarget points cc at db's server with db's credentials. A TLS
// configuration that names a server is made to name db's host; fallbacks
// (sslmode=prefer, allow) go to the same host, one per TLS setting.
func retarget(cc *pgx.ConnConfig, db creds.Database) {
	port := uint16(db.Port) // the Connector fills in the engine's default
	cc.Host, cc.Port, cc.User, cc.Password = db.Host, port, db.Username, db.Password
	if db.DBName != "" {
		cc.Database = db.DBName
	}
	cc.TLSConfig = serverTLS(cc.TLSConfig, db.Host)
	var fallbacks []*pgconn.FallbackConfig
	for _, fb := range cc.Fallbacks {
		if (fb.TLSConfig == nil) != (cc.TLSConfig == nil) {
			fallbacks = append(fallbacks, &pgconn.FallbackConfig{Host: db.Host, Port: port, TLSConfig: serverTLS(fb.TLSConfig, db.Host)})
			break
		}
	}
	cc.Fallbacks = fallbacks
}

func serverTLS(t *tls.Config, host string) *tls.Config {
	if t == nil || t.ServerName == "" {
		return t
	}
	t = t.Clone()
	t.ServerName = host
	return t
}

func invalid(msg string) error {
	return &secretcache.Error{Op: "pgxsecret", Kind: secretcache.ErrInvalidRequest, Err: errors.New(msg)}
}

// cancelDial returns the dial of the connection's cancel requests: pgx
// encrypts them as it did the connection, but it knows the connection only
// as the plain one handed over, so the dial starts TLS itself (tlsConfig,
// the login's) when the login had it, the way pgconn does.
func cancelDial(dial pgconn.DialFunc, tlsConfig *tls.Config, direct bool) pgconn.DialFunc {
	if tlsConfig == nil {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// pgconn watches ctx only once the dial returns: bound the TLS
		// set-up by it here, so a stalled server does not hold a goroutine
		// and a socket for ever.
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
		defer func() {
			if stop() {
				_ = conn.SetDeadline(time.Time{})
			}
		}()
		if !direct {
			if err := sslRequest(conn); err != nil {
				_ = conn.Close()
				return nil, err
			}
		}
		tc := tls.Client(conn, tlsConfig.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
}

// sslRequest asks the server for TLS on conn (PostgreSQL's SSLRequest).
func sslRequest(conn net.Conn) error {
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil { // 80877103
		return err
	}
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil {
		return err
	}
	if answer[0] != 'S' {
		return errors.New("pgxsecret: the server refused TLS for a cancel request")
	}
	return nil
}
