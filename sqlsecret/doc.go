// Package sqlsecret connects database/sql to PostgreSQL, MySQL and MariaDB
// with credentials kept in AWS Secrets Manager, and keeps connecting while
// they rotate. It is not a driver (it wraps pgx's and
// go-sql-driver/mysql's) and never changes a password. For pgx's own pool,
// see sqlsecret/pgxsecret.
//
// A Connector (New, OpenDB) is a database/sql/driver.Connector that reads
// the RDS secret JSON (engine, host, port, username, password, dbname)
// from a secretcache.Cache at each new connection, so a pool picks rotated
// credentials up as it opens connections, and the connections it has keep
// working. The secret's engine field chooses the driver: pgx's stdlib
// driver for "postgres", "aurora-postgresql" or no engine,
// go-sql-driver/mysql for "mysql", "mariadb" and "aurora-mysql" (WithEngine
// forces one). Each engine is a row of a small table (driver, how the
// connection is configured, which server errors mean "credentials
// refused"); the recovery below is one implementation for all. When the
// server refuses the credentials (PostgreSQL's SQLSTATE 28P01 or 28000,
// MySQL's error 1045), it tries, without sleeping and at most
// WithMaxAttempts times (default 7):
//
//  1. AWSCURRENT as Secrets Manager has it now (one refresh, shared by the
//     connections that fail together);
//  2. AWSPENDING: between the setSecret and finishSecret steps of a
//     rotation the database already has the pending password while
//     AWSCURRENT still names the old one;
//  3. the credentials that last connected, so a wrong new version does not
//     take the database away while the old password still works. After
//     such a refusal, new connections use the last good credentials first
//     and probe the refused version again once per ReprobeInterval;
//  4. when all of these were refused, the same round once more, AWSPENDING
//     and AWSCURRENT read again after the last refusal: with rotations back
//     to back, what a connection read is often a step behind the database
//     by the time it logs in with it. An AWSPENDING version refused in the
//     first round (maybe before setSecret ran) is tried once more.
//
// This covers both AWS rotation strategies, single user and alternating
// users, with connections recycled often (SetConnMaxLifetime): the tests
// run 40 rotations 200 ms apart and 120 back to back against a real
// PostgreSQL under 250 queries/s without a failed query, and 40 and 40 on
// a real MariaDB and through pgxpool. The search is
// bounded: when logins take longer than whole rotations (an overloaded
// machine), a rotation can still outrun it.
//
// PoolSpec plugs PostgreSQL pools into the rotate package: each secret
// version gets its own *sql.DB, validated by a login with exactly that
// version's credentials before it replaces the previous pool, so a wrong
// password never gets swapped in and shows up in the resource's health.
//
// Passwords never appear in errors or logs: errors are *Error values that
// carry the secret id, the version and stage of every attempt, the attempt
// count, SQLSTATE and server code, and let
// errors.As reach the server's *pgconn.PgError or *mysql.MySQLError; the
// pgx error that holds the connection configuration is not kept. Other
// driver errors end a Connect at once and stay reachable with errors.As.
package sqlsecret
