package smtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsjson"
)

// opFunc runs one API operation on a raw JSON body.
type opFunc func(srv *Server, ctx context.Context, region string, body []byte) (any, []ChangeEvent, error)

// typed adapts an operation taking a decoded input to an opFunc.
func typed[T any](fn func(srv *Server, ctx context.Context, region string, in *T) (any, []ChangeEvent, error)) opFunc {
	return func(srv *Server, ctx context.Context, region string, body []byte) (any, []ChangeEvent, error) {
		in := new(T)
		if err := decodeBody(body, in); err != nil {
			return nil, nil, err
		}
		return fn(srv, ctx, region, in)
	}
}

var ops map[string]opFunc

func init() {
	ops = map[string]opFunc{
		"BatchGetSecretValue":          typed((*Server).opBatchGetSecretValue),
		"CancelRotateSecret":           typed((*Server).opCancelRotateSecret),
		"CreateSecret":                 typed((*Server).opCreateSecret),
		"DeleteResourcePolicy":         typed((*Server).opDeleteResourcePolicy),
		"DeleteSecret":                 typed((*Server).opDeleteSecret),
		"DescribeSecret":               typed((*Server).opDescribeSecret),
		"GetRandomPassword":            typed((*Server).opGetRandomPassword),
		"GetResourcePolicy":            typed((*Server).opGetResourcePolicy),
		"GetSecretValue":               typed((*Server).opGetSecretValue),
		"ListSecretVersionIds":         typed((*Server).opListSecretVersionIds),
		"ListSecrets":                  typed((*Server).opListSecrets),
		"PutResourcePolicy":            typed((*Server).opPutResourcePolicy),
		"PutSecretValue":               typed((*Server).opPutSecretValue),
		"RemoveRegionsFromReplication": typed((*Server).opRemoveRegionsFromReplication),
		"ReplicateSecretToRegions":     typed((*Server).opReplicateSecretToRegions),
		"RestoreSecret":                typed((*Server).opRestoreSecret),
		"RotateSecret":                 typed((*Server).opRotateSecret),
		"StopReplicationToReplica":     typed((*Server).opStopReplicationToReplica),
		"TagResource":                  typed((*Server).opTagResource),
		"UntagResource":                typed((*Server).opUntagResource),
		"UpdateSecret":                 typed((*Server).opUpdateSecret),
		"UpdateSecretVersionStage":     typed((*Server).opUpdateSecretVersionStage),
		"ValidateResourcePolicy":       typed((*Server).opValidateResourcePolicy),
	}
}

func lookupOp(name string) opFunc { return ops[name] }

// Operations lists the API operations the server implements.
func Operations() []string {
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// decodeBody decodes a JSON object into in. An empty body counts as {}.
// Anything that is not a JSON object of the right member types is a
// SerializationException, as AWS answers it.
func decodeBody(body []byte, in any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil
	}
	if body[0] != '{' {
		return apiErr(codeSerialization, "Start of structure or map found where not expected.")
	}
	if err := json.Unmarshal(body, in); err != nil {
		var msg string
		switch e := err.(type) {
		case *json.UnmarshalTypeError:
			msg = "Unexpected value type for field " + strconv.Quote(e.Field) + "."
		case *json.SyntaxError:
			msg = "Malformed JSON at offset " + strconv.FormatInt(e.Offset, 10) + "."
		default:
			msg = "Could not parse the request body."
		}
		return apiErr(codeSerialization, "%s", msg)
	}
	return nil
}

// epoch marshals a time as AWS JSON protocols do (awsjson.Epoch).
type epoch = awsjson.Epoch

// obj is a response object; put skips empty values so that absent members
// are not sent, as AWS does.
type obj map[string]any

func (o obj) put(k string, v any) obj {
	switch x := v.(type) {
	case nil:
		return o
	case string:
		if x == "" {
			return o
		}
	case time.Time:
		if x.IsZero() {
			return o
		}
		v = epoch(x)
	case []byte:
		if x == nil {
			return o
		}
	case []obj:
		if x == nil {
			return o
		}
	case []string:
		if x == nil {
			return o
		}
	}
	o[k] = v
	return o
}

// Pagination tokens are opaque to clients: base64 of an offset.
const tokenPrefix = "smtest:"

func encodeToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + strconv.Itoa(offset)))
}

func decodeToken(tok *string) (int, error) {
	if tok == nil || *tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), tokenPrefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, apiErr(codeBadToken, "The NextToken value is invalid.")
}

// pageSize is the MaxResults of a request, 1 to limit, or limit when absent.
func pageSize(maxResults *int64, limit int) (int, error) {
	if maxResults == nil {
		return limit, nil
	}
	if *maxResults < 1 || *maxResults > int64(limit) {
		return 0, errRange("maxResults", 1, int64(limit))
	}
	return int(*maxResults), nil
}

// page cuts one page of n items from offset tok.
func page(n int, tok *string, maxResults int) (start, end int, next string, err error) {
	start, err = decodeToken(tok)
	if err != nil {
		return 0, 0, "", err
	}
	if start > n {
		start = n
	}
	end = min(n, start+maxResults)
	if end < n {
		next = encodeToken(end)
	}
	return start, end, next, nil
}
