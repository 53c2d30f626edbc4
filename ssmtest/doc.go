// Package ssmtest is an in-process fake of AWS Systems Manager Parameter
// Store over real HTTP, speaking the AWS JSON 1.1 protocol
// (X-Amz-Target: AmazonSSM.GetParameter, ...), so that tests and the
// agent's --dev mode run the real aws-sdk-go-v2 SSM client with no AWS
// account.
//
// It serves PutParameter, GetParameter, GetParameters (at most 10 names,
// InvalidParameters for names it cannot answer), GetParametersByPath
// (recursive or not, pages of at most 10), LabelParameterVersion and
// DeleteParameter, with versions, labels and the selectors name:version and
// name:label; the types String, StringList and SecureString (stored in
// clear: without decryption a SecureString's Value is an opaque token, not
// the value); and, with WithSecretsManager, the names
// /aws/reference/secretsmanager/ID read from a linked smtest.Server. Faults
// (an error code, latency, for a count of requests) are injected per region
// and operation with SetFault; Calls counts the requests.
//
// It is not Parameter Store: no IAM, no KMS keys, no tiers, policies,
// tags, history or parameter filters (a request with ParameterFilters is
// refused), and the regions are independent stores. Where it answers
// differently from moto, it follows AWS (see diff_test.go).
package ssmtest
