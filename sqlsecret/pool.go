package sqlsecret

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

// IsAuthError reports whether err, from a query, a ping or a Connect, is the
// server refusing the credentials (SQLSTATE 28P01 or 28000). Pass such
// errors to rotate.Rotating.ReportFailure.
func IsAuthError(err error) bool { return err != nil && isAuth(err) }

// PoolSpec returns a rotate.Spec that builds, for each version of the
// secret, a *sql.DB pinned to that version's credentials, and validates it
// by opening a connection (a ping on the new, empty pool). With
// rotate.Rotating this gives "test the new credentials before switching":
// when a new version is wrong, the pool of the old version keeps serving
// and the Rotating reports itself degraded. configure, if not nil, sets the
// pool limits of each new *sql.DB. opts are the Connector options that
// apply to a connection (WithParam, WithDatabase, WithConfig, WithLogger);
// the retry options do not apply to a pinned pool. PoolSpec fails for an
// invalid option.
//
// Build fails with a secretcache.ErrInvalidRequest (or ErrNotJSON,
// ErrWrongType) error naming the field when the version is not a valid
// PostgreSQL secret, and Validate with an *Error (errors.Is ErrAuth when the
// password is refused); neither holds the password.
func PoolSpec(configure func(*sql.DB), opts ...Option) (rotate.Spec[*sql.DB], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return rotate.Spec[*sql.DB]{}, err
	}
	extra := cfg.paramString()
	return rotate.Spec[*sql.DB]{
		Build: func(_ context.Context, s *secretcache.Secret) (*sql.DB, error) {
			c := &Connector{id: s.Name, cfg: cfg, extra: extra}
			cand, err := c.parse(s, StageCurrent)
			if err != nil {
				return nil, err
			}
			pc, err := c.connConfig(cand.db)
			if err != nil {
				return nil, err
			}
			db := sql.OpenDB(&pinned{inner: stdlib.GetConnector(*pc), id: s.Name, version: s.VersionID, password: cand.db.Password})
			if configure != nil {
				configure(db)
			}
			return db, nil
		},
		Validate: func(ctx context.Context, db *sql.DB) error { return db.PingContext(ctx) },
		Close:    func(db *sql.DB) error { return db.Close() },
	}, nil
}

// pinned is a connector with fixed credentials whose errors are sanitized.
type pinned struct {
	inner    driver.Connector
	id       string
	version  string
	password string
}

func (p *pinned) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := p.inner.Connect(ctx)
	if err != nil {
		return nil, sanitize(err, p.id, p.version, "", p.password, 1)
	}
	return conn, nil
}

func (p *pinned) Driver() driver.Driver { return p.inner.Driver() }
