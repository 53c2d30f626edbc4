package httpsecret_test

import (
	"context"
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/httpsecret"
	"github.com/secretcache/secretcache/smtest"
)

// The key lives in smtest, is read through awssm and the real SDK, and is
// rotated by Secrets Manager's own RotateSecret (smtest's built-in
// rotation): every request succeeds across the rotations, at the cost of
// one refresh per rotation.
func TestRotationThroughSecretsManager(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	const id = "prod/api-key/payments"
	if _, err := srv.CreateSecret("", id, "first-key"); err != nil {
		t.Fatal(err)
	}
	src, err := awssm.New(srv.AWSConfig(""), awssm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(src, secretcache.WithTTL(time.Hour), secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The API accepts whatever is AWSCURRENT in Secrets Manager right now.
	var unauthorized atomic.Int64
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := srv.Value("", id, "AWSCURRENT")
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(cur)) != 1 {
			unauthorized.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(w, r.Body)
	}))
	defer apiSrv.Close()

	tr, err := httpsecret.New(c, id, httpsecret.WithRefreshInterval(0), quiet)
	if err != nil {
		t.Fatal(err)
	}
	cl := tr.Client()
	if code, _ := do(t, cl, "GET", apiSrv.URL, ""); code != 200 {
		t.Fatal(code)
	}
	for i := range 10 {
		if _, err := srv.Rotate(context.Background(), "", id); err != nil {
			t.Fatal(err)
		}
		for j := range 5 {
			code, body := do(t, cl, "POST", apiSrv.URL, "req")
			if code != 200 || body != "req" {
				t.Fatalf("rotation %d request %d: %d", i, j, code)
			}
		}
	}
	refreshes, retries := tr.Stats()
	if refreshes != 10 || retries != 10 || unauthorized.Load() != 10 {
		t.Fatalf("refreshes %d retries %d 401s %d", refreshes, retries, unauthorized.Load())
	}
	if n := srv.Calls("", "GetSecretValue"); n != 11 {
		t.Fatalf("%d GetSecretValue calls for 10 rotations", n)
	}
}
