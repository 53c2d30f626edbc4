package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/clip"
)

// msgMisdirected is the body of the 421 answer to a request whose Host the
// agent does not answer to.
const msgMisdirected = "Host not allowed (a name the agent should answer goes in allowed_hosts or --allowed-hosts)"

// MaxAllowedHosts caps the names given to WithAllowedHosts.
const MaxAllowedHosts = 100

// hostPolicy decides which Host headers the listeners answer, against DNS
// rebinding: a web page whose name the attacker points at 127.0.0.1 can make
// the browser send requests to the agent, but the browser then sends the
// attacker's name as Host. Both listeners answer only
//   - loopback names: localhost (any case, with a trailing dot or not),
//     an address of 127.0.0.0/8, [::1];
//   - the IP address the connection was accepted on (probes and Prometheus
//     in Kubernetes send the pod's address), which a page can only use by
//     being served from that address, so never a rebound name;
//   - the names of WithAllowedHosts;
//   - no Host at all (HTTP/1.0): browsers always send one;
//
// each with any port or none. Anything else gets 421 Misdirected Request.
type hostPolicy struct {
	names map[string]bool // lower case, no trailing dot
}

// newHostPolicy checks the extra names: each a DNS name (letters, digits,
// '-', '_' and dots; labels of 1 to 63 bytes that neither begin nor end
// with '-'; at most 253 bytes) or an IP address, without port or zone; case
// and a trailing dot do not matter.
func newHostPolicy(extra []string) (*hostPolicy, error) {
	if len(extra) > MaxAllowedHosts {
		return nil, fmt.Errorf("agent: allowed hosts: %d names, at most %d are accepted", len(extra), MaxAllowedHosts)
	}
	p := &hostPolicy{names: map[string]bool{}}
	for _, n := range extra {
		name, err := canonicalHostName(n)
		if err != nil {
			return nil, fmt.Errorf("agent: allowed host %q: %w", clip.String(strings.ToValidUTF8(n, "?"), 64), err)
		}
		p.names[name] = true
	}
	return p, nil
}

func canonicalHostName(n string) (string, error) {
	if n == "" {
		return "", errors.New("empty; a DNS name or an IP address, without port, is accepted")
	}
	if len(n) > 255 {
		return "", errors.New("over 253 bytes; a DNS name or an IP address, without port, is accepted")
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(n, "["), "]")); err == nil {
		if a.Zone() != "" {
			return "", errors.New("an IP address with a zone; a DNS name or an IP address, without port, is accepted")
		}
		return a.Unmap().String(), nil
	}
	name := strings.ToLower(strings.TrimSuffix(n, "."))
	if name == "" || len(name) > 253 {
		return "", errors.New("not a DNS name of 1 to 253 bytes; a DNS name or an IP address, without port, is accepted")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", errors.New("a DNS label is empty, over 63 bytes, or begins or ends with '-'; a DNS name or an IP address, without port, is accepted")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("not a DNS name (letters, digits, '-', '_' and dots) nor an IP address; a port is not accepted")
			}
		}
	}
	return name, nil
}

// allowed reports whether the request's Host may be answered. The common
// Host headers of local clients (127.0.0.1:PORT, localhost:PORT) cost a few
// comparisons and no allocation.
func (p *hostPolicy) allowed(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	host, ok := splitHostPort(r.Host)
	if !ok {
		return false
	}
	if isLocalhost(host) {
		return true
	}
	if len(host) > 0 && (host[0] >= '0' && host[0] <= '9' || host[0] == '[') {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if err != nil || a.Zone() != "" || (host[0] == '[') != a.Is6() {
			return p.nameAllowed(host)
		}
		a = a.Unmap()
		if a.IsLoopback() || p.names[a.String()] {
			return true
		}
		return localAddrIs(r.Context(), a)
	}
	return p.nameAllowed(host)
}

func (p *hostPolicy) nameAllowed(host string) bool {
	if len(p.names) == 0 {
		return false
	}
	return p.names[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// splitHostPort splits a Host header into host and port, where the port is
// optional but, when there is a colon, 1 to 5 digits.
func splitHostPort(h string) (string, bool) {
	host, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", false
		}
		host, port = h[:end+1], h[end+1:]
		if port != "" {
			if port[0] != ':' {
				return "", false
			}
			port = port[1:]
			if port == "" {
				return "", false
			}
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
		if port == "" || strings.IndexByte(host, ':') >= 0 {
			return "", false
		}
	}
	if len(port) > 5 {
		return "", false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return "", false
		}
	}
	return host, host != ""
}

// isLocalhost reports whether host is "localhost", in any case, with or
// without a trailing dot.
func isLocalhost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	return len(host) == len("localhost") && strings.EqualFold(host, "localhost")
}

// localAddrIs reports whether a is the address the request's connection
// was accepted on.
func localAddrIs(ctx context.Context, a netip.Addr) bool {
	la, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	tcp, ok := la.(*net.TCPAddr)
	if !ok {
		return false
	}
	l, ok := netip.AddrFromSlice(tcp.IP)
	return ok && l.Unmap() == a
}

// checkHost wraps h with the host policy: a request with a Host it does not
// answer gets 421 and a closed connection.
func (p *hostPolicy) checkHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		closeIfBody(w, r)
		if !p.allowed(r) {
			misdirected(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// closeIfBody makes the answer to a request that carries a body close its
// connection. Both listeners serve GET only and never read a body; without
// this, net/http would keep the connection waiting for the rest of a body
// the client never sends, an open connection no limit counts.
func closeIfBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		w.Header()["Connection"] = closeConn
		// net/http would still read what is left of the body before it
		// closes; the deadline makes that read end at once.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

func misdirected(w http.ResponseWriter) {
	w.Header()["Connection"] = closeConn
	writeText(w, http.StatusMisdirectedRequest, msgMisdirected)
}

var closeConn = []string{"close"}
