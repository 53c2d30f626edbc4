// Package rotate keeps resources built from secrets (database pools, API
// clients) working while the secrets rotate: it rebuilds, checks and swaps.
// It does not rotate secrets (that is Secrets Manager's rotation function)
// nor fetch them (the secretcache.Cache does).
//
// A Rotating[T] owns one resource built from one secret. When the secret
// gets a new version — found by the cache's change callbacks, by a poll of
// the cached value, or after ReportFailure says that using the resource
// failed — it builds a new resource from the new version, validates it (a
// ping, a test login), swaps it in atomically, and closes the old one after
// a drain period so the work still using it can finish. If building or
// validating fails, the old resource stays in use, the attempt is retried
// with capped, jittered exponential backoff (a poll finding the refused
// version again does not retry it sooner), and Health reports the resource
// degraded with the kind of the failure. Get is a lock-free load
// of the resource in use.
//
// The change callbacks of the cache run on its refresher goroutine; a
// Rotating only sets a flag there and does the work on a goroutine of its
// own, so a slow database never holds up the cache.
//
// A Registry holds named resources: Start warms every secret they need in
// one batched pass and fails fast with a *MissingSecretsError naming each
// missing secret, why, and which resources need it; ForceRotationAll,
// Invalidate(name), Health and Check (for a health endpoint) act on all or
// one; Shutdown drains and closes them all. A Registry is a health.Checker,
// so a monitor's health report can include it (RegisterWith).
//
// Nothing here logs or returns a secret value: logs, errors and Health carry
// secret ids, version ids and error kinds only. Build and Validate functions
// must keep to that in their own errors.
package rotate
