// Package awssm is the AWS Secrets Manager source of secretcache: it reads
// secrets with the aws-sdk-go-v2 client, in batches, failing over between
// regions. It is not a cache (secretcache keeps the values) and never
// writes to Secrets Manager.
//
// A *Source is a secretcache.Source, secretcache.BatchSource,
// secretcache.Describer (it tells the cache Secrets Manager's rules: the
// AWSCURRENT default, batches of 20, naming by name or ARN) and
// secretcache.BreakerReporter:
//
//	cfg, _ := config.LoadDefaultConfig(ctx)
//	src, err := awssm.New(cfg, awssm.WithRegions("us-east-1", "us-west-2"))
//	cache, err := secretcache.New(src)
//	pw, err := cache.GetField(ctx, "prod/db", "password")
//
// # Reads
//
// Fetch reads one version with GetSecretValue, by name, full ARN or partial
// ARN, and by stage or version id. FetchBatch reads the refs that ask for
// AWSCURRENT with BatchGetSecretValue, 20 ids a call, and matches every
// returned secret and every per-secret error to its ref by name, full ARN or
// partial ARN; whatever the answer leaves unclear is read again alone, so a
// batch never hands one ref another's secret. If the principal may not call
// BatchGetSecretValue, FetchBatch falls back to GetSecretValue and remembers
// it; any other refusal of a whole batch call (a validation error, a bad
// page token) reads each ref alone too, so that every secret gets its own
// answer. ListNames lists secret names by prefix with ListSecrets, for
// prefetching.
//
// # Answers are checked
//
// Every answer, single or batched, from any region, is checked before it
// becomes a secretcache.Secret: the secret, version and stage asked for, a
// version id of AWS's form, a non-empty value (AWS stores no empty value, so
// an empty or missing SecretString/SecretBinary is a broken answer, never a
// secret whose value is ""), a sane CreatedDate. A malformed answer is
// refused as a transient secretcache.ErrMismatch holding an *AnswerError:
// the next region is asked (the region's breaker does not count it), and a
// malformed batch entry is read again alone, once.
//
// # Retries, timeouts, failover
//
// Each region has its own client and its own retryer, the SDK's (standard
// exponential backoff with jitter and a retry quota, or its adaptive mode
// with client-side rate limiting), with WithMaxAttempts attempts, each
// bounded by WithAttemptTimeout; WithTimeout bounds a whole call, regions
// included. The regions of WithRegions are tried in order: a transient
// failure (throttling, 5xx, timeout, network error) moves on to the next,
// with an ARN of a listed region rewritten to that region (an ARN of any
// other region is sent unchanged: it names another region's secret); not
// found, access denied, deleted, decryption failures and invalid requests
// are answers, returned at once.
//
// Every region has a circuit breaker (sony/gobreaker): after WithBreaker's
// count of consecutive transient failures it opens and the region is skipped
// without waiting. When the open period ends the region is probed in the
// background with the next request, while that request is served by the
// next region; a successful probe closes the breaker. Only when no other
// region can answer does a caller wait on a probe. Breakers reports each
// region's state, for health checks.
//
// # Errors
//
// Every error is a *secretcache.Error of one of the core's kinds
// (secretcache.ErrNotFound, ErrAccessDenied, ErrDecryption, ErrDeleted,
// ErrInvalidRequest, ErrThrottled, ErrUnavailable, ErrMismatch) naming the
// secret id. Under it is a *CallError (a failed call: operation, region,
// HTTP status, AWS error code and message, request id, attempts), a
// *BatchEntryError (a per-secret batch error) or an *AnswerError (an answer
// refused); the SDK's errors stay reachable with errors.As (smithy.APIError
// for an error code, *smithyhttp.ResponseError, ...). No error, log line or
// metric holds a secret value.
//
// Calls carry "secretcache/<version>" in their user agent, so CloudTrail
// shows them.
package awssm
