package sqlsecret

import (
	"context"
	"errors"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
)

// Login finds the credentials to log in with for a pool that is not
// database/sql (sqlsecret/pgxsecret's pgxpool): it calls try with the
// credentials Connect would try first, then, while try's error is the
// server refusing them (the engine's codes, as for Connect, or any error
// matching ErrAuth), with the next ones, as described at Connector, and
// returns the credentials try accepted. The Engine field try sees is the
// engine chosen (WithEngine's, else the secret's): "postgres" or "mysql". It counts in Stats as a Connect
// would; try's calls count as attempts. It fails as Connect does, and
// for a nil try, or for a Connector made with WithParam, WithConfig or
// WithMySQLConfig (they shape Connect's connections; a pool of its own is
// configured on its own), with secretcache.ErrInvalidRequest. The result holds the
// password: give it to the driver, never to a log.
func (c *Connector) Login(ctx context.Context, try func(context.Context, creds.Database) error) (creds.Database, error) {
	if try == nil {
		return creds.Database{}, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("nil login function")}
	}
	if c.extra != "" || c.cfg.configure != nil || c.cfg.mysqlConfigure != nil {
		// They shape the connections Connect makes; a pool of its own has
		// its own configuration. Dropping them silently could drop
		// sslmode=verify-full.
		return creds.Database{}, &secretcache.Error{Op: "sqlsecret", ID: c.id, Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("WithParam, WithConfig and WithMySQLConfig shape database/sql connections only: set them on the pool's own configuration (pgxpool.Config)")}
	}
	cand, err := c.current(ctx)
	if err == nil {
		cand, err = recoverLogin(ctx, c, cand, func(ctx context.Context, cand candidate) (candidate, error) {
			c.attempts.Add(1)
			db := cand.db
			db.Engine = cand.eng.canonical() // the engine chosen (WithEngine wins over the field)
			return cand, try(ctx, db)
		})
	}
	if err != nil {
		c.failures.Add(1)
		return creds.Database{}, err
	}
	c.connects.Add(1)
	db := cand.db
	db.Engine = cand.eng.canonical()
	return db, nil
}
