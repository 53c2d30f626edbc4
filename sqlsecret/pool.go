package sqlsecret

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/rotate"
)

// IsAuthError reports whether err, from a query, a ping or a Connect, is the
// server refusing the credentials (PostgreSQL's SQLSTATE 28P01 or 28000,
// MySQL's error 1045). Pass such errors to rotate.Rotating.ReportFailure.
func IsAuthError(err error) bool { return err != nil && (errors.Is(err, ErrAuth) || refusedAny(err)) }

// PoolSpec returns a rotate.Spec for the secret id read through c that
// builds, for each version of the secret, a *sql.DB whose connections use
// that version's credentials first, and validates it by logging in with
// exactly those credentials. With rotate.Rotating this gives "test the new
// credentials before switching": when a new version is wrong, the pool of
// the old version keeps serving and the Rotating reports itself degraded.
// Should the database refuse a pool's own version (a single-user rotation
// changed the password before the pool was replaced), its new connections
// look for other credentials as a Connector does (AWSCURRENT refreshed,
// AWSPENDING, the last good ones), so queries keep working meanwhile.
//
// configure, if not nil, sets the pool limits of each new *sql.DB. opts
// are Connector options. PoolSpec fails with secretcache.ErrInvalidRequest
// for a nil cache or a bad id, and with the option's error for an invalid
// option. Build fails for a secret other than id, and, naming the field,
// for a version that is not a valid database secret; Validate fails with
// an *Error (errors.Is ErrAuth when the password is refused). Neither error
// holds a password.
func PoolSpec(c *secretcache.Cache, id string, configure func(*sql.DB), opts ...Option) (rotate.Spec[*sql.DB], error) {
	conn, err := New(c, id, opts...)
	if err != nil {
		return rotate.Spec[*sql.DB]{}, err
	}
	var pools sync.Map // *sql.DB -> *pinned
	return rotate.Spec[*sql.DB]{
		Build: func(_ context.Context, s *secretcache.Secret) (*sql.DB, error) {
			if !awsname.SameSecret(id, s.Name, s.ARN) {
				return nil, &secretcache.Error{Op: "sqlsecret", ID: id, Kind: secretcache.ErrMismatch,
					Err: errors.New("PoolSpec was given another secret than the one it was made for")}
			}
			cand, err := conn.parse(s, StagePinned)
			if err != nil {
				return nil, err
			}
			p := &pinned{c: conn, cand: cand}
			db := sql.OpenDB(p)
			if configure != nil {
				configure(db)
			}
			pools.Store(db, p)
			return db, nil
		},
		Validate: func(ctx context.Context, db *sql.DB) error {
			p, ok := pools.Load(db)
			if !ok {
				return errors.New("sqlsecret: pool not built by this PoolSpec")
			}
			return p.(*pinned).validate(ctx)
		},
		Close: func(db *sql.DB) error {
			pools.Delete(db)
			return db.Close()
		},
	}, nil
}

// pinned connects with one version's credentials first.
type pinned struct {
	c    *Connector
	cand candidate
}

func (p *pinned) Connect(ctx context.Context) (driver.Conn, error) {
	return p.c.connectPinned(ctx, p.cand)
}

func (p *pinned) Driver() driver.Driver { return p.cand.eng.driver }

// validate logs in with exactly the pinned credentials.
func (p *pinned) validate(ctx context.Context) error {
	conn, err := p.c.dial(ctx, p.cand)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return sanitize(p.cand.eng, err, p.c.id, p.cand.version, p.cand.stage, p.cand.db.Password, 1)
	}
	return conn.Close()
}
