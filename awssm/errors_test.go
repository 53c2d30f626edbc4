package awssm_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/smtest"
)

// plainMessage checks an error message says what happened once: one
// "secretcache:" prefix, the operation and region once, none of the SDK's
// nested wrappers ("operation error", "https response error",
// "StatusCode: 0, RequestID: ,", "exceeded maximum number of attempts").
func plainMessage(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, bad := range []string{"https", "operation error", "response error", "StatusCode", "RequestID:",
		"exceeded maximum number of attempts", "awssm: "} {
		if strings.Contains(msg, bad) {
			t.Errorf("message %q contains %q", msg, bad)
		}
	}
	if n := strings.Count(msg, "secretcache:"); n != 1 {
		t.Errorf("message %q has %d secretcache: prefixes", msg, n)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
}

var requestIDRe = regexp.MustCompile(`\(request id [0-9a-f-]{36}(, \d attempts)?\)$`)

// Errors name the operation, region, HTTP status, AWS code and message,
// request id and attempts, plainly and once, for an http endpoint as for
// an https one; errors.As still reaches the SDK's errors.
func TestErrorMessagesArePlain(t *testing.T) {
	srv := newServer(t)
	replicated(t, srv, "s", "v")
	src := newSource(t, srv, awssm.WithRegions(primary), awssm.WithBreaker(100, time.Minute))

	srv.SetFault("", "", smtest.Fault{ErrorCode: "InternalServiceError"})
	_, err := src.Fetch(bg, secretcache.Ref{ID: "s"})
	plainMessage(t, err, `secretcache: fetch "s": backend unavailable: GetSecretValue in us-east-1: HTTP 500 InternalServiceError: smtest: injected fault InternalServiceError (request id `,
		", 2 attempts)")
	if !requestIDRe.MatchString(err.Error()) {
		t.Errorf("message %q: no request id and attempts at the end", err)
	}
	var ce *awssm.CallError
	if !errors.As(err, &ce) || ce.Operation != "GetSecretValue" || ce.Region != primary || ce.StatusCode != 500 ||
		ce.Code != "InternalServiceError" || ce.RequestID == "" || ce.Attempts != 2 {
		t.Fatalf("CallError %+v", ce)
	}
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	var are *awshttp.ResponseError
	var mae *retry.MaxAttemptsError
	var oe *smithy.OperationError
	if !errors.As(err, &ae) || !errors.As(err, &re) || !errors.As(err, &are) || !errors.As(err, &mae) ||
		!errors.As(err, &oe) || ae.ErrorCode() != "InternalServiceError" || re.HTTPStatusCode() != 500 {
		t.Fatalf("errors.As lost the SDK's errors: %v", err)
	}

	// A permanent answer, through the cache: "get", not "fetch", once.
	srv.ClearFaults()
	c, err := secretcache.New(src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.GetString(bg, "nope")
	plainMessage(t, err, `secretcache: get "nope": secret not found: GetSecretValue in us-east-1: HTTP 400 ResourceNotFoundException: Secrets Manager can't find the specified secret. (request id `)
	if !requestIDRe.MatchString(err.Error()) || strings.Contains(err.Error(), "attempts") {
		t.Errorf("message %q", err)
	}

	// No answer at all: a reset, a timeout.
	srv.SetFault("", "", smtest.Fault{Reset: true})
	_, err = src.Fetch(bg, secretcache.Ref{ID: "s"})
	plainMessage(t, err, `GetSecretValue in us-east-1: request failed: Post "http://127.0.0.1:`, "(2 attempts)")
	var se *smithyhttp.RequestSendError
	var ne net.Error
	if !errors.As(err, &se) || !errors.As(err, &ne) || !errors.As(err, &ce) || ce.StatusCode != 0 {
		t.Fatalf("errors.As: %v", err)
	}
	srv.SetFault("", "", smtest.Fault{Blackhole: true})
	_, err = src.Fetch(bg, secretcache.Ref{ID: "s"})
	plainMessage(t, err, `: backend unavailable: GetSecretValue in us-east-1: attempt timed out after 150ms (2 attempts)`)

	// Batch and list calls say the same.
	srv.SetFault("", "", smtest.Fault{ErrorCode: "ThrottlingException"})
	one := newSource(t, srv, awssm.WithRegions(primary), awssm.WithMaxAttempts(1), awssm.WithBreaker(100, time.Minute))
	res := one.FetchBatch(bg, []secretcache.Ref{{ID: "s"}, {ID: "t"}})
	plainMessage(t, res[1].Err, `secretcache: fetch "t": throttled: BatchGetSecretValue in us-east-1: HTTP 400 ThrottlingException: smtest: injected fault ThrottlingException (request id `)
	_, err = one.ListNames(bg, "prod/")
	plainMessage(t, err, `secretcache: list "prod/": throttled: ListSecrets in us-east-1: HTTP 400 ThrottlingException: `)
	srv.ClearFaults()
	res = one.FetchBatch(bg, []secretcache.Ref{{ID: "s"}, {ID: "missing"}})
	plainMessage(t, res[1].Err, `secretcache: fetch "missing": secret not found: BatchGetSecretValue in us-east-1: ResourceNotFoundException: `)

	// Every breaker open.
	srv.SetFault("", "", smtest.Fault{ErrorCode: "InternalServiceError"})
	tripped := newSource(t, srv, awssm.WithBreaker(1, time.Minute))
	tripped.Fetch(bg, secretcache.Ref{ID: "s"})
	_, err = tripped.Fetch(bg, secretcache.Ref{ID: "s"})
	plainMessage(t, err, `secretcache: fetch "s": backend unavailable: circuit breaker open for region us-east-1, us-west-2`)
}

// An answer the SDK cannot read (here: not JSON) says so, with the HTTP
// status, and not the SDK's nesting.
func TestErrorMessageUnreadableAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Requestid", "11111111-2222-3333-4444-555555555555")
		w.Write([]byte("<html>a proxy's page</html>"))
	}))
	defer ts.Close()
	cfg := aws.Config{Region: primary, BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	src, err := awssm.New(cfg, fastOpts(awssm.WithRegions(primary), awssm.WithMaxAttempts(1))...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(bg, secretcache.Ref{ID: "s"})
	mustKind(t, err, secretcache.ErrUnavailable)
	plainMessage(t, err, `: backend unavailable: GetSecretValue in us-east-1: HTTP 200 cannot read the answer: `)
	var de *smithy.DeserializationError
	if !errors.As(err, &de) {
		t.Fatalf("errors.As lost the DeserializationError: %v", err)
	}
}
