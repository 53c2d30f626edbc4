package agent

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
	"github.com/secretcache/secretcache/monitor"
)

// Status is what the status page shows: the agent, the cache counters, and
// every cached secret version with its metadata and read counts. It never
// holds a secret value.
type Status struct {
	Version   string                     `json:"version"`
	Ready     bool                       `json:"ready"`
	Started   time.Time                  `json:"started"`
	Uptime    time.Duration              `json:"uptime_ns"`
	Addr      string                     `json:"addr,omitempty"`
	AdminAddr string                     `json:"admin_addr,omitempty"`
	Caching   bool                       `json:"caching"`
	TTL       time.Duration              `json:"ttl_ns"`
	Requests  RequestCounts              `json:"requests"`
	Stats     secretcache.Stats          `json:"cache"`
	Entries   []StatusEntry              `json:"entries"`
	Breakers  []secretcache.BreakerState `json:"breakers,omitempty"`
	Prefetch  PrefetchStatus             `json:"prefetch"`
	Params    *ParameterStatus           `json:"parameters,omitempty"` // the Parameter Store endpoint, apart (parameters.go)
	Links     []string                   `json:"-"`                    // other admin endpoints, for the page
}

// RequestCounts counts the API's answers since start.
type RequestCounts struct {
	OK          uint64            `json:"ok"`           // secrets served
	Failed      uint64            `json:"failed"`       // secret reads answered with an error
	Rejected    uint64            `json:"rejected"`     // 429: over max_conn requests in progress
	BadToken    uint64            `json:"bad_token"`    // 403: missing or wrong token
	Misdirected uint64            `json:"misdirected"`  // 421: a Host the agent does not answer to
	InFlight    int64             `json:"in_flight"`    // requests in progress now
	OpenConns   int64             `json:"open_conns"`   // client connections open now
	ConnsClosed map[string]uint64 `json:"conns_closed"` // connections the agent closed, by reason
}

// StatusEntry is one cached secret version.
type StatusEntry struct {
	ID           string        `json:"id"`                      // as asked for: name or ARN
	VersionStage string        `json:"version_stage,omitempty"` // as asked for
	VersionID    string        `json:"version_id,omitempty"`    // as asked for
	Name         string        `json:"name"`
	ARN          string        `json:"arn"`
	Version      string        `json:"version"` // VersionId of the cached value
	Stages       []string      `json:"stages"`  // its stages when fetched
	Created      time.Time     `json:"created,omitzero"`
	Age          time.Duration `json:"age_ns"`
	TTL          time.Duration `json:"ttl_ns"`        // 0 for a pinned version id
	ExpiresIn    time.Duration `json:"expires_in_ns"` // negative once stale
	Stale        bool          `json:"stale"`         // past its TTL
	Failures     int           `json:"failures"`      // consecutive failed refreshes
	LastError    string        `json:"last_error"`    // kind of the last failure
	Refreshing   bool          `json:"refreshing"`    // a refresh is under way
	Hits         uint64        `json:"hits"`          // fresh reads from cache
	StaleHits    uint64        `json:"stale_hits"`    // reads served stale
	Misses       uint64        `json:"misses"`        // reads that fetched
	Size         int           `json:"size"`          // approximate bytes
}

// Status returns a snapshot for the status page. It walks the cache, so it
// is meant for people and monitoring, not for every request.
func (a *Agent) Status() Status {
	now := time.Now()
	st := Status{Version: secretcache.Version, Ready: a.Ready(), Started: a.started,
		Uptime: now.Sub(a.started).Round(time.Second), Addr: a.Addr(), AdminAddr: a.AdminAddr(),
		Caching: a.cfg.Caching(), TTL: a.cfg.TTL(), Stats: a.cache.Stats(), Links: a.links}
	st.Requests = RequestCounts{OK: a.api.servedOK.Load(), Failed: a.api.servedFailed.Load(),
		Rejected: a.api.rejected.Load(), BadToken: a.api.badTokens.Load(), Misdirected: a.api.misdirected.Load(),
		InFlight: a.api.inFlight.Load(), OpenConns: int64(a.conns.open()), ConnsClosed: a.conns.closedCounts()}
	if br, ok := a.src.(secretcache.BreakerReporter); ok {
		st.Breakers = br.Breakers()
	}
	a.mu.Lock()
	st.Prefetch = a.prefetch
	a.mu.Unlock()
	st.Params = a.parameterStatus()
	cached := map[string]string{}
	for e := range a.cache.Entries() {
		k := refKey(e.Ref)
		cached[k] = e.Metadata.VersionID
		se := StatusEntry{ID: e.Ref.ID, VersionID: e.Ref.VersionID, Name: e.Metadata.Name,
			ARN: e.Metadata.ARN, Version: e.Metadata.VersionID, Stages: e.Metadata.VersionStages,
			Created: e.Metadata.CreatedDate, Age: e.Age.Round(time.Millisecond), TTL: e.TTL,
			Stale: e.Stale, Failures: e.Failures, LastError: e.LastError,
			Refreshing: e.Refreshing, Size: e.Size}
		if !awsname.IsCurrent(e.Ref) {
			se.VersionStage = e.Ref.VersionStage
		}
		if !e.ExpiresAt.IsZero() {
			se.ExpiresIn = e.ExpiresAt.Sub(now).Round(time.Millisecond)
		}
		se.Hits, se.StaleHits, se.Misses = a.hits.get(k)
		st.Entries = append(st.Entries, se)
	}
	a.hits.prune(cached)
	slices.SortFunc(st.Entries, func(x, y StatusEntry) int {
		return cmp.Or(strings.Compare(x.ID, y.ID), strings.Compare(x.VersionStage, y.VersionStage),
			strings.Compare(x.VersionID, y.VersionID))
	})
	return st
}

// newAdmin builds the admin handler: the status page (/ and /status, JSON
// at /status.json), the text report, /ready, /ping and the monitoring
// endpoints. Every endpoint answers GET (and HEAD) only; other methods get
// 405. An endpoint is one line of the table; link puts it in the status
// page's footer.
func (a *Agent) newAdmin(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, e := range []struct {
		path string
		h    http.Handler
		link bool
	}{
		{"/{$}", http.HandlerFunc(a.serveStatusPage), false},
		{"/status", http.HandlerFunc(a.serveStatusPage), false},
		{"/status.json", http.HandlerFunc(a.serveStatusJSON), false},
		{"/ping", http.HandlerFunc(servePing), false},
		{"/ready", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeReady(w, a.Ready()) }), false},
		{monitor.MetricsPath, metrics, true},
		{monitor.HealthPath, a.mon.HealthHandler(), true},
		{monitor.StatsPath, a.mon.StatsHandler(), true},
		{"/report", http.HandlerFunc(a.serveReport), true},
	} {
		mux.Handle("GET "+e.path, e.h)
		if e.link {
			a.links = append(a.links, e.path)
		}
	}
	return a.hosts.checkHost(limitRequest(mux))
}

func (a *Agent) serveReport(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, a.Report())
}

// limitRequest refuses oversized targets and methods other than GET and
// HEAD before the mux sees them.
func limitRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > MaxURLBytes {
			writeText(w, http.StatusRequestURITooLong, "Request URI too long")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeText(w, http.StatusMethodNotAllowed, msgMethod)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (a *Agent) serveStatusJSON(w http.ResponseWriter, _ *http.Request) {
	b, err := json.MarshalIndent(a.Status(), "", "  ")
	if err != nil {
		writeText(w, http.StatusInternalServerError, "cannot encode the status")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

func (a *Agent) serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := statusPage.Execute(w, a.Status()); err != nil {
		a.log.Warn("status page failed", "err", err)
	}
}

func shortDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 0:
		return "-" + shortDuration(-d)
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"dur":     shortDuration,
	"join":    func(s []string) string { return strings.Join(s, ", ") },
	"percent": func(f float64) string { return fmt.Sprintf("%.1f %%", f*100) },
	"time":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>secretcache agent</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} .num{text-align:right} .bad{color:#b00} .ok{color:#070}
code{font-size:.95em}
</style></head><body>
<h1>secretcache agent {{.Version}}</h1>
<p>{{if .Ready}}<span class="ok">ready</span>{{else}}<span class="bad">not ready (prefetch running)</span>{{end}}
 &middot; up {{dur .Uptime}} since {{time .Started}} &middot; API {{.Addr}} &middot; admin {{.AdminAddr}}
 &middot; {{if .Caching}}TTL {{dur .TTL}}{{else}}<span class="bad">caching off</span>{{end}}</p>
<h2>Requests</h2>
<table><tr><th>served</th><th>failed</th><th>429 over max_conn</th><th>403 bad token</th><th>421 other Host</th><th>in progress</th><th>open connections</th><th>connections closed</th></tr>
<tr><td class="num">{{.Requests.OK}}</td><td class="num">{{.Requests.Failed}}</td><td class="num">{{.Requests.Rejected}}</td><td class="num">{{.Requests.BadToken}}</td><td class="num">{{.Requests.Misdirected}}</td><td class="num">{{.Requests.InFlight}}</td><td class="num">{{.Requests.OpenConns}}</td><td>{{range $k, $v := .Requests.ConnsClosed}}{{if $v}}{{$k}} {{$v}} {{end}}{{end}}</td></tr></table>
<h2>Cache</h2>
<table><tr><th>entries</th><th>bytes</th><th>hits</th><th>stale hits</th><th>misses</th><th>hit rate</th><th>backend calls</th><th>refreshes ahead</th><th>version changes</th><th>evictions</th></tr>
<tr><td class="num">{{.Stats.Entries}} / {{.Stats.MaxEntries}}</td><td class="num">{{.Stats.Bytes}}</td><td class="num">{{.Stats.Hits}}</td><td class="num">{{.Stats.StaleHits}}</td><td class="num">{{.Stats.Misses}}</td><td class="num">{{percent .Stats.HitRate}}</td><td class="num">{{.Stats.BackendCalls}}</td><td class="num">{{.Stats.RefreshesAhead}}</td><td class="num">{{.Stats.VersionChanges}}</td><td class="num">{{.Stats.Evictions}}</td></tr></table>
{{if .Stats.BackendErrors}}<p>Backend errors: {{range $k, $v := .Stats.BackendErrors}}<code>{{$k}}</code> {{$v}} {{end}}</p>{{end}}
{{if .Breakers}}<h2>Regions</h2>
<table><tr><th>region</th><th>primary</th><th>state</th><th>failures</th><th>last error</th><th>since</th></tr>
{{range .Breakers}}<tr><td>{{.Name}}</td><td>{{if .Primary}}yes{{end}}</td><td{{if ne .State "closed"}} class="bad"{{end}}>{{.State}}</td><td class="num">{{.Failures}}</td><td>{{.LastErrorKind}}</td><td>{{time .Since}}</td></tr>
{{end}}</table>{{end}}
<h2>Cached secrets ({{len .Entries}})</h2>
<p>Metadata and read counts only; values are never shown.</p>
<table><tr><th>secret</th><th>asked stage / version</th><th>version id</th><th>stages</th><th>age</th><th>TTL</th><th>expires in</th><th>hits</th><th>stale hits</th><th>misses</th><th>failures</th><th>last error</th></tr>
{{range .Entries}}<tr><td><code>{{.ID}}</code>{{if and .Name (ne .Name .ID)}}<br><small>{{.Name}}</small>{{end}}</td><td>{{.VersionStage}}{{if .VersionID}} <code>{{.VersionID}}</code>{{end}}</td><td><code>{{.Version}}</code></td><td>{{join .Stages}}</td><td class="num">{{dur .Age}}</td><td class="num">{{if .TTL}}{{dur .TTL}}{{else}}pinned{{end}}</td><td class="num{{if .Stale}} bad{{end}}">{{if .TTL}}{{dur .ExpiresIn}}{{if .Stale}} (stale){{end}}{{end}}{{if .Refreshing}} &#8635;{{end}}</td><td class="num">{{.Hits}}</td><td class="num">{{.StaleHits}}</td><td class="num">{{.Misses}}</td><td class="num{{if .Failures}} bad{{end}}">{{.Failures}}</td><td>{{.LastError}}</td></tr>
{{else}}<tr><td colspan="12">nothing cached yet</td></tr>
{{end}}</table>
<h2>Prefetch</h2>
{{with .Prefetch}}{{if .Started.IsZero}}<p>none configured{{if not $.Ready}} or still waiting{{end}}.</p>{{else}}<p>{{.Fetched}} of {{.IDs}} secrets fetched in {{.Attempts}} round(s).{{if .Error}} <span class="bad">{{.Error}}</span>{{end}}</p>
{{if .Failed}}<table><tr><th>secret</th><th>error</th></tr>{{range $id, $kind := .Failed}}<tr><td><code>{{$id}}</code></td><td class="bad">{{$kind}}</td></tr>{{end}}</table>{{end}}{{end}}{{end}}
{{with .Params}}<h2>Parameter Store</h2>
<p>{{if .Caching}}TTL {{dur .TTL}}{{else}}<span class="bad">caching off</span>{{end}} &middot; served {{.OK}} &middot; failed {{.Failed}} &middot; {{.Stats.Entries}} cached, {{.Stats.BackendCalls}} backend calls{{if not .Prefetch.Started.IsZero}} &middot; prefetch {{.Prefetch.Fetched}} of {{.Prefetch.IDs}}{{end}}</p>
{{if .Cached}}<p>{{range .Cached}}<code>{{.}}</code> {{end}}</p>{{end}}{{end}}
<p><small>JSON: <a href="/status.json">/status.json</a> &middot; readiness: <a href="/ready">/ready</a>{{range $.Links}} &middot; <a href="{{.}}">{{.}}</a>{{end}}</small></p>
</body></html>
`))

// Report returns a plain-text report of the agent for people: state,
// request counts, cache counters, regions, every cached secret (metadata
// and read counts, never values) and the prefetch, followed by the monitor
// package's report (health and latencies). The admin listener serves it at
// /report; "secretcache report" prints it.
func (a *Agent) Report() string {
	st := a.Status()
	var b strings.Builder
	state := "ready"
	if !st.Ready {
		state = "NOT READY (prefetch running)"
	}
	fmt.Fprintf(&b, "secretcache agent %s: %s, up %s\n", st.Version, state, shortDuration(st.Uptime))
	fmt.Fprintf(&b, "API %s: %d served, %d failed, %d over max_conn (429), %d bad token (403), %d other Host (421), %d in progress, %d connections open\n",
		st.Addr, st.Requests.OK, st.Requests.Failed, st.Requests.Rejected, st.Requests.BadToken, st.Requests.Misdirected,
		st.Requests.InFlight, st.Requests.OpenConns)
	var closed []string
	for _, reason := range closedReasonNames {
		if n := st.Requests.ConnsClosed[reason]; n > 0 {
			closed = append(closed, fmt.Sprintf("%s %d", reason, n))
		}
	}
	if len(closed) > 0 {
		fmt.Fprintf(&b, "connections closed by the agent: %s\n", strings.Join(closed, ", "))
	}
	if st.Caching {
		fmt.Fprintf(&b, "cache: %d/%d entries, %d bytes, hit rate %.1f %%, %d hits, %d stale hits, %d misses, %d backend calls, %d refreshes ahead, %d version changes, %d evictions\n",
			st.Stats.Entries, st.Stats.MaxEntries, st.Stats.Bytes, st.Stats.HitRate*100, st.Stats.Hits, st.Stats.StaleHits,
			st.Stats.Misses, st.Stats.BackendCalls, st.Stats.RefreshesAhead, st.Stats.VersionChanges, st.Stats.Evictions)
	} else {
		fmt.Fprintf(&b, "cache: off (every request reads AWS); %d backend calls\n", st.Stats.BackendCalls)
	}
	if len(st.Stats.BackendErrors) > 0 {
		kinds := make([]string, 0, len(st.Stats.BackendErrors))
		for k, n := range st.Stats.BackendErrors {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(kinds)
		fmt.Fprintf(&b, "backend errors: %s\n", strings.Join(kinds, ", "))
	}
	for _, br := range st.Breakers {
		role := "replica"
		if br.Primary {
			role = "primary"
		}
		fmt.Fprintf(&b, "region %s (%s): %s, %d consecutive failures", br.Name, role, br.State, br.Failures)
		if br.LastErrorKind != "" {
			fmt.Fprintf(&b, ", last error %s", br.LastErrorKind)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "secrets (%d):\n", len(st.Entries))
	for _, e := range st.Entries {
		asked := ""
		if e.VersionStage != "" || e.VersionID != "" {
			asked = " [" + strings.TrimSpace(e.VersionStage+" "+e.VersionID) + "]"
		}
		stale := ""
		if e.Stale {
			stale = " STALE"
		}
		fmt.Fprintf(&b, "  %s%s version %s %s, age %s, hits %d, stale hits %d, misses %d, failures %d%s\n",
			e.ID, asked, e.Version, strings.Join(e.Stages, ","), shortDuration(e.Age), e.Hits, e.StaleHits, e.Misses, e.Failures, stale)
	}
	if p := st.Prefetch; !p.Started.IsZero() {
		fmt.Fprintf(&b, "prefetch: %d of %d fetched in %d round(s)", p.Fetched, p.IDs, p.Attempts)
		if len(p.Failed) > 0 {
			fmt.Fprintf(&b, ", %d failed", len(p.Failed))
		}
		if p.Error != "" {
			fmt.Fprintf(&b, "; %s", p.Error)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(a.mon.Report())
	return b.String()
}
