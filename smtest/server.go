package smtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsjson"
	"github.com/secretcache/secretcache/internal/clip"
)

const (
	// maxBodyBytes caps the size of a request body. AWS itself limits a
	// secret value to 65,536 bytes, so 1 MiB leaves room for any valid
	// request while keeping a misbehaving client from exhausting memory.
	maxBodyBytes = 1 << 20

	defaultRegion  = "us-east-1"
	defaultAccount = "123456789012"
	targetPrefix   = "secretsmanager."
)

// Server is an in-process fake of AWS Secrets Manager speaking the AWS JSON
// 1.1 protocol over HTTP. Create it with NewServer and stop it with Close.
// All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, e.g. http://127.0.0.1:43123.
	// Use it as the SDK's BaseEndpoint.
	URL string

	cfg    config
	ln     net.Listener
	http   *http.Server
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	// mu guards the secret state. It is never held while sleeping for a
	// fault, while running a RotationFunc or while calling change hooks.
	mu      sync.Mutex
	regions map[string]*regionState
	seq     uint64 // creation sequence, for stable ordering

	fmu    sync.Mutex // guards faults
	faults map[opKey]*faultState

	cmu   sync.Mutex // guards calls
	calls map[opKey]int

	hmu    sync.Mutex // guards hooks
	hooks  []hook
	hookID int

	rmu   sync.Mutex // guards rotFn
	rotFn RotationFunc
}

type opKey struct{ region, op string }

type hook struct {
	id int
	fn func(ChangeEvent)
}

type config struct {
	region  string
	account string
	logger  *slog.Logger
	now     func() time.Time
}

// Option configures a Server, as NewServer's arguments. It has the shape
// of every option in this module; none of this package's options fails.
type Option func(*config) error

// WithDefaultRegion sets the region used by the Go helpers when they are
// given region "" and by requests that carry no SigV4 Authorization header.
// The default is "us-east-1".
func WithDefaultRegion(region string) Option {
	return func(c *config) error { c.region = region; return nil }
}

// WithAccountID sets the account ID used in ARNs. The default is
// "123456789012".
func WithAccountID(id string) Option { return func(c *config) error { c.account = id; return nil } }

// WithLogger sets the logger for request logs (operation, region, status,
// duration; never secret values). The default discards logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// WithClock sets the clock used for CreatedDate, LastChangedDate,
// DeletionDate and similar timestamps: the module's one clock type, so that
// one fake clock can drive a cache and its fake. The default (and nil) is
// the wall clock.
func WithClock(clk secretcache.Clock) Option {
	return func(c *config) error {
		c.now = nil
		if clk != nil {
			c.now = clk.Now
		}
		return nil
	}
}

// NewServer starts a server on 127.0.0.1 on a free port. The server is ready
// to answer when NewServer returns. It panics only if it cannot listen (or
// if an option fails, which none of this package's does), so that a test
// starts one in a single expression.
func NewServer(opts ...Option) *Server {
	srv := &Server{
		cfg: config{
			region:  defaultRegion,
			account: defaultAccount,
			logger:  slog.New(slog.DiscardHandler),
			now:     time.Now,
		},
		closed:  make(chan struct{}),
		regions: make(map[string]*regionState),
		faults:  make(map[opKey]*faultState),
		calls:   make(map[opKey]int),
	}
	for _, o := range opts {
		if err := o(&srv.cfg); err != nil {
			panic("smtest: " + err.Error())
		}
	}
	if srv.cfg.region == "" {
		srv.cfg.region = defaultRegion
	}
	if srv.cfg.account == "" {
		srv.cfg.account = defaultAccount
	}
	if srv.cfg.logger == nil {
		srv.cfg.logger = slog.New(slog.DiscardHandler)
	}
	if srv.cfg.now == nil {
		srv.cfg.now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("smtest: cannot listen: " + err.Error())
	}
	srv.ln = ln
	srv.URL = "http://" + ln.Addr().String()
	srv.http = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		_ = srv.http.Serve(ln)
	}()
	return srv
}

// Close stops the server: it closes the listener and every open connection
// and releases requests held by Blackhole or Latency faults. It is safe to
// call more than once.
func (srv *Server) Close() {
	srv.once.Do(func() {
		close(srv.closed)
		_ = srv.http.Close()
		srv.wg.Wait()
	})
}

func (srv *Server) now() time.Time { return srv.cfg.now() }

func (srv *Server) resolveRegion(region string) string {
	if region == "" {
		return srv.cfg.region
	}
	return region
}

// ServeHTTP implements http.Handler, so the server can also be mounted in
// another mux or driven with httptest.NewRecorder.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("X-Amzn-Requestid", newUUID())
	if r.Method != http.MethodPost {
		writeError(w, &APIError{Code: "UnknownOperationException", Message: "smtest: only POST requests are supported", Status: http.StatusMethodNotAllowed})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	opName, ok := strings.CutPrefix(target, targetPrefix)
	handler := lookupOp(opName)
	if !ok || handler == nil {
		writeError(w, &APIError{Code: "UnknownOperationException", Message: "The operation " + quoteOp(target) + " is not recognized by Secrets Manager.", Status: 400})
		return
	}
	region := regionFromRequest(r)
	if region == "" {
		// Unsigned request: answer for the default region.
		region = srv.cfg.region
	}
	srv.countCall(region, opName)

	// Read the whole body first: net/http only notices a client that
	// goes away (and cancels r.Context) once the body was read to EOF.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, &APIError{Code: "RequestEntityTooLargeException", Message: "Request body is larger than the 1 MiB smtest limit.", Status: http.StatusRequestEntityTooLarge})
		} else {
			writeError(w, &APIError{Code: "SerializationException", Message: "Could not read the request body.", Status: 400})
		}
		return
	}

	status, rewrite, handled := srv.applyFault(w, r, region, opName)
	if handled {
		srv.logRequest(r.Context(), opName, region, status, start)
		return
	}

	out, evs, err := handler(srv, r.Context(), region, body)
	srv.emit(evs)
	if err != nil {
		ae := asAPIError(err)
		writeError(w, ae)
		srv.logRequest(r.Context(), opName, region, ae.Status, start)
		return
	}
	if rewrite != nil {
		out = rewriteAnswer(opName, out, rewrite)
	}
	writeJSON(w, http.StatusOK, out)
	srv.logRequest(r.Context(), opName, region, http.StatusOK, start)
}

func quoteOp(target string) string {
	b, _ := json.Marshal(clip.Cut(target, 100))
	return string(b)
}

func (srv *Server) logRequest(ctx context.Context, op, region string, status int, start time.Time) {
	srv.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "smtest request",
		slog.String("op", op), slog.String("region", region),
		slog.Int("status", status), slog.Duration("duration", time.Since(start)))
}

// regionFromRequest reads the region of a signed request (see
// awsjson.RegionFromRequest).
func regionFromRequest(r *http.Request) string { return awsjson.RegionFromRequest(r) }

func writeJSON(w http.ResponseWriter, status int, v any) { awsjson.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, e *APIError) {
	status := e.Status
	if status == 0 {
		status = statusForCode(e.Code)
	}
	awsjson.WriteError(w, status, e.Code, e.Message)
}

// Calls reports how many requests the server received for op in region
// (region "" = all regions, op "" = all operations), counting requests
// answered with an error or a fault too. The Go helpers are not counted.
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

func (srv *Server) countCall(region, op string) {
	srv.cmu.Lock()
	srv.calls[opKey{region, op}]++
	srv.cmu.Unlock()
}

// ChangeEvent describes one write to the state. Region is the region whose
// view changed (a write to a primary secret also produces one event for each
// of its replica regions), Op the API operation ("CreateSecret",
// "PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage",
// "DeleteSecret", "RestoreSecret", "ReplicateSecretToRegions",
// "RemoveRegionsFromReplication", "RotateSecret", "TagResource",
// "UntagResource", ...). VersionID and Stages describe the version the write
// created or relabelled, if any, after the write.
type ChangeEvent struct {
	Region, Op, Name, ARN, VersionID string
	Stages                           []string
}

// OnChange registers fn to be called after every write, from the goroutine
// that made the write, without any server lock held (fn may call the
// server). It returns a function that unregisters fn.
func (srv *Server) OnChange(fn func(ChangeEvent)) (remove func()) {
	srv.hmu.Lock()
	defer srv.hmu.Unlock()
	srv.hookID++
	id := srv.hookID
	srv.hooks = append(srv.hooks, hook{id: id, fn: fn})
	return func() {
		srv.hmu.Lock()
		defer srv.hmu.Unlock()
		for i, h := range srv.hooks {
			if h.id == id {
				srv.hooks = append(srv.hooks[:i:i], srv.hooks[i+1:]...)
				return
			}
		}
	}
}

func (srv *Server) emit(evs []ChangeEvent) {
	if len(evs) == 0 {
		return
	}
	srv.hmu.Lock()
	hooks := append([]hook(nil), srv.hooks...)
	srv.hmu.Unlock()
	for _, ev := range evs {
		for _, h := range hooks {
			h.fn(ev)
		}
	}
}
