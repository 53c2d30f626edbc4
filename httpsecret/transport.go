package httpsecret

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
	"golang.org/x/net/http/httpguts"
)

// maxValue is the longest credential, in bytes, the transport sends.
const maxValue = 8192

// defaultRefreshInterval is the least time between two refreshes of the
// secret caused by 401 answers.
const defaultRefreshInterval = time.Second

// ErrPlainHTTP is matched (errors.Is) by the error of a request that
// would carry the credential in clear: a plain-http URL whose host is not
// loopback, on a transport without WithInsecureHTTP.
var ErrPlainHTTP = errors.New("the credential is not sent over plain http to a host other than loopback; use https, or WithInsecureHTTP to allow it")

// maxDrain is how much of a 401 body is read so the connection can be
// reused.
const maxDrain = 64 << 10

// Option configures a Transport.
type Option func(*Transport) error

// WithField reads the credential from a top-level key of a JSON-object
// secret (secretcache's GetField) instead of the whole value. It fails for
// an empty or oversized key.
func WithField(key string) Option {
	return func(t *Transport) error {
		if key == "" || len(key) > 256 {
			return errors.New("httpsecret: field must be 1..256 bytes")
		}
		t.field = key
		return nil
	}
}

// WithHeader sends the credential as the whole value of the named header
// (for example "X-API-Key") instead of "Authorization: Bearer <value>". It
// fails for a name that is not an HTTP token.
func WithHeader(name string) Option {
	return func(t *Transport) error {
		if !token(name) {
			return errors.New("httpsecret: header name must be an HTTP token of at most 256 bytes")
		}
		t.header, t.scheme = http.CanonicalHeaderKey(name), ""
		return nil
	}
}

// WithScheme sends "Authorization: <scheme> <value>" (the default scheme is
// "Bearer"). It fails for a scheme that is not an HTTP token.
func WithScheme(scheme string) Option {
	return func(t *Transport) error {
		if !token(scheme) {
			return errors.New("httpsecret: scheme must be an HTTP token of at most 256 bytes")
		}
		t.header, t.scheme = "Authorization", scheme
		return nil
	}
}

// WithBase sets the transport that sends the requests (default
// http.DefaultTransport). It fails for nil.
func WithBase(rt http.RoundTripper) Option {
	return func(t *Transport) error {
		if rt == nil {
			return errors.New("httpsecret: nil base transport")
		}
		t.base = rt
		return nil
	}
}

// WithHosts limits the credential to requests for these hosts (host or
// host:port, matched case-insensitively against the request's URL.Host);
// requests for other hosts are sent without it. Without WithHosts every
// request gets it, except a redirect to another host than the one first
// asked. Either way the scheme rules of Transport apply too (https, or
// plain http only to loopback or with WithInsecureHTTP; never after a
// redirect from https). It fails for an empty list or an empty host.
func WithHosts(hosts ...string) Option {
	return func(t *Transport) error {
		if len(hosts) == 0 {
			return errors.New("httpsecret: no hosts")
		}
		t.hosts = map[string]bool{}
		for _, h := range hosts {
			if h == "" || len(h) > 255 {
				return errors.New("httpsecret: a host must be 1..255 bytes")
			}
			t.hosts[strings.ToLower(h)] = true
		}
		return nil
	}
}

// WithInsecureHTTP lets the credential go over plain http to any host.
// Without it, a plain-http request gets it only when its host is loopback
// (127.0.0.0/8, ::1, localhost), and any other plain-http request fails
// with ErrPlainHTTP before anything is sent. Even with it, a redirect from
// https to http never carries the credential.
func WithInsecureHTTP() Option {
	return func(t *Transport) error { t.insecureHTTP = true; return nil }
}

// WithRefreshInterval sets the least time between two refreshes of the
// secret caused by 401 answers (default 1 s): a server that answers 401 to
// everything costs one Secrets Manager call per interval, not one per
// request. 0 refreshes on every 401. It fails for a negative duration.
func WithRefreshInterval(d time.Duration) Option {
	return func(t *Transport) error {
		if d < 0 {
			return errors.New("httpsecret: negative refresh interval")
		}
		t.refreshEvery = d
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()). Logs name the secret
// and the host, never the credential.
func WithLogger(l *slog.Logger) Option {
	return func(t *Transport) error {
		if l == nil {
			return errors.New("httpsecret: nil logger")
		}
		t.logger = l
		return nil
	}
}

// Transport is an http.RoundTripper that adds a credential read from a
// secret to each request: "Authorization: Bearer <value>" by default, or
// the value in a header of your choice. The credential comes from the
// cache on every request (a cached read: no API call and no allocation).
//
// When the server answers 401 Unauthorized, the transport refreshes the
// secret and, if that gives another credential and the request body can be
// sent again (no body, or req.GetBody set, as http.NewRequest does for
// in-memory bodies), retries the request once with it. Otherwise the 401
// is returned as it came.
//
// The credential goes over https, or over plain http to a loopback host
// (127.0.0.1, ::1, localhost) or with WithInsecureHTTP; any other
// plain-http request fails with ErrPlainHTTP. It never goes with a redirect
// to another host than the one first asked, nor with a redirect from https
// to http.
//
// The transport never modifies the caller's request and never puts the
// credential in an error or a log. It is safe for concurrent use.
type Transport struct {
	cache        *secretcache.Cache // read on every request: a cached read costs no call
	id           string
	field        string // "" sends the whole value
	header       string
	scheme       string // "" sends the bare value in header
	base         http.RoundTripper
	hosts        map[string]bool // nil: any host first asked (see applies)
	insecureHTTP bool
	refreshEvery time.Duration
	logger       *slog.Logger

	// asked is when a 401 last asked the cache for a refresh (unix nanos):
	// WithRefreshInterval counts from it. ended is the asked of the last
	// refresh that returned; until then, the other 401s share the one under
	// way (the cache joins them) instead of giving up.
	asked, ended atomic.Int64
	retries      atomic.Uint64
	refreshes    atomic.Uint64
}

// New returns a transport that adds the credential of the secret id, read
// through c. It fails with secretcache.ErrInvalidRequest for a nil cache or
// an empty, oversized or malformed id, and with the option's error for an
// invalid option. It reads nothing yet.
func New(c *secretcache.Cache, id string, opts ...Option) (*Transport, error) {
	if c == nil {
		return nil, &secretcache.Error{Op: "httpsecret", ID: id, Kind: secretcache.ErrInvalidRequest, Err: errors.New("nil cache")}
	}
	if secretcache.CheckID(id) != nil {
		return nil, &secretcache.Error{Op: "httpsecret", ID: clip.ID(id), Kind: secretcache.ErrInvalidRequest,
			Err: errors.New("secret id must be 1..2048 printable characters without spaces")}
	}
	t := &Transport{cache: c, id: id, header: "Authorization", scheme: "Bearer", base: http.DefaultTransport,
		refreshEvery: defaultRefreshInterval}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("httpsecret: nil option")
		}
		if err := o(t); err != nil {
			return nil, err
		}
	}
	if t.logger == nil {
		t.logger = slog.Default()
	}
	return t, nil
}

// Client returns an *http.Client that sends its requests through t.
func (t *Transport) Client() *http.Client { return &http.Client{Transport: t} }

// Stats returns how many 401 answers led to a refresh of the secret and
// how many requests were retried with a new credential.
func (t *Transport) Stats() (refreshes, retries uint64) {
	return t.refreshes.Load(), t.retries.Load()
}

// validValue reports whether s can be sent in a header: no control
// characters (CR, LF and NUL above all), at most maxValue bytes.
func validValue(s string) bool {
	if s == "" || len(s) > maxValue {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// credential reads the credential from the cache.
func (t *Transport) credential(ctx context.Context) (string, error) {
	var (
		v   string
		err error
	)
	if t.field != "" {
		v, err = t.cache.GetField(ctx, t.id, t.field)
	} else {
		v, err = t.cache.GetString(ctx, t.id)
	}
	if err != nil {
		return "", err
	}
	if !validValue(v) {
		return "", &secretcache.Error{Op: "httpsecret", ID: t.id, Kind: secretcache.ErrInvalidRequest,
			Err: fmt.Errorf("the credential is empty, over %d bytes or holds control characters", maxValue)}
	}
	return v, nil
}

// applies reports whether req should carry the credential, or why it
// must not be sent at all (a plain-http request the transport may not
// send the credential with).
func (t *Transport) applies(req *http.Request) (bool, error) {
	// A redirect has req.Response set by http.Client, holding the request
	// it answered; first is the request the client was asked to send.
	first, viaHTTPS := req, false
	for n := 0; first.Response != nil && first.Response.Request != nil && n < 100; n++ {
		first = first.Response.Request
		viaHTTPS = viaHTTPS || first.URL != nil && strings.EqualFold(first.URL.Scheme, "https")
	}
	redirect := first != req
	if t.hosts != nil {
		if !t.hosts[strings.ToLower(req.URL.Host)] && !t.hosts[strings.ToLower(req.URL.Hostname())] {
			return false, nil
		}
	} else if redirect && (first.URL == nil || !strings.EqualFold(first.URL.Host, req.URL.Host)) {
		return false, nil // only to the host the client first asked
	}
	if strings.EqualFold(req.URL.Scheme, "https") {
		return true, nil
	}
	switch {
	case viaHTTPS:
		return false, nil // a downgrade from https: never in clear
	case t.insecureHTTP || loopback(req.URL.Hostname()):
		return true, nil
	case redirect:
		return false, nil
	}
	return false, fmt.Errorf("httpsecret: %w", &secretcache.Error{Op: "httpsecret", ID: t.id, Kind: secretcache.ErrInvalidRequest,
		Err: fmt.Errorf("%w (%s://%s)", ErrPlainHTTP, clip.String(req.URL.Scheme, 16), clip.String(req.URL.Host, 255))})
}

// loopback reports whether host (no port) is localhost or a loopback IP.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (t *Transport) set(req *http.Request, v string) {
	if t.scheme != "" {
		req.Header.Set(t.header, t.scheme+" "+v)
	} else {
		req.Header.Set(t.header, v)
	}
}

func closeBody(req *http.Request) {
	if req != nil && req.Body != nil {
		_ = req.Body.Close()
	}
}

// RoundTrip implements http.RoundTripper. It fails, closing the request
// body, for a nil request or URL, for a plain-http request the credential
// may not go with (ErrPlainHTTP: see Transport), and when the credential
// cannot be read or is not a valid header value (an error naming the
// secret, never the value).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		closeBody(req)
		return nil, errors.New("httpsecret: nil request or URL")
	}
	ok, err := t.applies(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if !ok {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	v, err := t.credential(ctx)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("httpsecret: %w", err)
	}
	r := req.Clone(ctx)
	t.set(r, v)
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	replay := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replay {
		return resp, nil
	}
	nv, ok := t.newCredential(ctx, v)
	if !ok {
		return resp, nil
	}
	r2 := req.Clone(ctx)
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		r2.Body = body
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()
	t.set(r2, nv)
	t.retries.Add(1)
	t.logger.Info("httpsecret: retrying with a refreshed credential after 401", "secret", t.id, "host", req.URL.Host)
	return t.base.RoundTrip(r2)
}

// newCredential looks for a credential other than old: in the cache, which
// another request may have refreshed already, else by refreshing the
// secret, at most once per refresh interval. Requests that get a 401 while
// that refresh is under way share it instead of starting another.
func (t *Transport) newCredential(ctx context.Context, old string) (string, bool) {
	if v, err := t.credential(ctx); err == nil && !same(v, old) {
		return v, true
	}
	if err := t.refresh(ctx); err != nil {
		return "", false
	}
	v, err := t.credential(ctx)
	if err != nil || same(v, old) {
		return "", false
	}
	return v, true
}

// refresh refreshes the secret after a 401: a new refresh when the last
// one was asked for at least the refresh interval ago, else the one asked
// for then, joined while it runs (a conditional Refresh: no call when a
// value fetched since is cached). It fails when that refresh has ended.
func (t *Transport) refresh(ctx context.Context) error {
	now := time.Now().UnixNano()
	last := t.asked.Load()
	if (last == 0 || now-last >= int64(t.refreshEvery)) && t.asked.CompareAndSwap(last, now) {
		t.refreshes.Add(1)
		_, err := t.cache.Refresh(ctx, t.id)
		t.ended.Store(now)
		if err != nil {
			t.logger.Warn("httpsecret: refreshing the secret after 401 failed", "secret", t.id, "kind", secretcache.KindName(err))
		}
		return err
	}
	if last = t.asked.Load(); t.ended.Load() == last {
		return errRefreshed
	}
	_, err := t.cache.Refresh(ctx, t.id, secretcache.IfOlderThan(max(time.Duration(time.Now().UnixNano()-last), 1)))
	return err
}

// errRefreshed tells that the refresh of the interval has been made.
var errRefreshed = errors.New("httpsecret: refreshed less than the refresh interval ago")

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// token reports whether s is an RFC 9110 token (a header name or an auth
// scheme) of at most 256 bytes.
func token(s string) bool { return len(s) <= 256 && httpguts.ValidHeaderFieldName(s) }
