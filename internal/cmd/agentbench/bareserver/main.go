// Command bareserver is the reference of the agent's load benchmark
// (internal/cmd/agentbench): a bare net/http server, no timeouts, no
// middleware, that checks the token header and answers every request with
// the bytes of one file, with the agent's headers.
//
// It reads the token from $AWS_TOKEN (empty or unset: exit 2) and the body
// from -body (a missing or unreadable file: exit 2). Requests without the
// token, or with another one, get 403 "Bad Token", as from the agent. It
// prints "listening http://ADDR" on stdout once it accepts connections, and
// serves until it is killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `host:port`")
	bodyFile := flag.String("body", "", "`file` whose bytes every authorized request gets")
	header := flag.String("header", "X-Aws-Parameters-Secrets-Token", "token `header`")
	flag.Parse()
	token := os.Getenv("AWS_TOKEN")
	if token == "" {
		fmt.Fprintln(os.Stderr, "bareserver: set AWS_TOKEN to the token")
		os.Exit(2)
	}
	if *bodyFile == "" {
		fmt.Fprintln(os.Stderr, "bareserver: -body names no file")
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bareserver: -body: %v\n", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bareserver: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	hdr := http.CanonicalHeaderKey(*header)
	ct, cc, cl := []string{"application/json"}, []string{"no-store"}, []string{strconv.Itoa(len(body))}
	bad := []byte("Bad Token")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if v := r.Header[hdr]; len(v) == 0 || !equal(v[0], token) {
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write(bad)
			return
		}
		h["Content-Type"], h["Cache-Control"], h["Content-Length"] = ct, cc, cl
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintf(os.Stderr, "bareserver: %v\n", err)
		os.Exit(1)
	}
}

// equal compares a and b in time that depends only on their lengths.
func equal(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := range len(a) {
		d |= a[i] ^ b[i]
	}
	return d == 0
}
