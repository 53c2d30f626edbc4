// Package ssmparam is the AWS Systems Manager Parameter Store source of
// secretcache: it reads parameters with the aws-sdk-go-v2 SSM client, in
// batches, failing over between regions with the same breakers, retryer and
// call counting as awssm (internal/awsfail holds them for both). It is not
// a cache (secretcache keeps the values) and never writes to Parameter
// Store.
//
// A *Source is a secretcache.Source, secretcache.BatchSource,
// secretcache.Describer (no stages, batches of 10, naming by name or ARN
// with the selector ignored) and secretcache.BreakerReporter:
//
//	cfg, _ := config.LoadDefaultConfig(ctx)
//	src, err := ssmparam.New(cfg)
//	cache, err := secretcache.New(src, secretcache.WithTTL(5*time.Minute))
//	url, err := cache.GetString(ctx, "/app/db/url")
//	pw, err := cache.GetString(ctx, "/app/db/password")      // SecureString, decrypted
//	old, err := cache.GetString(ctx, "/app/db/url:3")         // version 3
//	stable, err := cache.GetString(ctx, "/app/flags", secretcache.WithVersionStage("stable")) // a label
//	user, err := cache.GetField(ctx, "/app/db/json", "user") // JSON values: GetField, as for secrets
//
// # Reads
//
// Fetch reads one parameter with GetParameter (WithDecryption true unless
// WithoutDecryption). A version or label is chosen either in the id, as
// Parameter Store's own selector (name:3, name:label), or in the read's
// options: secretcache.WithVersionID("3") and
// secretcache.WithVersionStage("label") map to the same selectors, so the
// core's Ref needs no new field; both at once are refused. FetchBatch (the
// cache's warm-up and refresh of entries due together) reads up to 10
// names per GetParameters call, maps InvalidParameters to
// secretcache.ErrNotFound per name, and reads alone whatever the answer
// leaves unclear. ListNames lists the names under a path with
// GetParametersByPath (recursive, pages of 10) for a warm-up:
//
//	names, err := src.ListNames(ctx, "/app")
//	err = cache.Warm(ctx, names...) // GetParameters, 10 names a call
//
// A Secret from this source holds the parameter's Name, ARN, Version (as
// VersionID), LastModifiedDate (as CreatedDate) and Value (String); its
// VersionStages hold the label read, if any, and the type and data type as
// "ssm:type=SecureString" and "ssm:datatype=text" (TypeOf reads them; AWS
// refuses labels beginning with "ssm", so none is mistaken for a label).
//
// # Secrets and parameters in one cache
//
// Parameter Store reads Secrets Manager secrets under
// /aws/reference/secretsmanager/ID, so one cache over this source holds
// both: GetField(ctx, "/aws/reference/secretsmanager/prod/db", "password")
// reads the secret prod/db (its AWSCURRENT version; ID:AWSPREVIOUS another
// stage) through ssm:GetParameter and the secret's own permissions. That
// is the simpler way when most values are parameters. When most are
// secrets, or Secrets Manager's batches, rotation events and stages
// matter, use two caches, one over awssm and one over ssmparam (the agent
// does so): they share nothing, and a name means one thing in each.
//
// # Errors
//
// Errors are *secretcache.Error of the core's kinds, holding a *CallError
// (the same type as awssm's) with the SDK's error under it:
// ParameterNotFound and ParameterVersionNotFound are ErrNotFound;
// AccessDeniedException ErrAccessDenied; InvalidKeyId and KMS errors
// ErrDecryption; ThrottlingException ErrThrottled after the SDK's retries;
// 5xx and network failures ErrUnavailable, failing over to the next region.
// Bad ids, versions, labels and paths fail with ErrInvalidRequest before
// any call, and no error quotes a value.
package ssmparam
