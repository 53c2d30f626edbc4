package agent

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/agentjson"
	"github.com/secretcache/secretcache/internal/clip"
)

// Request limits of the API listener.
const (
	// MaxURLBytes caps the request target (path and query). A secret id is
	// at most 2,048 characters; percent-encoded with its parameters it fits.
	MaxURLBytes = 8 << 10
	// MaxHeaderBytes caps the request line and headers together.
	MaxHeaderBytes = 16 << 10
	// MaxFieldBytes caps the field= parameter.
	MaxFieldBytes = 1024
)

// Plain-text bodies of the AWS agent's own errors.
const (
	msgBadToken  = "Bad Token"
	msgForwarded = "Forwarded"
	msgMethod    = "Not allowed"
	msgConnLimit = "Connection limit exceeded"
	msgNotFound  = "Not found"
)

var (
	ctJSON   = []string{"application/json"}
	ctText   = []string{"text/plain; charset=utf-8"}
	ctBinary = []string{"application/octet-stream"}
	noStore  = []string{"no-store"}
)

// api serves the AWS-agent-compatible API.
type api struct {
	cache        *secretcache.Cache
	tok          *tokenChecker
	hosts        *hostPolicy
	refs         *hitTable // per-ref read counts and precomputed answers
	prefix       string
	maxConn      int64
	inFlight     atomic.Int64  // requests in the handler now
	timeout      time.Duration // request_timeout_seconds
	fetchTimeout time.Duration // fetch_timeout_ms
	caching      bool
	serveStale   bool
	ready        *atomic.Bool
	log          *slog.Logger
	rejected     atomic.Uint64 // 429 answers
	badTokens    atomic.Uint64 // 403 answers
	misdirected  atomic.Uint64 // 421 answers
	servedOK     atomic.Uint64 // 200 answers with a secret
	servedFailed atomic.Uint64 // error answers for a secret read
	params       *params       // the Parameter Store side, nil when off (parameters.go)
}

// newAPI builds the API handler of cfg over cache.
func newAPI(cfg Config, cache *secretcache.Cache, tok *tokenChecker, hosts *hostPolicy, refs *hitTable, ready *atomic.Bool, log *slog.Logger) *api {
	return &api{
		cache: cache, tok: tok, hosts: hosts, refs: refs,
		prefix: cfg.PathPrefix, maxConn: int64(cfg.MaxConn),
		timeout:      time.Duration(cfg.RequestTimeoutSeconds) * time.Second,
		fetchTimeout: time.Duration(cfg.FetchTimeoutMS) * time.Millisecond,
		caching:      cfg.Caching(), serveStale: cfg.IgnoreTransientErrors, ready: ready, log: log,
	}
}

func canonicalHeader(h string) string { return textproto.CanonicalMIMEHeaderKey(h) }

// endpoint is one fixed path of the API. Adding an endpoint is one line of
// endpoints; the path_prefix route (/v1/ID) comes after them.
type endpoint struct {
	path  string
	open  bool // no forwarding or token check, and two more places past max_conn: health checks
	serve func(s *api, w http.ResponseWriter, r *http.Request)
}

// endpoints are the API's fixed paths. They are matched exactly, before
// path_prefix (which Config.Check keeps apart from them), by comparing
// strings, not with an http.ServeMux: the mux would clean the path and
// redirect before any check ran (answering a request with no token, and
// rewriting secret names such as "a/./b" in /v1/ paths).
var endpoints = []endpoint{
	{"/ping", true, func(_ *api, w http.ResponseWriter, r *http.Request) { servePing(w, r) }},
	{"/ready", true, func(s *api, w http.ResponseWriter, _ *http.Request) { writeReady(w, s.ready.Load()) }},
	{getPath, false, (*api).serveGet},
	{paramPath, false, (*api).serveParameter}, // parameters.go
}

// getPath is the AWS agent's query-style endpoint.
const getPath = "/secretsmanager/get"

// checkPrefix refuses a path_prefix that an endpoint would shadow: "/",
// the path of an endpoint, or a prefix of getPath. It says what is
// accepted.
func checkPrefix(prefix string) (ok bool, allowed string) {
	var paths []string
	clash := prefix == "/" || strings.HasPrefix(getPath, prefix)
	for _, e := range endpoints {
		clash = clash || e.path == prefix
		if e.path != getPath {
			paths = append(paths, e.path)
		}
	}
	return !clash, "must be a path of its own, like /v1/ (not /, " + strings.Join(paths, ", ") + " or a prefix of " + getPath + ")"
}

// route returns the endpoint of path: a fixed one, the path_prefix route,
// or nil for an unknown path.
func (s *api) route(path string) *endpoint {
	for i := range endpoints {
		if endpoints[i].path == path {
			return &endpoints[i]
		}
	}
	if strings.HasPrefix(path, s.prefix) {
		return &prefixEndpoint
	}
	return nil
}

// prefixEndpoint is the path_prefix route (/v1/ID): token checked, the id
// the rest of the path.
var prefixEndpoint = endpoint{serve: (*api).servePath}

// ServeHTTP answers one request, checking first the Host (421, see
// hostPolicy), then in the AWS agent's order: the number of requests in
// progress (429 over max_conn, this one included; /ping and /ready get two
// more), then, but for /ping and /ready, a forwarding header (400) and the
// token (403), then the method (405), then the path (404) and its
// parameters (400).
func (s *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	closeIfBody(w, r)
	if !s.hosts.allowed(r) {
		s.misdirected.Add(1)
		misdirected(w)
		return
	}
	e := s.route(r.URL.Path)
	open := e != nil && e.open
	limit := s.maxConn
	if open {
		limit += 2 // health checks get through a full agent
	}
	if n > limit {
		s.rejected.Add(1)
		w.Header()["Connection"] = closeConn
		writeText(w, http.StatusTooManyRequests, msgConnLimit)
		return
	}
	if len(r.RequestURI) > MaxURLBytes {
		writeText(w, http.StatusRequestURITooLong, "Request URI too long")
		return
	}
	if !open {
		if _, fwd := r.Header["X-Forwarded-For"]; fwd {
			writeText(w, http.StatusBadRequest, msgForwarded)
			return
		}
		if !s.tok.ok(r.Header) {
			s.badTokens.Add(1)
			writeText(w, http.StatusForbidden, msgBadToken)
			return
		}
	}
	if r.Method != http.MethodGet {
		writeText(w, http.StatusMethodNotAllowed, msgMethod)
		return
	}
	if e == nil {
		writeText(w, http.StatusNotFound, msgNotFound)
		return
	}
	e.serve(s, w, r)
}

// serveGet answers GET /secretsmanager/get?secretId=ID&...
func (s *api) serveGet(w http.ResponseWriter, r *http.Request) {
	q, msg := parseQuery(r.URL.RawQuery, true)
	if msg == "" && q.id == "" {
		msg = "missing parameter secretId"
	}
	if msg != "" {
		writeText(w, http.StatusBadRequest, msg)
		return
	}
	s.serveSecret(w, r, q)
}

// servePath answers GET PREFIX+ID?...: the id is the rest of the path,
// as it is (no cleaning: secret names may hold "." and empty segments).
func (s *api) servePath(w http.ResponseWriter, r *http.Request) {
	q, msg := parseQuery(r.URL.RawQuery, false)
	if msg == "" {
		if q.id = r.URL.Path[len(s.prefix):]; q.id == "" {
			msg = "missing secret ID"
		}
	}
	if msg != "" {
		writeText(w, http.StatusBadRequest, msg)
		return
	}
	s.serveSecret(w, r, q)
}

// query is a parsed secret request.
type query struct {
	id, versionID, stage string
	refresh              bool
	field                string
	hasField             bool
}

// eachParam calls fn with each key and value of the query raw, as the AWS
// agent reads a query: pairs split on '&', form-decoded ('+' is a space),
// empty pairs skipped. It returns the first message fn returns, or the
// decoding error's; "" when all is well.
func eachParam(raw string, fn func(k, v string) string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := unescape(k)
		v, err2 := unescape(v)
		if err1 != nil || err2 != nil {
			return "invalid percent-encoding in query"
		}
		if msg := fn(k, v); msg != "" {
			return msg
		}
	}
	return ""
}

// boolParam reads a query's true/1 or false/0 (any case).
func boolParam(v string) (b, ok bool) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// fieldParam is the message for a bad field= value ("" when it is good):
// 1 to MaxFieldBytes bytes.
func fieldParam(v string) string {
	if v == "" || len(v) > MaxFieldBytes {
		return "invalid field value: must be 1 to 1024 bytes"
	}
	return ""
}

// unknownParam is the message for a query key no endpoint takes.
func unknownParam(k string) string {
	return "unknown parameter: " + clip.String(strings.ToValidUTF8(k, "?"), 128)
}

// parseQuery parses the query string as the AWS agent does: pairs split on
// '&', form-decoded ('+' is a space), the last of repeated parameters wins,
// empty pairs are skipped, and an unknown parameter is an error. It returns
// the 400 message for a bad query.
func parseQuery(raw string, withID bool) (q query, msg string) {
	msg = eachParam(raw, func(k, v string) string {
		switch k {
		case "secretId":
			if !withID {
				return "unknown parameter: secretId"
			}
			q.id = v
		case "versionId":
			q.versionID = v
		case "versionStage":
			q.stage = v
		case "refreshNow":
			b, ok := boolParam(v)
			if !ok {
				return "invalid refreshNow value"
			}
			q.refresh = b
		case "field":
			if msg := fieldParam(v); msg != "" {
				return msg
			}
			q.field, q.hasField = v, true
		default:
			return unknownParam(k)
		}
		return ""
	})
	if msg != "" {
		return q, msg
	}
	return q, ""
}

// unescape form-decodes s, without allocating when there is nothing to do.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// serveSecret reads the secret and writes it, or the error. The answer's
// bytes are those built for the same version by an earlier request when
// there is one (see answer).
func (s *api) serveSecret(w http.ResponseWriter, r *http.Request, q query) {
	// A read waits at most fetch_timeout for the backend (the cache bounds
	// each call), so the request's own timer is needed only when
	// request_timeout_seconds is shorter. A cached read then starts no timer.
	ctx := r.Context()
	if s.timeout < s.fetchTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	var opts []secretcache.GetOption
	if q.stage != "" || q.versionID != "" {
		opts = make([]secretcache.GetOption, 0, 2)
		if q.stage != "" {
			opts = append(opts, secretcache.WithVersionStage(q.stage))
		}
		if q.versionID != "" {
			opts = append(opts, secretcache.WithVersionID(q.versionID))
		}
	}
	var sec *secretcache.Secret
	var err error
	if q.refresh || !s.caching {
		sec, err = s.cache.Refresh(ctx, q.id, opts...)
		if err != nil && q.refresh && s.caching && s.serveStale && secretcache.IsTransient(err) && ctx.Err() == nil {
			// AWS is failing: a cached value beats an error.
			sec, err = s.cache.Get(ctx, q.id, opts...)
		}
	} else {
		sec, err = s.cache.Get(ctx, q.id, opts...)
	}
	if err != nil {
		s.writeError(w, r, q, err)
		return
	}
	key := q.id
	if opts != nil {
		key = refKey(secretcache.Ref{ID: q.id, VersionStage: q.stage, VersionID: q.versionID})
	}
	ans, kept := s.refs.answer(key, sec)
	if !kept {
		defer ans.wipe() // built for this request alone: its bytes go with it
	}
	b, length, ctype := ans.json, ans.length, ctJSON
	switch text := wantsText(r.Header["Accept"]); {
	case q.hasField:
		f, err := ans.field(q.id, q.field)
		if err != nil {
			s.writeError(w, r, q, err)
			return
		}
		if text {
			b, length, ctype = f.text.b, f.text.length, f.text.ctype
		} else {
			b, length = f.json.b, f.json.length
		}
	case text:
		t := ans.textBody()
		b, length, ctype = t.b, t.length, t.ctype
	}
	s.servedOK.Add(1)
	h := w.Header()
	h["Cache-Control"] = noStore
	h["Content-Type"] = ctype
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// wantsText reports whether the client asked for the bare value: its
// Accept header names text/plain and not JSON or a wildcard first.
func wantsText(accept []string) bool {
	if len(accept) == 0 {
		return false
	}
	for _, a := range accept {
		for part := range strings.SplitSeq(a, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "text/plain":
				return true
			case "application/json", "*/*", "application/*":
				return false
			}
		}
	}
	return false
}

func (s *api) writeError(w http.ResponseWriter, r *http.Request, q query, err error) {
	s.servedFailed.Add(1)
	e := classify(err)
	if s.log.Enabled(r.Context(), slog.LevelDebug) || e.status >= 500 {
		lvl := slog.LevelDebug
		if e.status >= 500 {
			lvl = slog.LevelWarn
		}
		s.log.Log(r.Context(), lvl, "secret request failed", "secret", clip.String(q.id, 256),
			"status", e.status, "code", e.code, "kind", secretcache.KindName(err))
	}
	body := agentjson.AppendError(make([]byte, 0, 128), e.code, e.message)
	h := w.Header()
	h["Content-Type"] = ctJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = ctText
	h["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// servePing answers a liveness check, on both listeners.
func servePing(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "healthy") }

// writeReady answers a readiness check, on both listeners: 200 once the
// start-up prefetch is done.
func writeReady(w http.ResponseWriter, ready bool) {
	if ready {
		writeText(w, http.StatusOK, "ready")
	} else {
		writeText(w, http.StatusServiceUnavailable, "not ready")
	}
}
