package smtest

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// Fault is a failure injected into the answers of one operation in one
// region (see SetFault). Several effects can be combined: Latency is applied
// first, then Reset, Blackhole, RatePerSecond and ErrorCode, in that order;
// a Fault with only Latency (or a RatePerSecond not exceeded) lets the
// request proceed normally after the delay, its answer passed through
// Rewrite if that is set.
type Fault struct {
	// Latency is added before answering. The wait ends early if the client
	// goes away or the server closes.
	Latency time.Duration
	// ErrorCode makes the server answer with this AWS error code instead
	// of running the operation, e.g. "ThrottlingException" (400),
	// "InternalServiceError" (500), "AccessDeniedException" (400),
	// "DecryptionFailure" (400), "ResourceNotFoundException" (400).
	ErrorCode string
	// Blackhole holds the request without answering until the client
	// gives up (its context ends or it closes the connection) or the server
	// closes.
	Blackhole bool
	// Reset closes the TCP connection abruptly (RST) without answering,
	// which the SDK sees as a network error.
	Reset bool
	// RatePerSecond, if > 0, answers ThrottlingException to the requests
	// that go above this rate (token bucket with a burst of
	// max(1, RatePerSecond)).
	RatePerSecond float64
	// Rewrite, if set, changes the answer of the operation before it is
	// sent, to test how a client copes with answers AWS would not give: a
	// GetSecretValue without SecretString, a BatchGetSecretValue entry for
	// a secret not asked for, a CreatedDate in 2099, and so on. It is
	// called with the operation name and the answer as decoded from its
	// JSON: members are map keys ("SecretString", "VersionStages", ...),
	// lists are []any, objects map[string]any, numbers json.Number (a date
	// is seconds since the epoch, binary values are base64 strings, as on
	// the wire). It may change the map in place (delete, set or add
	// members, including values of other types); the changed answer is
	// sent with HTTP 200. It runs only when the operation succeeded (never
	// for an error answer, nor when another effect of the fault answered),
	// outside the server's lock, possibly for several requests at once;
	// the server state is not changed by it. A request answered with an
	// error still uses up one of Count. A Rewrite that panics drops the
	// connection without an answer.
	Rewrite func(op string, answer map[string]any)
	// Count, if > 0, makes the fault apply to the next Count matching
	// requests only; then it clears itself.
	Count int
}

type faultState struct {
	f         Fault
	remaining int
	tokens    float64
	last      time.Time
}

// SetFault installs f for op in region, replacing any fault already set
// for exactly that pair. region "" matches every region and op "" every
// operation. When several faults match a request, the most specific one
// applies: (region, op), then (region, ""), then ("", op), then ("", "").
// Faults can be set and cleared while requests are running.
func (srv *Server) SetFault(region, op string, f Fault) {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	burst := f.RatePerSecond
	if burst < 1 {
		burst = 1
	}
	srv.faults[opKey{region, op}] = &faultState{f: f, remaining: f.Count, tokens: burst, last: time.Now()}
}

// ClearFault removes the fault set for exactly (region, op).
func (srv *Server) ClearFault(region, op string) {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	delete(srv.faults, opKey{region, op})
}

// ClearFaults removes every fault.
func (srv *Server) ClearFaults() {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	clear(srv.faults)
}

// takeFault finds the fault for a request, consumes one use of a Count
// fault and decides the rate limit. throttled reports that the rate was
// exceeded.
func (srv *Server) takeFault(region, op string) (f Fault, throttled, ok bool) {
	srv.fmu.Lock()
	defer srv.fmu.Unlock()
	var fs *faultState
	var key opKey
	for _, k := range []opKey{{region, op}, {region, ""}, {"", op}, {"", ""}} {
		if x := srv.faults[k]; x != nil {
			fs, key = x, k
			break
		}
	}
	if fs == nil {
		return Fault{}, false, false
	}
	if fs.f.Count > 0 {
		fs.remaining--
		if fs.remaining <= 0 {
			delete(srv.faults, key)
		}
	}
	if fs.f.RatePerSecond > 0 {
		now := time.Now()
		burst := max(fs.f.RatePerSecond, 1)
		fs.tokens = min(burst, fs.tokens+now.Sub(fs.last).Seconds()*fs.f.RatePerSecond)
		fs.last = now
		if fs.tokens >= 1 {
			fs.tokens--
		} else {
			throttled = true
		}
	}
	return fs.f, throttled, true
}

// applyFault applies the fault matching the request, if any. handled
// reports that the request was answered (or dropped) and must not run;
// rewrite is the fault's Rewrite, for the answer of a request that runs.
func (srv *Server) applyFault(w http.ResponseWriter, r *http.Request, region, op string) (status int, rewrite func(string, map[string]any), handled bool) {
	f, throttled, ok := srv.takeFault(region, op)
	if !ok {
		return 0, nil, false
	}
	ctx := r.Context()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			abort()
		case <-srv.closed:
			t.Stop()
			abort()
		}
	}
	if f.Reset {
		resetConn(w)
		return 0, nil, true
	}
	if f.Blackhole {
		select {
		case <-ctx.Done():
		case <-srv.closed:
		}
		abort()
	}
	if throttled {
		writeError(w, apiErr("ThrottlingException", "Rate exceeded"))
		return 400, nil, true
	}
	if f.ErrorCode != "" {
		e := apiErr(f.ErrorCode, "smtest: injected fault %s", f.ErrorCode)
		writeError(w, e)
		return e.status(), nil, true
	}
	return 0, f.Rewrite, false
}

// rewriteAnswer runs a Rewrite fault on out, the answer of op, through its
// JSON form. An answer that does not encode as a JSON object is left as is.
func rewriteAnswer(op string, out any, rewrite func(string, map[string]any)) any {
	b, err := json.Marshal(out)
	if err != nil {
		return out
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return out
	}
	rewrite(op, m)
	return m
}

// resetConn closes the client connection with a TCP RST: SO_LINGER 0 makes
// close discard unsent data and send a reset instead of a FIN.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		abort()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// abort ends the request without any answer: net/http closes the
// connection instead of writing a response.
func abort() { panic(http.ErrAbortHandler) }
