package ssmparam_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/ssmparam"
)

// Answers that are not the parameter or version asked for, or have no
// value, are refused (ErrMismatch, transient, an *AnswerError that never
// quotes the value); a cache keeps serving what it had.
func TestAnswersChecked(t *testing.T) {
	answer := `{"Parameter":{"Name":"/a","Type":"String","Value":"good","Version":1}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(answer))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}
	src, err := ssmparam.New(cfg, ssmparam.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := secretcache.New(src, secretcache.WithTTL(time.Millisecond), secretcache.WithMaxStale(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()
	if v, err := cache.GetString(ctx, "/a"); err != nil || v != "good" {
		t.Fatal(v, err)
	}
	for _, c := range []struct{ body, ref, want string }{
		{`{"Parameter":{"Name":"/other","Type":"String","Value":"leak-1","Version":1}}`, "/a", "not the one asked for"},
		{`{"Parameter":{"Name":"/a","Type":"String","Version":2}}`, "/a", "no Value"},
		{`{"Parameter":{"Name":"/a","Type":"String","Value":"leak-2","Version":2}}`, "/a:1", "version 2, asked for 1"},
		{`{}`, "/a", "no Parameter"},
	} {
		answer = c.body
		_, err := src.Fetch(ctx, secretcache.Ref{ID: c.ref})
		var ae *ssmparam.AnswerError
		if !errors.Is(err, secretcache.ErrMismatch) || !errors.As(err, &ae) || !strings.Contains(ae.Problem, c.want) ||
			ae.Operation != "GetParameter" || strings.Contains(err.Error(), "leak") {
			t.Errorf("%s: %v", c.body, err)
		}
		time.Sleep(2 * time.Millisecond)
		if v, err := cache.GetString(ctx, "/a"); err != nil || v != "good" {
			t.Errorf("%s: the cache served %q, %v", c.body, v, err)
		}
	}
}
