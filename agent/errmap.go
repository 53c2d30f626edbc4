package agent

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/aws/smithy-go"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// httpError is an answer to a failed read: status, AWS error code and
// message, for the {"__type", "message"} body.
type httpError struct {
	status  int
	code    string
	message string
}

// Error codes the agent adds to AWS's, for its own extensions.
const (
	CodeFieldNotFound  = "FieldNotFoundException"  // field=K names no top-level key
	CodeSecretNotJSON  = "SecretNotJSONException"  // field= on a value that is not a JSON object
	CodeSecretIsBinary = "SecretIsBinaryException" // field= on a binary secret
)

// classify turns an error of the cache into the AWS agent's answer:
//   - an error Secrets Manager sent: its code, message and HTTP status;
//   - a timeout: 504 TimeoutError;
//   - a connection failure or an unusable answer: 502 ConnectionError;
//   - errors of the cache and of its arguments: the code AWS would send.
//
// Messages never hold a secret value: AWS's messages do not, and the others
// are fixed texts.
func classify(err error) httpError {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "" {
		status := http.StatusBadRequest
		var sc interface{ HTTPStatusCode() int }
		if errors.As(err, &sc) && sc.HTTPStatusCode() >= 400 {
			status = sc.HTTPStatusCode()
		} else if ae.ErrorFault() == smithy.FaultServer {
			status = http.StatusInternalServerError
		}
		return httpError{status, ae.ErrorCode(), ae.ErrorMessage()}
	}
	if isTimeout(err) {
		return httpError{http.StatusGatewayTimeout, "TimeoutError", "Timeout"}
	}
	kind := secretcache.KindOf(err)
	e, ok := kindAnswers[kind]
	if !ok { // a kind newer than this table: what an unknown error gets
		e = kindAnswers[secretcache.ErrUnavailable]
	}
	if kind == secretcache.ErrInvalidRequest {
		e.message = invalidMessage(err)
	}
	return e
}

// kindAnswers is the answer to each error kind of the cache
// (secretcache.Kinds) that is not an error Secrets Manager sent: the code
// and status AWS would send, or the AWS agent's ConnectionError. A test
// checks that every kind has one.
var kindAnswers = map[error]httpError{
	secretcache.ErrNotFound:       {400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."},
	secretcache.ErrAccessDenied:   {400, "AccessDeniedException", "Access to the secret is denied."},
	secretcache.ErrDecryption:     {400, "DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key."},
	secretcache.ErrDeleted:        {400, "InvalidRequestException", "The secret is marked for deletion."},
	secretcache.ErrInvalidRequest: {400, "InvalidParameterException", ""}, // the message is the cause's: invalidMessage
	secretcache.ErrThrottled:      {400, "ThrottlingException", "Rate exceeded"},
	secretcache.ErrUnavailable:    {502, "ConnectionError", "Read Error"},
	secretcache.ErrMismatch:       {502, "ConnectionError", "Response Error"},
	secretcache.ErrWrongType:      {400, CodeSecretIsBinary, "The secret is binary; it has no JSON fields."},
	secretcache.ErrNotJSON:        {400, CodeSecretNotJSON, "The secret value is not a JSON object."},
	secretcache.ErrKeyMissing:     {400, CodeFieldNotFound, "The secret has no such top-level JSON key."},
	secretcache.ErrClosed:         {503, "ServiceUnavailable", "The agent is shutting down."},
}

// invalidMessage returns the reason of an invalid-argument error of the
// cache. The core's reasons are fixed texts that do not quote the input.
func invalidMessage(err error) string {
	var e *secretcache.Error
	if errors.As(err, &e) && e.Err != nil {
		var inner *secretcache.Error
		if !errors.As(e.Err, &inner) {
			return clip.String(e.Err.Error(), 200)
		}
	}
	return "Invalid parameter."
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
