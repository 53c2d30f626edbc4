package httpsecret_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/httpsecret"
)

func exampleCache(value string) (*secretcache.Cache, *keySource) {
	src := &keySource{}
	src.set(value)
	c, _ := secretcache.New(src, secretcache.WithTTL(time.Hour), secretcache.WithLogger(slog.New(slog.DiscardHandler)))
	return c, src
}

func echoAuth(header string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get(header))
	}))
}

func get(cl *http.Client, url string) string {
	resp, err := cl.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.StatusCode, " ", string(b))
}

func ExampleNew() {
	c, _ := exampleCache("tok-123")
	defer c.Close()
	api := echoAuth("Authorization")
	defer api.Close()

	tr, err := httpsecret.New(c, "prod/api-key/payments", quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(get(tr.Client(), api.URL))
	// Output: 200 Bearer tok-123
}

func ExampleWithHeader() {
	c, _ := exampleCache(`{"api_key":"k-1","owner":"team"}`)
	defer c.Close()
	api := echoAuth("X-Api-Key")
	defer api.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/maps", httpsecret.WithHeader("X-Api-Key"), httpsecret.WithField("api_key"), quiet)
	fmt.Println(get(tr.Client(), api.URL))
	// Output: 200 k-1
}

func ExampleWithScheme() {
	c, _ := exampleCache("abc")
	defer c.Close()
	api := echoAuth("Authorization")
	defer api.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/github", httpsecret.WithScheme("token"), quiet)
	fmt.Println(get(tr.Client(), api.URL))
	// Output: 200 token abc
}

func ExampleWithHosts() {
	c, _ := exampleCache("abc")
	defer c.Close()
	api := echoAuth("Authorization")
	defer api.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/github", httpsecret.WithHosts("api.example.com"), quiet)
	fmt.Printf("%q\n", get(tr.Client(), api.URL)) // another host: no credential
	// Output: "200 "
}

// A rotated key: the server refuses the old one, the transport refreshes
// the secret and retries once.
func ExampleTransport_RoundTrip() {
	c, src := exampleCache("old-key")
	defer c.Close()
	current := "old-key"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+current {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer api.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/payments", quiet)
	fmt.Println(get(tr.Client(), api.URL))

	src.set("new-key") // rotation: the cache still holds old-key for an hour
	current = "new-key"
	fmt.Println(get(tr.Client(), api.URL))
	refreshes, retries := tr.Stats()
	fmt.Println(refreshes, retries)
	// Output:
	// 200 ok
	// 200 ok
	// 1 1
}

func ExampleTransport_RoundTrip_badSecret() {
	c, _ := exampleCache("line\r\nX-Evil: 1")
	defer c.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/bad", quiet)
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://127.0.0.1:1/", nil)
	_, err := tr.RoundTrip(req)
	fmt.Println(err)
	// Output: httpsecret: secretcache: httpsecret "prod/api-key/bad": invalid request: the credential is empty, over 8192 bytes or holds control characters
}

func ExampleTransport_Client() {
	c, _ := exampleCache("tok")
	defer c.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/x", quiet)
	cl := tr.Client()
	cl.Timeout = 10 * time.Second
	fmt.Println(cl.Transport == tr)
	// Output: true
}

func ExampleTransport_Stats() {
	c, _ := exampleCache("tok")
	defer c.Close()
	tr, _ := httpsecret.New(c, "prod/api-key/x", quiet)
	fmt.Println(tr.Stats())
	// Output: 0 0
}
