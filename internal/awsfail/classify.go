package awsfail

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretcache/secretcache"
)

// Class is what a source makes of a failed call.
type Class struct {
	Kind     error // a secretcache.Err* sentinel
	Failover bool  // try the next region
	Breaker  bool  // counts as a failure of the region's breaker
	Excluded bool  // the caller gave up: neither a success nor a failure
}

// Codes maps the error codes of one service (and, where the code is not
// enough, its message) to a Class; ok false leaves the code to the rules
// every AWS service shares.
type Codes func(code, msg string) (c Class, ok bool)

// Permanent is the Class of an error another region would answer alike.
func Permanent(kind error) Class { return Class{Kind: kind} }

// Classify maps an error of the SDK (or of the source itself) to a core kind
// and decides failover and breaker accounting. parent is the caller's
// context: once it is done the error is the caller's doing, not the region's.
func Classify(parent context.Context, err error, codes Codes) Class {
	var se *secretcache.Error
	if errors.As(err, &se) && se.Kind != nil {
		return Class{Kind: se.Kind, Failover: secretcache.IsTransient(se.Kind)}
	}
	if parent != nil && parent.Err() != nil {
		return Class{Kind: secretcache.ErrUnavailable, Excluded: true}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ClassifyCode(codes, ae.ErrorCode(), ae.ErrorMessage(), HTTPStatus(err), ae.ErrorFault())
	}
	if st := HTTPStatus(err); st != 0 {
		return ClassifyCode(codes, "", "", st, smithy.FaultUnknown)
	}
	if NetworkError(err) {
		return Class{Kind: secretcache.ErrUnavailable, Failover: true, Breaker: true}
	}
	// Not an answer from the service and not the network: a credentials
	// provider, a serializer, a garbled response. Another region may do
	// better, but the region is not to blame.
	return Class{Kind: secretcache.ErrUnavailable, Failover: true}
}

// ClassifyCode maps an AWS error code to a Class: the service's codes
// first, then the codes and HTTP statuses every AWS service shares.
func ClassifyCode(codes Codes, code, msg string, status int, fault smithy.ErrorFault) Class {
	if codes != nil && code != "" {
		if c, ok := codes(code, msg); ok {
			return c
		}
	}
	switch code {
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidClientTokenId",
		"InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature",
		"MissingAuthenticationToken", "MissingAuthenticationTokenException", "NotAuthorized":
		return Permanent(secretcache.ErrAccessDenied)
	case "InvalidParameterException", "InvalidParameterValue", "ValidationException",
		"SerializationException", "InvalidNextTokenException", "MalformedQueryString":
		return Permanent(secretcache.ErrInvalidRequest)
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		// Our credentials expired: they will be refreshed; the secret is
		// not to blame and neither is the region.
		return Class{Kind: secretcache.ErrUnavailable, Failover: true}
	case "InternalServiceError", "InternalFailure", "InternalServerError", "ServiceUnavailable",
		"ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException":
		return Class{Kind: secretcache.ErrUnavailable, Failover: true, Breaker: true}
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return Class{Kind: secretcache.ErrThrottled, Failover: true, Breaker: true}
	}
	switch {
	case code == "" && (status == 401 || status == 403):
		// An answer without a readable AWS error (a proxy's or an
		// emulator's XML page): HTTP says forbidden.
		return Permanent(secretcache.ErrAccessDenied)
	case status == 429:
		return Class{Kind: secretcache.ErrThrottled, Failover: true, Breaker: true}
	case status >= 500 || fault == smithy.FaultServer:
		return Class{Kind: secretcache.ErrUnavailable, Failover: true, Breaker: true}
	}
	// An unknown client error: pass it on as transient (never drop a cached
	// value for an answer we cannot read), try the next region, but do not
	// blame this one.
	return Class{Kind: secretcache.ErrUnavailable, Failover: true}
}

// HTTPStatus is the HTTP status of the answer err came from, or 0.
func HTTPStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// NetworkError reports whether err is a failure to reach the service or to
// read its whole answer.
func NetworkError(err error) bool {
	var ne net.Error
	var se *smithyhttp.RequestSendError
	var ce *smithy.CanceledError
	var at *attemptTimeoutError
	return errors.As(err, &at) || errors.As(err, &ne) || errors.As(err, &se) || errors.As(err, &ce) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
