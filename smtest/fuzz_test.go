package smtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequest feeds arbitrary operation names and bodies to the request
// decoder and the operations. Whatever comes in, the server must answer
// (no panic) with a JSON body: 200, or a client error with an error code.
// The seed corpus is in testdata/fuzz/FuzzRequest; run with
//
//	go test -run '^$' -fuzz FuzzRequest -fuzztime 30s ./smtest/
func FuzzRequest(f *testing.F) {
	f.Add("GetSecretValue", []byte(`{"SecretId":"a"}`))
	f.Add("CreateSecret", []byte(`{"Name":"a","SecretString":"v"}`))
	s := NewServer()
	f.Cleanup(s.Close)
	// Some state for the operations to work on.
	if _, err := s.CreateSecret("", "a", "v"); err != nil {
		f.Fatal(err)
	}
	if _, err := s.PutSecretValue("", "a", "v2", "AWSPENDING"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", "secretsmanager."+op)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("Authorization", sig("us-east-1"))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %q", op, body, w.Body.String())
		}
		switch w.Code {
		case 200:
		case 400, 413:
			if code, _ := m["__type"].(string); code == "" {
				t.Fatalf("%s %q: error without __type: %s", op, body, w.Body.String())
			}
		default:
			t.Fatalf("%s %q: status %d: %s", op, body, w.Code, w.Body.String())
		}
	})
}
