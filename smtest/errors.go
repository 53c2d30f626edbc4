package smtest

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// APIError is an error as the server answers it: an AWS error code, a
// message and the HTTP status. The Go helpers return *APIError for the same
// conditions the API operations report; it implements smithy.APIError, so
// errors.As(err, new(smithy.APIError)) works on both sides.
type APIError struct {
	Code    string
	Message string
	Status  int // HTTP status; 0 means the usual status for Code
}

var _ smithy.APIError = (*APIError)(nil)

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// ErrorCode returns the AWS error code.
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage returns the message.
func (e *APIError) ErrorMessage() string { return e.Message }

// ErrorFault tells whether the client or the server is at fault.
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.status() >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

func (e *APIError) status() int {
	if e.Status != 0 {
		return e.Status
	}
	return statusForCode(e.Code)
}

// statusForCode gives the HTTP status AWS uses for an error code. Secrets
// Manager answers every client error, ResourceNotFoundException included,
// with 400.
func statusForCode(code string) int {
	switch code {
	case "InternalServiceError", "InternalFailure", "InternalServerError":
		return 500
	case "ServiceUnavailable", "ServiceUnavailableException":
		return 503
	case "RequestEntityTooLargeException":
		return 413
	default:
		return 400
	}
}

func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == 0 {
			cp := *ae
			cp.Status = statusForCode(ae.Code)
			return &cp
		}
		return ae
	}
	var se smithy.APIError
	if errors.As(err, &se) {
		return &APIError{Code: se.ErrorCode(), Message: se.ErrorMessage(), Status: statusForCode(se.ErrorCode())}
	}
	return &APIError{Code: "InternalServiceError", Message: "smtest: " + err.Error(), Status: 500}
}

func apiErr(code, format string, args ...any) *APIError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &APIError{Code: code, Message: msg}
}

const (
	codeNotFound      = "ResourceNotFoundException"
	codeInvalidReq    = "InvalidRequestException"
	codeInvalidParam  = "InvalidParameterException"
	codeExists        = "ResourceExistsException"
	codeValidation    = "ValidationException"
	codeSerialization = "SerializationException"
	codeBadToken      = "InvalidNextTokenException"
)

func errSecretNotFound() *APIError {
	return apiErr(codeNotFound, "Secrets Manager can't find the specified secret.")
}

func errMarkedDeleted() *APIError {
	return apiErr(codeInvalidReq, "You can't perform this operation on the secret because it was marked for deletion.")
}

// errReplica is what a write to a replica gets. The message follows moto,
// which follows AWS.
func errReplica() *APIError {
	return apiErr(codeInvalidParam, "Operation not permitted on a replica secret. Call must be made in primary secret's region.")
}

func errNull(field string) *APIError {
	return apiErr(codeValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

func errTooLong(field string, max int) *APIError {
	return apiErr(codeValidation, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, max)
}

func errTooShort(field string, min int) *APIError {
	return apiErr(codeValidation, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", field, min)
}

func errRange(field string, min, max int64) *APIError {
	return apiErr(codeValidation, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have value between %d and %d", field, min, max)
}
