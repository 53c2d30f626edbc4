package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/agentjson"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/monitor"
	"github.com/secretcache/secretcache/ssmparam"
)

// The Parameter Store side of the agent: the Lambda extension's
// GET /systemsmanager/parameters/get, over two caches of ssmparam sources of
// their own (one reading with decryption, one without), with their own TTL,
// prefetch, counters, health component and status section. The secrets
// cache and its source are not involved: the core stays one backend per
// cache, and a secret and a parameter of the same name never meet.

// paramPath is the Lambda extension's Parameter Store endpoint.
const paramPath = "/systemsmanager/parameters/get"

// Limits of [parameters].
const (
	maxParamTTL       = 3600 // parameters.ttl_seconds (the Lambda variable: 300)
	maxParamPrefetch  = 10000
	maxParamPaths     = 100
	defaultParamTTL   = 300
	lambdaMaxParamTTL = 300
)

// ParametersConfig is the [parameters] table: the Parameter Store endpoint.
type ParametersConfig struct {
	Enabled       bool     `toml:"enabled"`        // serve /systemsmanager/parameters/get (default true)
	TTLSeconds    int      `toml:"ttl_seconds"`    // 0-3600, default 300; 0 turns caching of parameters off
	TimeoutMS     int      `toml:"timeout_ms"`     // bound of one Parameter Store call; 0: fetch_timeout_ms
	Prefetch      []string `toml:"prefetch"`       // parameter names read at start
	PrefetchPaths []string `toml:"prefetch_paths"` // paths whose parameters (recursively) are read at start
}

// defaultParameters is the [parameters] of DefaultConfig.
func defaultParameters() ParametersConfig {
	return ParametersConfig{Enabled: true, TTLSeconds: defaultParamTTL}
}

// paramKeys are the keys of [parameters], named "parameters.KEY" in errors.
var paramKeys = []key{
	{"enabled", boolKey(func(c *Config) *bool { return &c.Parameters.Enabled })},
	{"ttl_seconds", intKey(func(c *Config) *int { return &c.Parameters.TTLSeconds }, 0, maxParamTTL)},
	{"timeout_ms", intKey(func(c *Config) *int { return &c.Parameters.TimeoutMS }, 0, 300000)},
	{"prefetch", listKey(func(c *Config) *[]string { return &c.Parameters.Prefetch }, maxParamPrefetch,
		listItem{validParamName, "parameter names (letters, digits and ._-/, an ARN, or " + ssmparam.ReferencePrefix + "ID)"})},
	{"prefetch_paths", listKey(func(c *Config) *[]string { return &c.Parameters.PrefetchPaths }, maxParamPaths,
		listItem{validParamPath, "parameter paths beginning with / (letters, digits and ._-/)"})},
}

// parametersKey is the rule of the [parameters] table.
var parametersKey = rule{
	set: func(c *Config, name string, v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return badValue(name, v, "must be a table [parameters]")
		}
		for sub, sv := range m {
			full := "parameters." + clip.String(sub, 64)
			k, ok := findIn(paramKeys, sub)
			if !ok {
				return &ConfigError{Key: full, Allowed: "unknown key of [parameters]; known: enabled, ttl_seconds, timeout_ms, prefetch, prefetch_paths"}
			}
			if err := k.set(c, full, sv); err != nil {
				return err
			}
		}
		return nil
	},
	check: func(c *Config, _ string) error { return c.checkParameters() },
}

func validParamName(s string) bool {
	return ssmparam.CheckName(s) == nil
}

func validParamPath(s string) bool { return ssmparam.CheckPath(s) == nil }

// checkParameters checks [parameters] as set on the Config directly.
func (c *Config) checkParameters() error {
	p := c.Parameters
	for _, k := range paramKeys[1:3] {
		if k.check != nil {
			if err := k.check(c, "parameters."+k.name); err != nil {
				return err
			}
		}
	}
	for _, n := range p.Prefetch {
		if !validParamName(n) {
			return badValue("parameters.prefetch", n, "must be parameter names (letters, digits and ._-/, an ARN, or "+ssmparam.ReferencePrefix+"ID)")
		}
	}
	for _, n := range p.PrefetchPaths {
		if !validParamPath(n) {
			return badValue("parameters.prefetch_paths", n, "must be parameter paths beginning with / (letters, digits and ._-/)")
		}
	}
	return nil
}

// WithParameterAWSConfig sets the AWS SDK configuration the Parameter Store
// source is built from (a test's or --dev's fake, another account). Without
// it the agent uses the configuration of its Secrets Manager source (or
// WithAWSConfig's); with WithSource and neither, the parameters endpoint is
// off (404). The region settings of the Config still apply.
func WithParameterAWSConfig(cfg aws.Config) Option {
	return func(o *options) error { o.paramAWS = &cfg; return nil }
}

// params is the agent's Parameter Store side.
type params struct {
	decrypted, plain *secretcache.Cache // withDecryption=true / false
	src, plainSrc    *ssmparam.Source   // their sources, for their breakers
	// secure holds the names seen to be SecureStrings (or to need KMS),
	// which a withDecryption=false read takes from plain directly. It
	// grows with the names asked for, as the caches do (bounded by them in
	// practice: names are checked before they get here).
	secure     sync.Map
	caching    bool
	timeout    time.Duration
	ok, failed atomic.Uint64

	mu       sync.Mutex
	prefetch PrefetchStatus
}

// ParameterStatus is the status page's Parameter Store section.
type ParameterStatus struct {
	Caching  bool                       `json:"caching"`
	TTL      time.Duration              `json:"ttl_ns"`
	OK       uint64                     `json:"ok"`     // parameters served
	Failed   uint64                     `json:"failed"` // parameter reads answered with an error
	Stats    secretcache.Stats          `json:"cache"`  // the decrypting cache's
	Cached   []string                   `json:"cached"` // parameter names cached (no values)
	Breakers []secretcache.BreakerState `json:"breakers,omitempty"`
	Prefetch PrefetchStatus             `json:"prefetch"`
}

// setupParameters builds the Parameter Store side when [parameters] is
// enabled and there is an AWS configuration to build it on.
func (a *Agent) setupParameters(o *options) error {
	pc := a.cfg.Parameters
	var base *aws.Config
	switch {
	case o.paramAWS != nil:
		base = o.paramAWS
	case a.start.AWS != nil && a.start.AWS.base != nil:
		base = a.start.AWS.base
	case o.awsCfg != nil:
		base = o.awsCfg
	}
	if !pc.Enabled || base == nil {
		return nil
	}
	timeout := time.Duration(pc.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Duration(a.cfg.FetchTimeoutMS) * time.Millisecond
	}
	p := &params{caching: a.cfg.CacheEnabled && pc.TTLSeconds > 0, timeout: timeout}
	ttl := time.Duration(pc.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = time.Second // caching is off: reads go through Refresh
	}
	for _, decrypt := range []bool{true, false} {
		// No call observer: the monitor's success rate and latency are the
		// secrets'; the parameters' health is their breakers and prefetch.
		opts := []ssmparam.Option{ssmparam.WithLogger(a.log), ssmparam.WithTimeout(timeout)}
		if timeout < ssmparam.DefaultAttemptTimeout {
			opts = append(opts, ssmparam.WithAttemptTimeout(timeout))
		}
		// The primary region only: Parameter Store does not replicate, and a
		// parameter of the same name in a failover region of the secrets is
		// another parameter (often that region's own configuration).
		if len(a.cfg.Regions) > 0 {
			opts = append(opts, ssmparam.WithRegions(a.cfg.Regions[0]))
		}
		if !decrypt {
			opts = append(opts, ssmparam.WithoutDecryption())
		}
		cfg := base.Copy()
		if r := a.cfg.PrimaryRegion(); r != "" {
			cfg.Region = r
		}
		src, err := ssmparam.New(cfg, opts...)
		if err != nil {
			return fmt.Errorf("agent: parameters: %w", err)
		}
		maxStale := time.Duration(a.cfg.MaxStaleSeconds) * time.Second // as the secrets'
		if !a.cfg.IgnoreTransientErrors {
			maxStale = 0
		}
		cache, err := secretcache.New(src, secretcache.WithTTL(ttl), secretcache.WithMaxEntries(a.cfg.CacheSize),
			secretcache.WithMaxStale(maxStale),
			secretcache.WithRefreshAhead(a.cfg.RefreshAhead), secretcache.WithFetchTimeout(timeout),
			secretcache.WithLogger(a.log))
		if err != nil {
			return fmt.Errorf("agent: parameters: %w", err)
		}
		a.closers = append(a.closers, func() { _ = cache.Close() })
		if decrypt {
			p.decrypted, p.src = cache, src
		} else {
			p.plain, p.plainSrc = cache, src
		}
	}
	a.params = p
	a.api.params = p
	a.mon.RegisterComponent("parameters", p.health)
	return nil
}

// prefetchParameters reads [parameters] prefetch and the names under
// prefetch_paths into the decrypting cache, in batches of 10, retrying
// transient failures as the secrets' prefetch does.
func (a *Agent) prefetchParameters(ctx context.Context) {
	p := a.params
	pc := a.cfg.Parameters
	if p == nil || !p.caching || (len(pc.Prefetch) == 0 && len(pc.PrefetchPaths) == 0) {
		return
	}
	st := PrefetchStatus{Started: time.Now()}
	names := slices.Clone(pc.Prefetch)
	for _, path := range pc.PrefetchPaths {
		got, err := p.src.ListNames(ctx, path)
		if err != nil {
			st.Error = "listing " + clip.String(path, 128) + ": " + secretcache.KindName(err)
			a.log.Warn("parameters: prefetch path failed", "path", clip.String(path, 256), "kind", secretcache.KindName(err))
			continue
		}
		names = append(names, got...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > a.cfg.CacheSize {
		names = names[:a.cfg.CacheSize]
	}
	st.IDs = len(names)
	todo := names
	failed := map[string]error{}
	for round := 0; round < prefetchRounds && len(todo) > 0; round++ {
		if round > 0 && !sleep(ctx, retryWait<<(round-1)) {
			break
		}
		st.Attempts++
		err := p.decrypted.Warm(ctx, todo...)
		cached := map[string]bool{}
		for e := range p.decrypted.Entries() {
			cached[e.Ref.ID] = true
		}
		var next []string
		for _, n := range todo {
			if cached[n] {
				delete(failed, n)
				continue
			}
			failed[n] = err
			if err == nil || secretcache.IsTransient(secretcache.KindOf(errFor(err, n))) {
				next = append(next, n)
			}
		}
		todo = next
	}
	st.Fetched = len(names) - len(failed)
	for n, err := range failed {
		if st.Failed == nil {
			st.Failed = map[string]string{}
		}
		if len(st.Failed) < 100 {
			st.Failed[n] = secretcache.KindName(errFor(err, n))
		}
	}
	st.Finished = time.Now()
	p.mu.Lock()
	p.prefetch = st
	p.mu.Unlock()
	if len(failed) > 0 {
		a.log.Warn("parameters: prefetch incomplete", "fetched", st.Fetched, "failed", len(failed))
	}
}

// errFor finds the error of name among Warm's joined errors (each an
// *secretcache.Error naming its id).
func errFor(err error, name string) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			var se *secretcache.Error
			if errors.As(e, &se) && se.ID == name {
				return e
			}
		}
	}
	return err
}

func (p *params) health(context.Context) monitor.ComponentHealth {
	p.mu.Lock()
	pf := p.prefetch
	p.mu.Unlock()
	st := monitor.ComponentHealth{Status: monitor.StatusHealthy, Details: map[string]any{
		"ok": p.ok.Load(), "failed": p.failed.Load(), "cached": p.decrypted.Stats().Entries,
	}}
	var open []string
	for _, b := range p.breakers() {
		if b.State != "closed" {
			open = append(open, b.Name+" "+b.State)
		}
	}
	switch {
	case len(open) > 0:
		st.Status, st.Message = monitor.StatusDegraded, "Parameter Store breaker not closed: "+strings.Join(open, ", ")
	case pf.Error != "":
		st.Status, st.Message = monitor.StatusDegraded, "parameters prefetch: "+pf.Error
	case len(pf.Failed) > 0:
		st.Status, st.Message = monitor.StatusDegraded, fmt.Sprintf("parameters prefetch: %d parameters not fetched", len(pf.Failed))
	}
	return st
}

// breakers are those of both sources (decrypting and not), each named so.
func (p *params) breakers() []secretcache.BreakerState {
	var out []secretcache.BreakerState
	for _, src := range []struct {
		s    *ssmparam.Source
		kind string
	}{{p.src, ""}, {p.plainSrc, " (without decryption)"}} {
		if src.s == nil {
			continue
		}
		for _, b := range src.s.Breakers() {
			b.Name += src.kind
			out = append(out, b)
		}
	}
	return out
}

// parameterStatus is the status page's section, nil when the endpoint is off.
func (a *Agent) parameterStatus() *ParameterStatus {
	p := a.params
	if p == nil {
		return nil
	}
	st := &ParameterStatus{Caching: p.caching, TTL: time.Duration(a.cfg.Parameters.TTLSeconds) * time.Second,
		OK: p.ok.Load(), Failed: p.failed.Load(), Stats: p.decrypted.Stats(), Breakers: p.breakers()}
	for e := range p.decrypted.Entries() {
		st.Cached = append(st.Cached, e.Ref.String())
	}
	slices.Sort(st.Cached)
	p.mu.Lock()
	st.Prefetch = p.prefetch
	p.mu.Unlock()
	return st
}

// parameterCollectors are the Parameter Store metrics, apart from the
// secrets': requests by result and the parameters cached.
func (a *Agent) parameterCollectors() []prometheus.Collector {
	p := a.params
	if p == nil {
		return nil
	}
	req := func(result string, n *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: monitor.DefaultNamespace, Subsystem: "agent", Name: "parameter_requests_total",
			Help: "Parameter Store requests answered by the agent, by result.", ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(n.Load()) })
	}
	return []prometheus.Collector{req("ok", &p.ok), req("error", &p.failed),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: monitor.DefaultNamespace, Subsystem: "agent",
			Name: "parameters_cached", Help: "Parameter versions in the agent's Parameter Store cache (with decryption)."},
			func() float64 { return float64(p.decrypted.Stats().Entries) }),
	}
}

// paramQuery is a parsed parameter request.
type paramQuery struct {
	name, version, label string
	decrypt              bool
	field                string
	hasField             bool
}

// parseParamQuery parses the query as parseQuery does the secrets' (pairs
// on '&', form-decoded, the last repeated parameter wins, an unknown one is
// an error): name (required), version (a positive number) or label,
// withDecryption (true/false, default false as in the extension), field.
func parseParamQuery(raw string) (q paramQuery, msg string) {
	msg = eachParam(raw, func(k, v string) string {
		switch k {
		case "name":
			q.name = v
		case "version":
			q.version = v
		case "label":
			q.label = v
		case "withDecryption":
			b, ok := boolParam(v)
			if !ok {
				return "invalid withDecryption value: want true or false"
			}
			q.decrypt = b
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
	switch {
	case q.name == "":
		return q, "missing parameter name"
	case q.version != "" && q.label != "":
		return q, "give version or label, not both"
	case q.version != "":
		if n, err := strconv.ParseInt(q.version, 10, 64); err != nil || n < 1 || strconv.FormatInt(n, 10) != q.version {
			return q, "invalid version value: want a positive number"
		}
	}
	return q, ""
}

// serveParameter answers GET /systemsmanager/parameters/get?name=...: the
// extension's {"Parameter": {...}, "ResultMetadata": {}}. A parameter is
// read through the decrypting cache; a SecureString asked for without
// decryption is read again through the other cache, so that its ciphertext
// is served as the extension serves it (and a String parameter is cached
// once for both), and from then on straight from the other cache. When the
// decrypting read is refused (no kms:Decrypt) the plain cache answers.
func (s *api) serveParameter(w http.ResponseWriter, r *http.Request) {
	p := s.params
	if p == nil {
		writeText(w, http.StatusNotFound, msgNotFound)
		return
	}
	q, msg := parseParamQuery(r.URL.RawQuery)
	if msg != "" {
		p.failed.Add(1) // counted as the extension's other 400s are
		writeText(w, http.StatusBadRequest, msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(s.timeout, p.timeout+time.Second))
	defer cancel()
	var opts []secretcache.GetOption
	switch {
	case q.version != "":
		opts = append(opts, secretcache.WithVersionID(q.version))
	case q.label != "":
		opts = append(opts, secretcache.WithVersionStage(q.label))
	}
	read := func(c *secretcache.Cache) (*secretcache.Secret, error) {
		if !p.caching {
			return c.Refresh(ctx, q.name, opts...)
		}
		return c.Get(ctx, q.name, opts...)
	}
	// A String parameter is cached once, in the decrypting cache, for both
	// withDecryption values. A name known to be a SecureString is read
	// without decryption straight from the plain cache when the caller
	// asks for none: no second call and no KMS Decrypt each TTL.
	var sec *secretcache.Secret
	var err error
	if _, secure := p.secure.Load(q.name); secure && !q.decrypt {
		sec, err = read(p.plain)
	} else {
		sec, err = read(p.decrypted)
		var typ string
		if err == nil {
			typ, _ = ssmparam.TypeOf(sec.VersionStages)
		}
		switch {
		case err == nil && typ == "SecureString" && !q.decrypt:
			p.secure.Store(q.name, true)
			sec, err = read(p.plain)
		case err != nil && !q.decrypt && (errors.Is(err, secretcache.ErrDecryption) || errors.Is(err, secretcache.ErrAccessDenied)):
			p.secure.Store(q.name, true) // without kms:Decrypt: read it plain from now on
			sec, err = read(p.plain)
		}
	}
	if err != nil {
		s.writeParamError(w, r, q, err)
		return
	}
	value := sec.String
	if q.hasField {
		if value, err = jsonField(sec.String, q.field); err != nil {
			s.writeParamError(w, r, q, err)
			return
		}
	}
	body, err := paramBody(sec, q, value)
	if err != nil {
		s.writeParamError(w, r, q, err)
		return
	}
	p.ok.Add(1)
	h := w.Header()
	h["Cache-Control"] = noStore
	h["Content-Type"] = ctJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// jsonField returns one top-level key of a JSON-object value, a string
// member as its text and any other as its JSON (as the secrets' field=).
func jsonField(value, key string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &m); err != nil || m == nil {
		return "", &secretcache.Error{Op: "get", Kind: secretcache.ErrNotJSON}
	}
	raw, ok := m[key]
	if !ok {
		return "", &secretcache.Error{Op: "get", Kind: secretcache.ErrKeyMissing}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	return string(raw), nil
}

// paramAnswer is the extension's 200 body.
type paramAnswer struct {
	Parameter struct {
		ARN              string  `json:"ARN"`
		DataType         string  `json:"DataType"`
		LastModifiedDate string  `json:"LastModifiedDate"`
		Name             string  `json:"Name"`
		Selector         *string `json:"Selector"`
		SourceResult     *string `json:"SourceResult"`
		Type             string  `json:"Type"`
		Value            string  `json:"Value"`
		Version          int64   `json:"Version"`
	} `json:"Parameter"`
	ResultMetadata struct{} `json:"ResultMetadata"`
}

func paramBody(sec *secretcache.Secret, q paramQuery, value string) ([]byte, error) {
	var a paramAnswer
	pa := &a.Parameter
	pa.ARN, pa.Name, pa.Value = sec.ARN, sec.Name, value
	pa.Type, pa.DataType = ssmparam.TypeOf(sec.VersionStages)
	if !sec.CreatedDate.IsZero() {
		pa.LastModifiedDate = sec.CreatedDate.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if sec.VersionID != "" {
		v, err := strconv.ParseInt(sec.VersionID, 10, 64)
		if err != nil {
			return nil, &secretcache.Error{Op: "get", Kind: secretcache.ErrMismatch, Err: errors.New("parameter version is not a number")}
		}
		pa.Version = v
	}
	switch {
	case q.version != "":
		sel := ":" + q.version
		pa.Selector = &sel
	case q.label != "":
		sel := ":" + q.label
		pa.Selector = &sel
	default: // a selector in the name (name=/app/flag:3), as AWS shows it
		if sel := ssmparam.SelectorOf(q.name); sel != "" {
			pa.Selector = &sel
		}
	}
	return json.Marshal(&a)
}

// writeParamError answers a failed parameter read as the secrets' reads
// are (the AWS code, message and status; 502/504 for the network), with
// Parameter Store's codes where the cause is not an AWS answer.
func (s *api) writeParamError(w http.ResponseWriter, r *http.Request, q paramQuery, err error) {
	s.params.failed.Add(1)
	e := classify(err)
	if pe, ok := paramKindAnswers[e.code]; ok {
		var ae interface{ ErrorCode() string }
		if !errors.As(err, &ae) { // not Parameter Store's own answer
			e = pe
		}
	}
	if e.status >= 500 {
		s.log.Warn("parameter request failed", "parameter", clip.String(q.name, 256),
			"status", e.status, "code", e.code, "kind", secretcache.KindName(err))
	}
	body := agentjson.AppendError(make([]byte, 0, 128), e.code, e.message)
	h := w.Header()
	h["Content-Type"] = ctJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// paramKindAnswers replace the Secrets Manager codes of kindAnswers with
// Parameter Store's for the parameters endpoint.
var paramKindAnswers = map[string]httpError{
	"ResourceNotFoundException": {400, "ParameterNotFound", "Parameter Store can't find the specified parameter."},
	"DecryptionFailure":         {400, "InvalidKeyId", "The parameter can't be decrypted with its KMS key."},
	CodeFieldNotFound:           {400, CodeFieldNotFound, "The parameter value has no such top-level JSON key."},
	CodeSecretNotJSON:           {400, "ParameterNotJSONException", "The parameter value is not a JSON object."},
	"AccessDeniedException":     {400, "AccessDeniedException", "Access to the parameter is denied."},
}
