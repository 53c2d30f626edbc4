package awsjson

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRegionFromRequest(t *testing.T) {
	for auth, want := range map[string]string{
		"AWS4-HMAC-SHA256 Credential=AKID/20260101/sa-east-1/ssm/aws4_request, SignedHeaders=host": "sa-east-1",
		"AWS4-HMAC-SHA256 Credential=AKID/20260101/BAD REGION/ssm/aws4_request":                    "",
		"Basic abc": "",
		"":          "",
	} {
		r := httptest.NewRequest("POST", "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if got := RegionFromRequest(r); got != want {
			t.Errorf("%q: %q, want %q", auth, got, want)
		}
	}
}

func TestWriteErrorAndEpoch(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, 400, "ParameterNotFound", "no")
	var m map[string]string
	if json.Unmarshal(w.Body.Bytes(), &m) != nil || m["__type"] != "ParameterNotFound" || w.Code != 400 ||
		w.Header().Get("X-Amzn-Errortype") != "ParameterNotFound" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	b, _ := json.Marshal(Epoch(time.UnixMilli(1700000000123)))
	if string(b) != "1700000000.123" {
		t.Fatalf("%s", b)
	}
	w = httptest.NewRecorder()
	WriteJSON(w, 200, func() {}) // cannot be encoded
	if w.Code != 500 {
		t.Fatalf("%d", w.Code)
	}
}
