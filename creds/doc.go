// Package creds holds typed credentials for the common shapes of secrets
// (database, API key, OAuth client) and the naming convention
// {environment}/{kind}/{service}. It does not fetch or cache secrets: a
// secretcache.Cache does, and GetJSON decodes into these types.
//
// The structs decode with secretcache.GetJSON (or the Parse functions here):
//
//   - Database is the JSON of an RDS/Aurora secret: engine, host, port,
//     username, password, dbname, plus masterarn and the instance and cluster
//     identifiers. ConnString and DSN build a driver connection string.
//   - APIKey is an API key, with an optional header name.
//   - OAuthClient is an OAuth 2.0 client: client id, client secret, token URL
//     and scopes.
//
// None of them ever shows a secret value by accident: String, every fmt verb,
// encoding/json and log/slog print the non-secret fields and "[REDACTED]" in
// place of passwords, keys and client secrets. Code that must write the real
// JSON (a rotation function storing a new version) calls SecretJSON, whose
// name says what it does. Errors of this package name fields, never values.
//
// Name, NewName and ParseName build and check secret names of the form
// {environment}/{kind}/{service}, for example "prod/database/orders".
package creds
