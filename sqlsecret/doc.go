// Package sqlsecret connects database/sql to PostgreSQL with credentials
// kept in AWS Secrets Manager, and keeps connecting while they rotate.
//
// A Connector (New, OpenDB) is a database/sql/driver.Connector over the
// pgx stdlib driver that reads the RDS secret JSON (engine, host, port,
// username, password, dbname) from a secretcache.Cache at each new
// connection, so a pool picks rotated credentials up as it opens
// connections, and the connections it has keep working. When the server
// refuses the credentials (SQLSTATE 28P01 or 28000), it tries, without
// sleeping and at most WithMaxAttempts times:
//
//  1. AWSCURRENT as Secrets Manager has it now (one refresh, shared by the
//     connections that fail together);
//  2. AWSPENDING: between the setSecret and finishSecret steps of a
//     rotation the database already has the pending password while
//     AWSCURRENT still names the old one;
//  3. the credentials that last connected, so a wrong new version does not
//     take the database away while the old password still works. After
//     such a refusal, new connections use the last good credentials first
//     and probe the refused version again once per ReprobeInterval.
//
// This covers both AWS rotation strategies, single user and alternating
// users, with connections recycled often (SetConnMaxLifetime): the tests
// run 40 rotations against a real PostgreSQL under 250 queries/s without a
// failed query.
//
// PoolSpec plugs PostgreSQL pools into the rotate package: each secret
// version gets its own *sql.DB, validated by a login with exactly that
// version's credentials before it replaces the previous pool, so a wrong
// password never gets swapped in and shows up in the resource's health.
//
// Passwords never appear in errors or logs: errors are *Error values that
// carry the secret id, version, stage, attempt count and SQLSTATE, and let
// errors.As reach the server's *pgconn.PgError; the pgx error that holds
// the connection configuration is not kept.
package sqlsecret
