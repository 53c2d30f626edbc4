// Package quick is the one-line path to a secret, for programs and scripts
// that want what the AWS samples' get_secret(name) gives and nothing more:
//
//	pw, err := quick.GetField(ctx, "prod/db", "password")
//
// Behind the functions is a package-level *secretcache.Cache over AWS
// Secrets Manager (package awssm), made on first use from the environment:
// the AWS SDK's configuration chain (AWS_REGION, AWS_PROFILE, credentials,
// AWS_ENDPOINT_URL_SECRETS_MANAGER, instance roles...) and SECRETCACHE_TTL
// (a Go duration, default 5m). SetDefault replaces it (tests, another
// source, other options).
//
// The name says what it is for: quick to write, not the recommended way.
// A service should build its cache explicitly (secretcache.New with an
// awssm source and the options it needs), pass it where it is used and
// close it at shutdown; the cache of this package lives as long as the
// process and is shared by every caller of the process. The package lives
// apart from the core because the core knows nothing of AWS.
//
// It is not a second cache: every function is the cache's own method on
// the default cache, with its errors (errors.Is(err, secretcache.ErrNotFound)
// and the others), its refresh-ahead, its stale-if-error.
package quick
