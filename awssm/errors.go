package awssm

import (
	"context"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsfail"
	"github.com/secretcache/secretcache/internal/clip"
)

// class is what the source makes of a failed call (awsfail.Class, in
// the names this package's code and tests use).
type class struct {
	kind     error // a secretcache.Err* sentinel
	failover bool  // try the next region
	breaker  bool  // counts as a failure of the region's breaker
	excluded bool  // the caller gave up: neither a success nor a failure
}

func fromClass(c awsfail.Class) class {
	return class{kind: c.Kind, failover: c.Failover, breaker: c.Breaker, excluded: c.Excluded}
}

// classifyAWS maps an error of the SDK (or of the source itself) to a core
// kind and decides failover and breaker accounting (awsfail.Classify with
// the codes of Secrets Manager). parent is the caller's context.
func classifyAWS(parent context.Context, err error) awsfail.Class {
	return awsfail.Classify(parent, err, smCodes)
}

// classifyCode maps an AWS error code (and, for InvalidRequestException, its
// message) to a kind.
func classifyCode(code, msg string, status int, fault smithy.ErrorFault) class {
	return fromClass(awsfail.ClassifyCode(smCodes, code, msg, status, fault))
}

// smCodes are the error codes of Secrets Manager's own; the rest are
// awsfail's, shared by every AWS service.
func smCodes(code, msg string) (awsfail.Class, bool) {
	switch code {
	case "ResourceNotFoundException":
		return awsfail.Permanent(secretcache.ErrNotFound), true
	case "DecryptionFailure":
		return awsfail.Permanent(secretcache.ErrDecryption), true
	case "InvalidRequestException":
		if deletionMessage(msg) {
			return awsfail.Permanent(secretcache.ErrDeleted), true
		}
		return awsfail.Permanent(secretcache.ErrInvalidRequest), true
	}
	return awsfail.Class{}, false
}

func deletionMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "marked for deletion") || strings.Contains(m, "scheduled for deletion") ||
		strings.Contains(m, "deleted")
}

// BatchEntryError is the error BatchGetSecretValue reported for one secret of
// a batch. It implements smithy.APIError, so errors.As(err, &apiErr) finds
// the AWS error code of a batched fetch as of a single one.
type BatchEntryError struct {
	SecretID string // the id as sent (an ARN is in the region called)
	Region   string // the region that answered
	Code     string // the AWS error code, e.g. "ResourceNotFoundException"
	Message  string // the AWS error message
}

var _ smithy.APIError = (*BatchEntryError)(nil)

func (e *BatchEntryError) Error() string {
	return "BatchGetSecretValue in " + e.Region + ": " + e.Code + ": " + e.Message
}

// ErrorCode returns the AWS error code.
func (e *BatchEntryError) ErrorCode() string { return e.Code }

// ErrorMessage returns the AWS error message.
func (e *BatchEntryError) ErrorMessage() string { return e.Message }

// ErrorFault reports whether the service or the client is at fault.
func (e *BatchEntryError) ErrorFault() smithy.ErrorFault {
	if classifyCode(e.Code, e.Message, 0, smithy.FaultUnknown).breaker {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// CallError is an AWS API call of the source that failed: what was called
// where, and what came back (see awsfail.CallError, the type every AWS
// source of this module shares):
//
//	GetSecretValue in us-east-1: HTTP 500 InternalServiceError: <AWS message> (request id 1a2b..., 3 attempts)
//	GetSecretValue in us-west-2: attempt timed out after 2s (3 attempts)
//
// Unwrap returns the SDK's error, so errors.As still reaches
// smithy.APIError, *smithyhttp.ResponseError, *retry.MaxAttemptsError, a
// net.Error, and so on.
type CallError = awsfail.CallError

// newCallError describes err, the error of a call to op in region.
func newCallError(op, region string, err error) *CallError {
	return awsfail.NewCallError(op, region, err)
}

// AnswerError is an answer of Secrets Manager that the source refused: it is
// not the secret, version or stage asked for, or it is malformed (no value,
// no or a malformed version id, no version stages, no or an impossible
// creation date). Problem says what is wrong, naming fields and, for a wrong
// secret or version, the ids; never a value. The source returns it inside a
// *secretcache.Error of kind secretcache.ErrMismatch, which is transient: the
// cache keeps serving the version it has.
type AnswerError struct {
	Operation string // "GetSecretValue" or "BatchGetSecretValue"
	Region    string // the region that answered
	RequestID string // the AWS request id of the answer, if any
	Problem   string // what is wrong with the answer
}

func (e *AnswerError) Error() string {
	s := e.Operation + " in " + e.Region + ": answer refused: " + e.Problem
	if e.RequestID != "" {
		s += " (request id " + clip.String(e.RequestID, 64) + ")"
	}
	return s
}
