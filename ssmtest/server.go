package ssmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/secretcache/secretcache/internal/awsjson"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/smtest"
)

const (
	maxBodyBytes   = 1 << 20
	defaultRegion  = "us-east-1"
	defaultAccount = "123456789012"
	targetPrefix   = "AmazonSSM."
)

// Server is the fake. Create it with NewServer, stop it with Close. All
// methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, for the SDK's BaseEndpoint.
	URL string

	cfg  config
	ln   net.Listener
	http *http.Server

	mu      sync.Mutex
	regions map[string]map[string]*param // region -> name -> parameter

	fmu    sync.Mutex
	faults map[opKey]*faultState

	cmu   sync.Mutex
	calls map[opKey]int
}

type opKey struct{ region, op string }

type config struct {
	region  string
	account string
	logger  *slog.Logger
	sm      *smtest.Server
	now     func() time.Time
}

// Option configures a Server; none fails.
type Option func(*config) error

// WithDefaultRegion sets the region of unsigned requests and of helpers
// given region "" (default "us-east-1").
func WithDefaultRegion(region string) Option {
	return func(c *config) error { c.region = region; return nil }
}

// WithLogger sets the logger for request logs (operation, region, status;
// never values). The default discards them.
func WithLogger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// WithSecretsManager links sm: GetParameter and GetParameters then answer
// /aws/reference/secretsmanager/ID names from sm's secret ID (by name or
// ARN, AWSCURRENT or the stage named by a :LABEL selector), in the same
// region. Without it such names are not found.
func WithSecretsManager(sm *smtest.Server) Option {
	return func(c *config) error { c.sm = sm; return nil }
}

// NewServer starts a server on 127.0.0.1 on a free port, ready when it
// returns. It panics only if it cannot listen.
func NewServer(opts ...Option) *Server {
	srv := &Server{
		cfg:     config{region: defaultRegion, account: defaultAccount, now: time.Now},
		regions: map[string]map[string]*param{},
		faults:  map[opKey]*faultState{},
		calls:   map[opKey]int{},
	}
	for _, o := range opts {
		_ = o(&srv.cfg)
	}
	if srv.cfg.region == "" {
		srv.cfg.region = defaultRegion
	}
	if srv.cfg.logger == nil {
		srv.cfg.logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("ssmtest: cannot listen: " + err.Error())
	}
	srv.ln = ln
	srv.URL = "http://" + ln.Addr().String()
	srv.http = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.http.Serve(ln) }()
	return srv
}

// Close stops the server and closes every connection. It is safe to call
// more than once.
func (srv *Server) Close() { _ = srv.http.Close() }

func (srv *Server) resolveRegion(region string) string {
	if region == "" {
		return srv.cfg.region
	}
	return region
}

// AWSConfig returns an SDK configuration for this server: region ("" = the
// default), static credentials, BaseEndpoint = URL and a fast standard
// retryer (3 attempts, backoffs of at most 20 ms, no retry quota).
func (srv *Server) AWSConfig(region string) aws.Config {
	return awsjson.ClientConfig(srv.resolveRegion(region), srv.URL)
}

// Client returns an SSM client for this server in region ("" = the default).
func (srv *Server) Client(region string) *ssm.Client { return ssm.NewFromConfig(srv.AWSConfig(region)) }

// apiError is an AWS error answer.
type apiError struct {
	code, msg string
	status    int
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(code, msg string) *apiError { return &apiError{code: code, msg: msg, status: statusOf(code)} }

func statusOf(code string) int {
	switch code {
	case "InternalServerError", "InternalFailure":
		return 500
	case "ServiceUnavailable":
		return 503
	}
	return 400
}

// ServeHTTP implements http.Handler.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", requestID())
	if r.Method != http.MethodPost {
		awsjson.WriteError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "ssmtest: only POST requests are supported")
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	op := ops[name]
	if !ok || op == nil {
		q, _ := json.Marshal(clip.Cut(target, 100))
		awsjson.WriteError(w, 400, "UnknownOperationException", "The operation "+string(q)+" is not recognized by ssmtest.")
		return
	}
	region := awsjson.RegionFromRequest(r)
	if region == "" {
		region = srv.cfg.region
	}
	srv.cmu.Lock()
	srv.calls[opKey{region, name}]++
	srv.cmu.Unlock()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		awsjson.WriteError(w, 413, "RequestEntityTooLargeException", "Request body is larger than the 1 MiB ssmtest limit.")
		return
	}
	if f := srv.takeFault(region, name); f != nil {
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if f.ErrorCode != "" {
			awsjson.WriteError(w, statusOf(f.ErrorCode), f.ErrorCode, "ssmtest: injected fault")
			srv.log(r, name, region, statusOf(f.ErrorCode))
			return
		}
	}
	out, err := op(srv, region, body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errf("InternalServerError", "ssmtest: "+err.Error())
		}
		awsjson.WriteError(w, ae.status, ae.code, ae.msg)
		srv.log(r, name, region, ae.status)
		return
	}
	awsjson.WriteJSON(w, 200, out)
	srv.log(r, name, region, 200)
}

func (srv *Server) log(r *http.Request, op, region string, status int) {
	srv.cfg.logger.LogAttrs(r.Context(), slog.LevelDebug, "ssmtest request",
		slog.String("op", op), slog.String("region", region), slog.Int("status", status))
}

var reqSeq struct {
	sync.Mutex
	n int
}

func requestID() string {
	reqSeq.Lock()
	reqSeq.n++
	n := reqSeq.n
	reqSeq.Unlock()
	return "ssmtest-" + strconv.Itoa(n)
}

// decode reads a JSON object body into in; anything else is a
// SerializationException, as AWS answers.
func decode(body []byte, in any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' || json.Unmarshal(body, in) != nil {
		return errf("SerializationException", "The request body is not a JSON object of the operation's input.")
	}
	return nil
}

// Fault is a failure injected into the answers of one operation in one
// region (see SetFault): Latency is waited first (until the client goes
// away), then ErrorCode, if set, is answered instead of running the
// operation (ThrottlingException 400, InternalServerError 500, ...).
type Fault struct {
	Latency   time.Duration
	ErrorCode string
	// Count, if > 0, applies the fault to the next Count requests only.
	Count int
}

type faultState struct {
	f         Fault
	remaining int
}

// SetFault installs f for op in region (region "" every region, op ""
// every operation), replacing the fault of that pair. The most specific
// fault applies.
func (srv *Server) SetFault(region, op string, f Fault) {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	srv.faults[opKey{region, op}] = &faultState{f: f, remaining: f.Count}
}

// ClearFaults removes every fault.
func (srv *Server) ClearFaults() {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	clear(srv.faults)
}

func (srv *Server) takeFault(region, op string) *Fault {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	for _, k := range []opKey{{region, op}, {region, ""}, {"", op}, {"", ""}} {
		st, ok := srv.faults[k]
		if !ok {
			continue
		}
		f := st.f
		if st.remaining > 0 {
			st.remaining--
			if st.remaining == 0 {
				delete(srv.faults, k)
			}
		}
		return &f
	}
	return nil
}

// Calls reports how many requests the server received for op in region
// (region "" all regions, op "" all operations), faults included.
func (srv *Server) Calls(region, op string) int {
	srv.cmu.Lock()
	defer srv.cmu.Unlock()
	n := 0
	for k, v := range srv.calls {
		if (region == "" || k.region == region) && (op == "" || k.op == op) {
			n += v
		}
	}
	return n
}

// ResetCalls sets every counter back to zero.
func (srv *Server) ResetCalls() {
	srv.cmu.Lock()
	defer srv.cmu.Unlock()
	clear(srv.calls)
}
