package ssmparam

import (
	"context"
	"strings"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsfail"
)

// CallError is an AWS API call of the source that failed: what was called
// where, and what came back, said once:
//
//	GetParameter in us-east-1: HTTP 400 ParameterNotFound: <AWS message> (request id 1a2b...)
//	GetParameters in us-west-2: attempt timed out after 2s (3 attempts)
//
// It is the type awssm.CallError is too. Unwrap returns the SDK's error, so
// errors.As still reaches smithy.APIError and the SDK's typed errors
// (*types.ParameterNotFound, ...).
type CallError = awsfail.CallError

// ssmCodes are Parameter Store's own error codes; the rest are awsfail's,
// shared by every AWS service.
func ssmCodes(code, msg string) (awsfail.Class, bool) {
	switch code {
	case "ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException":
		// ResourceNotFoundException: a /aws/reference/secretsmanager name
		// whose secret does not exist.
		return awsfail.Permanent(secretcache.ErrNotFound), true
	case "InvalidKeyId", "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException",
		"KMSNotFoundException", "KMSOptInRequired", "KMSInvalidKeyUsageException", "DecryptionFailure":
		return awsfail.Permanent(secretcache.ErrDecryption), true
	case "InvalidRequestException":
		// Also a /aws/reference/secretsmanager name: Secrets Manager's own
		// codes come back through Parameter Store.
		m := strings.ToLower(msg)
		if strings.Contains(m, "deletion") || strings.Contains(m, "deleted") {
			return awsfail.Permanent(secretcache.ErrDeleted), true
		}
		return awsfail.Permanent(secretcache.ErrInvalidRequest), true
	case "UnsupportedParameterType", "InvalidFilterKey", "InvalidFilterOption", "InvalidFilterValue",
		"ParameterVersionLabelLimitExceeded", "HierarchyLevelLimitExceededException":
		return awsfail.Permanent(secretcache.ErrInvalidRequest), true
	}
	if strings.HasPrefix(code, "KMS.") { // a KMS error passed through
		if strings.Contains(code, "Throttl") {
			return awsfail.Class{Kind: secretcache.ErrThrottled, Failover: true, Breaker: true}, true
		}
		return awsfail.Permanent(secretcache.ErrDecryption), true
	}
	return awsfail.Class{}, false
}

// classify maps a failed call's error to a kind, failover and breaker.
func classify(parent context.Context, err error) awsfail.Class {
	return awsfail.Classify(parent, err, ssmCodes)
}
