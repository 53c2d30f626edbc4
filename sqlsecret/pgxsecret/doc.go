// Package pgxsecret gives pgx's own pool, pgxpool, the credentials of a
// secret in AWS Secrets Manager, and keeps its new connections logging in
// while they rotate. It is a pgxpool.Config hook on top of a
// sqlsecret.Connector, not a pool of its own, and never changes a
// password. It lives apart from sqlsecret so that database/sql programs
// do not link pgxpool.
//
// Configure (or NewPool) sets the config's BeforeConnect: each new
// connection asks the Connector for credentials (sqlsecret.Connector.Login)
// and logs in with them; when the server refuses them (SQLSTATE 28P01 or
// 28000), the Connector's one recovery runs, as for database/sql: the
// AWSCURRENT version read afresh, then AWSPENDING, then the last
// credentials that worked, twice at most, bounded by WithMaxAttempts and
// never sleeping. The Connector's Stats count the pool's connections.
//
// pgxpool offers no hook that retries a refused login, so BeforeConnect
// logs in itself (pgconn, with a copy of the connection's config: TLS,
// runtime parameters, the login checks), as the recovery directs, and
// hands the logged-in connection to pgx: the connection's dial returns it
// and replays the server's greeting (its parameters and cancel key), so
// pgx's connect, the pool's AfterConnect and everything after run on it
// as on any connection. A new connection costs one login, as without this
// package; cancel requests dial the server, over TLS when the connection
// is. The server sees the startup parameters of that login (runtime
// parameters are the config's, so the same). The protocol is 3.0, pgx's
// default; with a MaxProtocolVersion above it, a server that negotiates
// down is not supported.
//
// The rest of the pgxpool.Config stays the caller's: TLS, pool sizes,
// lifetimes, tracers, the other hooks. The secret's host, port, user,
// password and dbname replace the config's (the TLS server name follows
// the host when one was set). Errors are the Connector's *sqlsecret.Error,
// never with a password.
package pgxsecret
