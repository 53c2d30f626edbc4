// Package awsjson is the server side of the AWS JSON 1.1 protocol that the
// fakes of this module (smtest for Secrets Manager, ssmtest for Parameter
// Store) share: the region of a signed request, JSON answers, and epoch
// timestamps. It is not a client and checks no signature.
package awsjson

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsname"
)

// RegionFromRequest reads the region from the SigV4 credential scope of
// the Authorization header (or of a presigned X-Amz-Credential query
// parameter): Credential=AKID/20260101/us-west-2/secretsmanager/aws4_request.
// It returns "" for an unsigned request or a malformed region.
func RegionFromRequest(r *http.Request) string {
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			cred = after
			if i := strings.IndexAny(cred, ", "); i >= 0 {
				cred = cred[:i]
			}
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 3 || awsname.CheckRegion(parts[2]) != nil {
		return ""
	}
	return parts[2]
}

// WriteJSON answers v as an AWS JSON 1.1 body with status; a v that cannot
// be encoded is answered as an InternalServiceError.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = 500
		b = []byte(`{"__type":"InternalServiceError","message":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteError answers an AWS error: code in X-Amzn-Errortype and __type, and
// message in both spellings the SDKs read.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("X-Amzn-Errortype", code)
	WriteJSON(w, status, map[string]string{"__type": code, "message": message, "Message": message})
}

// Epoch marshals a time as AWS JSON protocols do: seconds since the epoch
// as a JSON number with a fraction.
type Epoch time.Time

// MarshalJSON writes the seconds since the epoch, to the millisecond.
func (e Epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}
