package awssm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// class is what the source makes of a failed call.
type class struct {
	kind     error // a secretcache.Err* sentinel
	failover bool  // try the next region
	breaker  bool  // counts as a failure of the region's breaker
	excluded bool  // the caller gave up: neither a success nor a failure
}

// classify maps an error of the SDK (or of the source itself) to a core kind
// and decides failover and breaker accounting. parent is the caller's
// context: once it is done the error is the caller's doing, not the region's.
func classify(parent context.Context, err error) class {
	var se *secretcache.Error
	if errors.As(err, &se) && se.Kind != nil {
		return class{kind: se.Kind, failover: secretcache.IsTransient(se.Kind)}
	}
	if parent != nil && parent.Err() != nil {
		return class{kind: secretcache.ErrUnavailable, excluded: true}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return classifyCode(ae.ErrorCode(), ae.ErrorMessage(), httpStatus(err), ae.ErrorFault())
	}
	if st := httpStatus(err); st != 0 {
		return classifyCode("", "", st, smithy.FaultUnknown)
	}
	if networkError(err) {
		return class{kind: secretcache.ErrUnavailable, failover: true, breaker: true}
	}
	// Not an answer from the service and not the network: a credentials
	// provider, a serializer, a garbled response. Another region may do
	// better, but the region is not to blame.
	return class{kind: secretcache.ErrUnavailable, failover: true}
}

// classifyCode maps an AWS error code (and, for InvalidRequestException, its
// message) to a kind.
func classifyCode(code, msg string, status int, fault smithy.ErrorFault) class {
	permanent := func(k error) class { return class{kind: k} }
	switch code {
	case "ResourceNotFoundException":
		return permanent(secretcache.ErrNotFound)
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidClientTokenId",
		"InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature",
		"MissingAuthenticationToken", "MissingAuthenticationTokenException", "NotAuthorized":
		return permanent(secretcache.ErrAccessDenied)
	case "DecryptionFailure":
		return permanent(secretcache.ErrDecryption)
	case "InvalidRequestException":
		if deletionMessage(msg) {
			return permanent(secretcache.ErrDeleted)
		}
		return permanent(secretcache.ErrInvalidRequest)
	case "InvalidParameterException", "InvalidParameterValue", "ValidationException",
		"SerializationException", "InvalidNextTokenException", "MalformedQueryString":
		return permanent(secretcache.ErrInvalidRequest)
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		// Our credentials expired: they will be refreshed; the secret is
		// not to blame and neither is the region.
		return class{kind: secretcache.ErrUnavailable, failover: true}
	case "InternalServiceError", "InternalFailure", "InternalServerError", "ServiceUnavailable",
		"ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException":
		return class{kind: secretcache.ErrUnavailable, failover: true, breaker: true}
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return class{kind: secretcache.ErrThrottled, failover: true, breaker: true}
	}
	switch {
	case code == "" && (status == 401 || status == 403):
		// An answer without a readable AWS error (a proxy's or an
		// emulator's XML page): HTTP says forbidden.
		return class{kind: secretcache.ErrAccessDenied}
	case status == 429:
		return class{kind: secretcache.ErrThrottled, failover: true, breaker: true}
	case status >= 500 || fault == smithy.FaultServer:
		return class{kind: secretcache.ErrUnavailable, failover: true, breaker: true}
	}
	// An unknown client error: pass it on as transient (never drop a cached
	// value for an answer we cannot read), try the next region, but do not
	// blame this one.
	return class{kind: secretcache.ErrUnavailable, failover: true}
}

func deletionMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "marked for deletion") || strings.Contains(m, "scheduled for deletion") ||
		strings.Contains(m, "deleted")
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func networkError(err error) bool {
	var ne net.Error
	var se *smithyhttp.RequestSendError
	var ce *smithy.CanceledError
	var at *attemptTimeoutError
	return errors.As(err, &at) || errors.As(err, &ne) || errors.As(err, &se) || errors.As(err, &ce) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
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

// attemptTimeoutError is an HTTP attempt cut off by WithAttemptTimeout. It
// tells the SDK's retryer to retry (the SDK would otherwise take the ended
// context for a cancellation by the caller).
type attemptTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *attemptTimeoutError) Error() string {
	return "attempt timed out after " + e.timeout.String() + ": " + e.err.Error()
}
func (e *attemptTimeoutError) Unwrap() error        { return e.err }
func (e *attemptTimeoutError) Timeout() bool        { return true }
func (e *attemptTimeoutError) Temporary() bool      { return true }
func (e *attemptTimeoutError) RetryableError() bool { return true }

// CanceledError hides the smithy.CanceledError it wraps from the retryer's
// "do not retry a canceled request" check: it was our timeout, not the
// caller's cancellation.
func (e *attemptTimeoutError) CanceledError() bool { return false }

// CallError is an AWS API call of the source that failed: what was called
// where, and what came back, said once and plainly:
//
//	GetSecretValue in us-east-1: HTTP 500 InternalServiceError: <AWS message> (request id 1a2b..., 3 attempts)
//	GetSecretValue in us-west-2: request failed: Post "http://127.0.0.1:4566/": dial tcp ...: connection refused (3 attempts)
//	GetSecretValue in us-west-2: attempt timed out after 2s (3 attempts)
//
// (The SDK's own text, "operation error Secrets Manager: ..., https response
// error StatusCode: ...", says https even for an http endpoint and nests
// every wrapper; it is not repeated.) Unwrap returns the SDK's error, so
// errors.As still reaches smithy.APIError, *smithyhttp.ResponseError,
// *awshttp.ResponseError, *retry.MaxAttemptsError, *smithy.OperationError, a
// net.Error, and so on. An AWS message is cut at 256 bytes in Error (Message
// holds it whole); AWS error messages do not carry secret values.
type CallError struct {
	Operation  string // "GetSecretValue", "BatchGetSecretValue" or "ListSecrets"
	Region     string // the region called
	StatusCode int    // the HTTP status of the answer; 0 if there was none
	Code       string // the AWS error code ("ThrottlingException"), if any
	Message    string // the AWS error message, if any
	RequestID  string // the AWS request id, if the service answered
	Attempts   int    // the attempts the SDK made, when it gave up after several; else 0
	Err        error  // the SDK's error

	cause string // what happened, when there is no AWS error code
}

// newCallError describes err, the error of a call to op in region.
func newCallError(op, region string, err error) *CallError {
	e := &CallError{Operation: op, Region: region, Err: err, StatusCode: httpStatus(err)}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code, e.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.RequestID = re.ServiceRequestID()
	}
	var mae *retry.MaxAttemptsError
	if errors.As(err, &mae) {
		e.Attempts = mae.Attempt
	}
	if e.Code == "" {
		e.cause = causeOf(err)
	}
	return e
}

func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString(e.Operation + " in " + e.Region + ": ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Code != "" || e.cause != "" {
			b.WriteString(" ")
		}
	}
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": " + clip.String(e.Message, 256))
		}
	} else {
		b.WriteString(e.cause)
	}
	var more []string
	if e.RequestID != "" {
		more = append(more, "request id "+clip.String(e.RequestID, 64))
	}
	if e.Attempts > 1 {
		more = append(more, fmt.Sprintf("%d attempts", e.Attempts))
	}
	if len(more) > 0 {
		b.WriteString(" (" + strings.Join(more, ", ") + ")")
	}
	return b.String()
}

// Unwrap returns the SDK's error.
func (e *CallError) Unwrap() error { return e.Err }

// causeOf says what went wrong in a call that got no AWS error code: the
// innermost error, without the SDK's wrappers.
func causeOf(err error) string {
	var at *attemptTimeoutError
	var se *smithyhttp.RequestSendError
	var de *smithy.DeserializationError
	var ce *smithy.CanceledError
	switch {
	case errors.As(err, &at):
		return "attempt timed out after " + at.timeout.String()
	case errors.As(err, &se) && se.Err != nil:
		return "request failed: " + se.Err.Error()
	case errors.As(err, &de) && de.Err != nil:
		return "cannot read the answer: " + de.Err.Error()
	case errors.As(err, &ce) && ce.Err != nil:
		return "canceled: " + ce.Err.Error()
	}
	for {
		switch x := err.(type) {
		case *smithy.OperationError:
			err = x.Err
		case *retry.MaxAttemptsError:
			err = x.Err
		case *awshttp.ResponseError:
			err = x.Err
		case *smithyhttp.ResponseError:
			err = x.Err
		default:
			if err == nil {
				return "no answer"
			}
			return err.Error()
		}
	}
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
