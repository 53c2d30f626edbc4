package awsfail

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretcache/secretcache/internal/clip"
)

// CallError is an AWS API call of a source that failed: what was called
// where, and what came back, said once and plainly:
//
//	GetSecretValue in us-east-1: HTTP 500 InternalServiceError: <AWS message> (request id 1a2b..., 3 attempts)
//	GetParameter in us-west-2: request failed: Post "http://127.0.0.1:4566/": dial tcp ...: connection refused (3 attempts)
//	GetParameters in us-west-2: attempt timed out after 2s (3 attempts)
//
// (The SDK's own text, "operation error Secrets Manager: ..., https response
// error StatusCode: ...", says https even for an http endpoint and nests
// every wrapper; it is not repeated.) Unwrap returns the SDK's error, so
// errors.As still reaches smithy.APIError, *smithyhttp.ResponseError,
// *awshttp.ResponseError, *retry.MaxAttemptsError, *smithy.OperationError, a
// net.Error, and so on. An AWS message is cut at 256 bytes in Error (Message
// holds it whole); AWS error messages do not carry secret values.
type CallError struct {
	Operation  string // the API operation, e.g. "GetSecretValue" or "GetParameters"
	Region     string // the region called
	StatusCode int    // the HTTP status of the answer; 0 if there was none
	Code       string // the AWS error code ("ThrottlingException"), if any
	Message    string // the AWS error message, if any
	RequestID  string // the AWS request id, if the service answered
	Attempts   int    // the attempts the SDK made, when it gave up after several; else 0
	Err        error  // the SDK's error

	cause string // what happened, when there is no AWS error code
}

// NewCallError describes err, the error of a call to op in region.
func NewCallError(op, region string, err error) *CallError {
	e := &CallError{Operation: op, Region: region, Err: err, StatusCode: HTTPStatus(err)}
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
