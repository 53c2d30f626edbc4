// Package smtest is an in-process fake of AWS Secrets Manager for tests and
// local development, in the spirit of cloud.google.com/go/pubsub/pstest. It
// is not a place to keep secrets: it checks no signature, evaluates no
// policy and keeps everything in memory.
//
// NewServer starts a real HTTP server on 127.0.0.1 that speaks the AWS JSON
// 1.1 protocol exactly as the AWS SDKs do (POST /, X-Amz-Target:
// secretsmanager.<Operation>, Content-Type: application/x-amz-json-1.1).
// Point any SDK at Server.URL, or use Server.AWSConfig / Server.Client for
// a ready aws-sdk-go-v2 client:
//
//	srv := smtest.NewServer()
//	defer srv.Close()
//	srv.CreateSecret("", "db/password", "hunter2")
//	client := srv.Client("")
//	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db/password")})
//
// # Regions and accounts
//
// One server holds any number of regions, as AWS does. The region of a
// request is read from the credential scope of its SigV4 Authorization
// header (Credential=AKID/20260101/us-west-2/secretsmanager/aws4_request);
// the signature itself is not verified. An unsigned request is answered for
// the default region (WithDefaultRegion, "us-east-1" by default). ARNs use
// the account of WithAccountID ("123456789012" by default).
//
// # Operations
//
// CreateSecret, GetSecretValue, BatchGetSecretValue, DescribeSecret,
// PutSecretValue, UpdateSecret, UpdateSecretVersionStage, ListSecrets,
// ListSecretVersionIds, DeleteSecret, RestoreSecret, RotateSecret,
// CancelRotateSecret, ReplicateSecretToRegions,
// RemoveRegionsFromReplication, StopReplicationToReplica, TagResource,
// UntagResource, GetRandomPassword, and the resource policy operations
// (stored, never evaluated). Other targets get UnknownOperationException.
//
// The semantics follow AWS: ARNs end with "-" and six random characters;
// secrets are found by name, full ARN or partial ARN; ClientRequestToken is
// the VersionId and makes writes idempotent (same token and value: no-op;
// same token, other value: ResourceExistsException); the staging labels
// AWSCURRENT, AWSPENDING and AWSPREVIOUS move as in AWS (a label is on one
// version at a time; moving AWSCURRENT moves AWSPREVIOUS to the old
// current version); versions without labels are deprecated and pruned
// beyond 100; values are limited to 65,536 bytes; names to 1-512 characters
// among letters, digits and /_+=.@-; a secret scheduled for deletion cannot
// be read or written and its name cannot be reused until it is restored or
// force-deleted. Errors carry the AWS codes and HTTP statuses (400 for client
// errors, ResourceNotFoundException included; 500 for InternalServiceError).
// Malformed JSON gets SerializationException; request bodies are capped at
// 1 MiB (RequestEntityTooLargeException, HTTP 413).
//
// Replicas (ReplicateSecretToRegions, or Server.Replicate) are read-only
// secrets with the same name in other regions; reads of a replica see every
// write to the primary at once; writes to a replica are rejected with
// InvalidParameterException.
//
// Where moto (the Python AWS mock) and AWS disagree, smtest follows AWS. The
// differential test in this package runs a scripted sequence against both
// and lists the differences it knows of.
//
// # Rotation
//
// RotateSecret runs a RotationFunc (SetRotationFunc) in the four steps of a
// rotation Lambda: createSecret, setSecret, testSecret, finishSecret. The
// createSecret step must store the pending version (the step's Token) with
// the AWSPENDING label; after finishSecret the server makes that version
// AWSCURRENT (if the function did not) and removes AWSPENDING. Without a
// RotationFunc a built-in rotation stores a random password. Rotation runs
// synchronously: RotateSecret returns when the four steps are done, and
// returns an error if a step failed.
//
// # Test helpers
//
// The Go helpers (CreateSecret, PutSecretValue, UpdateStage, DeleteSecret,
// Replicate, Rotate, LoadJSON, LoadFile...) run the same code as the API
// operations, without faults or call counting. Secret and Value inspect the
// state. Calls counts the requests per region and operation. OnChange
// reports every write.
//
// # Faults
//
// SetFault injects, per region and per operation, latency, error answers
// (e.g. ThrottlingException, InternalServiceError, AccessDeniedException),
// blackholes (the request hangs until the client gives up), connection
// resets, rate limits (ThrottlingException above a rate), answers rewritten
// on their way out (Fault.Rewrite: a GetSecretValue without its value, a
// batch entry for another secret, a CreatedDate in 2099, to test a client
// against answers AWS would not give) and faults that clear themselves
// after Count requests. Faults can be changed while the server runs. The
// server never holds its state lock while delaying a request.
//
// # Security
//
// The server never logs secret values: request logs (WithLogger) carry the
// operation, region, HTTP status and duration only.
package smtest
