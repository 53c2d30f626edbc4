package agent

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/agentjson"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/smtest"
)

const tokHdr = "X-Aws-Parameters-Secrets-Token: " + testToken

func mustCreate(t *testing.T, srv *smtest.Server, name, value string) string {
	t.Helper()
	arn, err := srv.CreateSecret("", name, value)
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return arn
}

// expectedBody builds the AWS agent's body for the AWSCURRENT version of
// name, from smtest's own records.
func expectedBody(t *testing.T, srv *smtest.Server, name, stage string) string {
	t.Helper()
	if stage == "" {
		stage = "AWSCURRENT"
	}
	si, ok := srv.Secret("", name)
	if !ok {
		t.Fatalf("no secret %s", name)
	}
	vid := si.Stage(stage)
	var v smtest.VersionInfo
	for _, x := range si.Versions {
		if x.VersionID == vid {
			v = x
		}
	}
	val, _ := srv.Value("", name, stage)
	stages, _ := json.Marshal(v.Stages)
	created := strconv.FormatFloat(float64(v.CreatedDate.UnixMilli())/1000, 'f', -1, 64)
	valueField := `"SecretString":` + string(agentjson.AppendString(nil, val))
	if v.Binary {
		valueField = `"SecretBinary":"` + base64.StdEncoding.EncodeToString([]byte(val)) + `"`
	}
	return fmt.Sprintf(`{"ARN":%q,"Name":%q,"VersionId":%q,%s,"VersionStages":%s,"CreatedDate":"%s"}`,
		si.ARN, si.Name, vid, valueField, stages, created)
}

func TestPing(t *testing.T) {
	e := newEnv(t, envOpt{})
	for _, hdrs := range [][]string{nil, {tokHdr}, {"X-Aws-Parameters-Secrets-Token: wrong"}, {"X-Forwarded-For: 1.2.3.4"}} {
		st, body, _ := e.do("GET", "/ping", hdrs...)
		if st != 200 || body != "healthy" {
			t.Errorf("GET /ping %v = %d %q, want 200 healthy", hdrs, st, body)
		}
	}
	st, body, _ := e.do("POST", "/ping")
	if st != 405 || body != "Not allowed" {
		t.Errorf("POST /ping = %d %q, want 405", st, body)
	}
}

func TestTokenRules(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "hunter2")
	cases := []struct {
		name, path string
		headers    []string
		status     int
		body       string
	}{
		{"no token, query", "/secretsmanager/get?secretId=MyTest", nil, 403, "Bad Token"},
		{"no token, path", "/v1/MyTest", nil, 403, "Bad Token"},
		{"wrong token", "/secretsmanager/get?secretId=MyTest", []string{"X-Vault-Token: click slippers"}, 403, "Bad Token"},
		{"token prefix", "/v1/MyTest", []string{"X-Aws-Parameters-Secrets-Token: " + testToken[:5]}, 403, "Bad Token"},
		{"token plus suffix", "/v1/MyTest", []string{"X-Aws-Parameters-Secrets-Token: " + testToken + "x"}, 403, "Bad Token"},
		{"empty token", "/v1/MyTest", []string{"X-Aws-Parameters-Secrets-Token:"}, 403, "Bad Token"},
		{"token in another header", "/v1/MyTest", []string{"Authorization: " + testToken}, 403, "Bad Token"},
		{"token in query only", "/v1/MyTest?token=" + testToken, nil, 403, "Bad Token"},
		{"vault header", "/v1/MyTest", []string{"X-Vault-Token: " + testToken}, 200, ""},
		{"lower-case header name", "/v1/MyTest", []string{"x-aws-parameters-secrets-token: " + testToken}, 200, ""},
		{"wrong then right header", "/v1/MyTest", []string{"X-Vault-Token: nope", tokHdr}, 200, ""},
		{"forwarded", "/secretsmanager/get?secretId=MyTest", []string{tokHdr, "X-Forwarded-For: 54.239.28.85"}, 400, "Forwarded"},
		{"forwarded empty", "/v1/MyTest", []string{tokHdr, "X-Forwarded-For:"}, 400, "Forwarded"},
		{"forwarded without token", "/v1/MyTest", []string{"X-Forwarded-For: 10.0.0.1"}, 400, "Forwarded"},
		{"unknown path without token", "/pong", nil, 403, "Bad Token"},
		{"unknown path with token", "/pong", []string{tokHdr}, 404, "Not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body, _ := e.do("GET", c.path, c.headers...)
			if st != c.status || (c.body != "" && body != c.body) {
				t.Errorf("GET %s %v = %d %q, want %d %q", c.path, c.headers, st, body, c.status, c.body)
			}
		})
	}
}

func TestTokenFirstValueOfRepeatedHeader(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "v")
	st, _, _ := e.do("GET", "/v1/MyTest", "X-Aws-Parameters-Secrets-Token: bad", tokHdr)
	if st != 403 {
		t.Errorf("first value bad, second good: %d, want 403 (the first value counts)", st)
	}
}

func TestCustomSSRFHeaders(t *testing.T) {
	e := newEnv(t, envOpt{cfg: func(c *Config) { c.SSRFHeaders = []string{"X-My-Token"} }})
	mustCreate(t, e.srv, "MyTest", "v")
	if st, _, _ := e.do("GET", "/v1/MyTest", tokHdr); st != 403 {
		t.Errorf("default header with custom ssrf_headers: %d, want 403", st)
	}
	if st, _, _ := e.do("GET", "/v1/MyTest", "X-My-Token: "+testToken); st != 200 {
		t.Errorf("custom header: %d, want 200", st)
	}
}

func TestMethods(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "v")
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"} {
		for _, p := range []string{"/secretsmanager/get?secretId=MyTest", "/v1/MyTest"} {
			st, body, _ := e.do(m, p, tokHdr)
			if st != 405 || (m != "HEAD" && body != "Not allowed") {
				t.Errorf("%s %s = %d %q, want 405", m, p, st, body)
			}
			if st, _, _ := e.do(m, p); st != 403 {
				t.Errorf("%s %s without token = %d, want 403 (token is checked first)", m, p, st)
			}
		}
	}
	// OPTIONS * and CONNECT need a raw connection. A CONNECT to another
	// host is misdirected (421) before its method is looked at.
	for line, want := range map[string]int{"OPTIONS * HTTP/1.1": 405, "CONNECT 127.0.0.1:2773 HTTP/1.1": 405,
		"CONNECT example.com:443 HTTP/1.1": 421} {
		st := rawStatus(t, e.a.Addr(), line+"\r\nHost: 127.0.0.1\r\n"+tokHdr+"\r\n\r\n")
		if st != want {
			t.Errorf("%s = %d, want %d", line, st, want)
		}
	}
}

// rawStatus sends a raw request and returns the status code.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	st, _ := rawRequest(t, addr, req)
	return st
}

// rawRequest sends req as it is on a new connection and returns the
// answer's status and body.
func rawRequest(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestParameters(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "hunter2")
	mustCreate(t, e.srv, "My/Test", "slashed")
	mustCreate(t, e.srv, "a+b", "plus")
	long := strings.Repeat("a", 2049)
	cases := []struct {
		name, path string
		status     int
		body       string // exact, or "~substring"
	}{
		{"missing secretId", "/secretsmanager/get", 400, "missing parameter secretId"},
		{"empty secretId", "/secretsmanager/get?secretId=", 400, "missing parameter secretId"},
		{"only other params", "/secretsmanager/get?versionStage=AWSPENDING", 400, "missing parameter secretId"},
		{"missing path id", "/v1/", 400, "missing secret ID"},
		{"missing path id with params", "/v1/?versionStage=AWSPENDING", 400, "missing secret ID"},
		{"unknown param", "/secretsmanager/get?secretId=MyTest&versionStage=AWSCURRENT&abc=XXXX", 400, "unknown parameter: abc"},
		{"unknown param path", "/v1/MyTest?versionStage=AWSCURRENT&abc=XXXX", 400, "unknown parameter: abc"},
		{"unknown param no value", "/v1/MyTest?abc", 400, "unknown parameter: abc"},
		{"case matters", "/secretsmanager/get?secretid=MyTest", 400, "unknown parameter: secretid"},
		{"secretId on path form", "/v1/MyTest?secretId=MyTest", 400, "unknown parameter: secretId"},
		{"bad refreshNow", "/secretsmanager/get?secretId=MyTest&refreshNow=123", 400, "invalid refreshNow value"},
		{"empty refreshNow", "/v1/MyTest?refreshNow=", 400, "invalid refreshNow value"},
		{"bad escape", "/secretsmanager/get?secretId=My%zzTest", 400, "invalid percent-encoding in query"},
		{"empty field", "/v1/MyTest?field=", 400, "invalid field value: must be 1 to 1024 bytes"},
		{"long field", "/v1/MyTest?field=" + strings.Repeat("k", 1025), 400, "invalid field value: must be 1 to 1024 bytes"},
		{"id too long", "/secretsmanager/get?secretId=" + long, 400, "~InvalidParameterException"},
		{"id with NUL", "/secretsmanager/get?secretId=My%00Test", 400, "~InvalidParameterException"},
		{"plus is a space", "/secretsmanager/get?secretId=a+b", 400, "~InvalidParameterException"},
		{"long stage", "/v1/MyTest?versionStage=" + strings.Repeat("S", 257), 400, "~InvalidParameterException"},
		{"long version id", "/v1/MyTest?versionId=" + strings.Repeat("v", 65), 400, "~InvalidParameterException"},
		{"unknown secret", "/secretsmanager/get?secretId=NoSuchSecret", 400, `{"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret."}`},
		{"ok", "/secretsmanager/get?secretId=MyTest", 200, "~hunter2"},
		{"empty pairs", "/secretsmanager/get?&&secretId=MyTest&&", 200, "~hunter2"},
		{"last wins", "/secretsmanager/get?secretId=Nope&secretId=MyTest", 200, "~hunter2"},
		{"escaped plus", "/secretsmanager/get?secretId=a%2Bb", 200, "~plus"},
		{"refreshNow TRUE", "/v1/MyTest?refreshNow=TRUE", 200, "~hunter2"},
		{"refreshNow 0", "/v1/MyTest?refreshNow=0", 200, "~hunter2"},
		{"refreshNow False", "/v1/MyTest?refreshNow=False", 200, "~hunter2"},
		{"path with slash", "/v1/My/Test", 200, "~slashed"},
		{"path escaped slash", "/v1/My%2FTest", 200, "~slashed"},
		{"query with slash", "/secretsmanager/get?secretId=My/Test", 200, "~slashed"},
		{"query escaped slash", "/secretsmanager/get?secretId=My%2FTest", 200, "~slashed"},
		{"stage AWSCURRENT", "/v1/MyTest?versionStage=AWSCURRENT", 200, "~hunter2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := e.get(c.path)
			ok := st == c.status
			if want, sub := strings.CutPrefix(c.body, "~"); sub {
				ok = ok && strings.Contains(body, want)
			} else if c.body != "" {
				ok = ok && body == c.body
			}
			if !ok {
				t.Errorf("GET %s = %d %q, want %d %q", clip.String(c.path, 80), st, clip.String(body, 200), c.status, c.body)
			}
		})
	}
}

func TestByARN(t *testing.T) {
	e := newEnv(t, envOpt{})
	arn := mustCreate(t, e.srv, "MyTest", "hunter2")
	for _, p := range []string{"/secretsmanager/get?secretId=" + arn, "/v1/" + arn} {
		st, body := e.get(p)
		if st != 200 || body != expectedBody(t, e.srv, "MyTest", "") {
			t.Errorf("GET %s = %d %s", p, st, body)
		}
	}
}

func TestURLAndHeaderLimits(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "v")
	st, _ := e.get("/v1/MyTest?versionStage=" + strings.Repeat("x", MaxURLBytes))
	if st != http.StatusRequestURITooLong {
		t.Errorf("oversized URL: %d, want 414", st)
	}
	st, _, _ = e.do("GET", "/v1/MyTest", tokHdr, "X-Junk: "+strings.Repeat("j", MaxHeaderBytes+8192))
	if st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: %d, want 431", st)
	}
	// The agent is still fine.
	if st, _ := e.get("/v1/MyTest"); st != 200 {
		t.Errorf("after oversized requests: %d", st)
	}
}

func TestResponseBodyMatchesAWSAgent(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "hunter2")
	for _, p := range []string{"/secretsmanager/get?secretId=MyTest", "/v1/MyTest"} {
		st, body, h := e.do("GET", p, tokHdr)
		if want := expectedBody(t, e.srv, "MyTest", ""); st != 200 || body != want {
			t.Errorf("GET %s =\n%d %s\nwant\n%s", p, st, body, want)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := h.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	}
	var m map[string]any
	_, body := e.get("/v1/MyTest")
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"} {
		if _, ok := m[k]; !ok {
			t.Errorf("body lacks %s", k)
		}
	}
	if _, err := strconv.ParseFloat(m["CreatedDate"].(string), 64); err != nil {
		t.Errorf("CreatedDate %q is not epoch seconds", m["CreatedDate"])
	}
}

func TestBinarySecret(t *testing.T) {
	e := newEnv(t, envOpt{})
	raw := []byte{0, 1, 2, 0xff, 'x'}
	if _, err := e.srv.CreateBinarySecret("", "Bin", raw); err != nil {
		t.Fatal(err)
	}
	st, body := e.get("/v1/Bin")
	if st != 200 || body != expectedBody(t, e.srv, "Bin", "") || strings.Contains(body, "SecretString") {
		t.Fatalf("binary: %d %s", st, body)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	got, _ := base64.StdEncoding.DecodeString(m["SecretBinary"].(string))
	if string(got) != string(raw) {
		t.Errorf("SecretBinary decodes to %v", got)
	}
	// Accept: text/plain gives the raw bytes.
	st, b, h := e.do("GET", "/v1/Bin", tokHdr, "Accept: text/plain")
	if st != 200 || b != string(raw) || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("binary as text: %d %q %q", st, b, h.Get("Content-Type"))
	}
}

func TestEscaping(t *testing.T) {
	e := newEnv(t, envOpt{})
	val := "quote\" backslash\\ nl\n tab\t ctl\x01 html<>& uni é 漢 \u2028"
	mustCreate(t, e.srv, "Esc", val)
	st, body := e.get("/v1/Esc")
	if st != 200 {
		t.Fatal(st, body)
	}
	want := `"SecretString":"quote\" backslash\\ nl\n tab\t ctl\u0001 html<>& uni é 漢 ` + "\u2028" + `"`
	if !strings.Contains(body, want) {
		t.Errorf("body %s\nlacks %s", body, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["SecretString"] != val {
		t.Errorf("round trip: %v %q", err, m["SecretString"])
	}
}

func TestField(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "db", `{"username":"app","password":"p\"w","port":5432,"opts":{"ssl":true},"nil":null}`)
	mustCreate(t, e.srv, "plain", "not json")
	mustCreate(t, e.srv, "arr", `[1,2]`)
	if _, err := e.srv.CreateBinarySecret("", "bin", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, accept string
		status       int
		want         string // SecretString of the JSON, the text, or the error code
	}{
		{"/v1/db?field=password", "", 200, `p"w`},
		{"/secretsmanager/get?secretId=db&field=username", "", 200, "app"},
		{"/v1/db?field=port", "", 200, "5432"},
		{"/v1/db?field=opts", "", 200, `{"ssl":true}`},
		{"/v1/db?field=nil", "", 200, "null"},
		{"/v1/db?field=password", "text/plain", 200, `p"w`},
		{"/v1/db?field=password", "text/plain;q=0.9, application/json", 200, `p"w`},
		{"/v1/db?field=port", "text/plain", 200, "5432"},
		{"/v1/db?field=missing", "", 400, CodeFieldNotFound},
		{"/v1/plain?field=x", "", 400, CodeSecretNotJSON},
		{"/v1/arr?field=x", "", 400, CodeSecretNotJSON},
		{"/v1/bin?field=x", "", 400, CodeSecretIsBinary},
		{"/v1/nope?field=x", "", 400, "ResourceNotFoundException"},
	}
	for _, c := range cases {
		hdrs := []string{tokHdr}
		if c.accept != "" {
			hdrs = append(hdrs, "Accept: "+c.accept)
		}
		st, body, h := e.do("GET", c.path, hdrs...)
		if st != c.status {
			t.Errorf("%s (%s) = %d %s, want %d", c.path, c.accept, st, body, c.status)
			continue
		}
		var m map[string]any
		switch {
		case st != 200:
			if err := json.Unmarshal([]byte(body), &m); err != nil || m["__type"] != c.want || m["message"] == "" {
				t.Errorf("%s = %s, want __type %s", c.path, body, c.want)
			}
		case strings.HasPrefix(c.accept, "text/plain"):
			if body != c.want || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Errorf("%s as text = %q (%s), want %q", c.path, body, h.Get("Content-Type"), c.want)
			}
		default:
			if err := json.Unmarshal([]byte(body), &m); err != nil || m["SecretString"] != c.want || m["Name"] != "db" {
				t.Errorf("%s = %s, want SecretString %q", c.path, body, c.want)
			}
		}
	}
	// The whole value as text.
	st, body, _ := e.do("GET", "/v1/plain", tokHdr, "Accept: text/plain")
	if st != 200 || body != "not json" {
		t.Errorf("plain text: %d %q", st, body)
	}
	// Wildcards and JSON keep the AWS format.
	for _, acc := range []string{"*/*", "application/json", "application/json, text/plain", "garbage;;;"} {
		st, body, _ := e.do("GET", "/v1/plain", tokHdr, "Accept: "+acc)
		if st != 200 || !strings.HasPrefix(body, `{"ARN"`) {
			t.Errorf("Accept %q: %d %q", acc, st, body)
		}
	}
}

func TestVersions(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "MyTest", "v1")
	first := mustInfo(t, e.srv, "MyTest").Stage("AWSCURRENT")
	pending, err := e.srv.PutSecretValue("", "MyTest", "v2-pending", "AWSPENDING")
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string, status int, wantValue, wantVersion string, wantStages ...string) {
		t.Helper()
		st, body := e.get(path)
		if st != status {
			t.Errorf("GET %s = %d %s, want %d", path, st, body, status)
			return
		}
		if status != 200 {
			if !strings.Contains(body, wantValue) {
				t.Errorf("GET %s = %s, want %s", path, body, wantValue)
			}
			return
		}
		var m struct {
			SecretString, VersionId string
			VersionStages           []string
		}
		_ = json.Unmarshal([]byte(body), &m)
		slices.Sort(m.VersionStages)
		slices.Sort(wantStages)
		if m.SecretString != wantValue || m.VersionId != wantVersion || strings.Join(m.VersionStages, ",") != strings.Join(wantStages, ",") {
			t.Errorf("GET %s = %s, want %s %s %v", path, body, wantValue, wantVersion, wantStages)
		}
	}
	check("/v1/MyTest", 200, "v1", first, "AWSCURRENT")
	check("/v1/MyTest?versionStage=AWSPENDING", 200, "v2-pending", pending, "AWSPENDING")
	check("/secretsmanager/get?secretId=MyTest&versionStage=AWSPENDING", 200, "v2-pending", pending, "AWSPENDING")
	check("/v1/MyTest?versionId="+pending, 200, "v2-pending", pending, "AWSPENDING")
	check("/v1/MyTest?versionId="+first, 200, "v1", first, "AWSCURRENT")
	check("/v1/MyTest?versionId="+first+"&versionStage=AWSCURRENT", 200, "v1", first, "AWSCURRENT")
	check("/v1/MyTest?versionId="+first+"&versionStage=AWSPENDING", 400, "InvalidRequestException", "")
	check("/v1/MyTest?versionId=00000000-0000-0000-0000-000000000000", 400, "ResourceNotFoundException", "")
	check("/v1/MyTest?versionStage=NOSUCHSTAGE", 400, "ResourceNotFoundException", "")

	// Promote: AWSCURRENT moves; AWSPREVIOUS appears. The cached AWSCURRENT
	// stays until refreshNow.
	if err := e.srv.UpdateStage("", "MyTest", "AWSCURRENT", pending, first); err != nil {
		t.Fatal(err)
	}
	check("/v1/MyTest", 200, "v1", first, "AWSCURRENT")
	check("/v1/MyTest?refreshNow=true", 200, "v2-pending", pending, "AWSCURRENT", "AWSPENDING")
	check("/v1/MyTest", 200, "v2-pending", pending, "AWSCURRENT", "AWSPENDING")
	check("/v1/MyTest?versionStage=AWSPREVIOUS", 200, "v1", first, "AWSPREVIOUS")
	// A pinned version keeps its value and is never refetched.
	calls := e.srv.Calls("", "GetSecretValue")
	check("/v1/MyTest?versionId="+first, 200, "v1", first, "AWSCURRENT")
	if n := e.srv.Calls("", "GetSecretValue"); n != calls {
		t.Errorf("pinned version refetched: %d calls, was %d", n, calls)
	}
}

func mustInfo(t *testing.T, srv *smtest.Server, name string) smtest.SecretInfo {
	t.Helper()
	si, ok := srv.Secret("", name)
	if !ok {
		t.Fatalf("no secret %s", name)
	}
	return si
}

func TestDeletedSecret(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "gone", "v")
	if err := e.srv.DeleteSecret("", "gone", false); err != nil {
		t.Fatal(err)
	}
	st, body := e.get("/v1/gone")
	if st != 400 || !strings.HasPrefix(body, `{"__type":"InvalidRequestException", "message":`) {
		t.Errorf("deleted: %d %s", st, body)
	}
}

func TestCachingAndCoalescing(t *testing.T) {
	e := newEnv(t, envOpt{})
	mustCreate(t, e.srv, "hot", "v")
	e.srv.ResetCalls()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for range 50 {
		wg.Go(func() {
			st, body := e.get("/v1/hot")
			if st != 200 {
				errs <- fmt.Sprintf("%d %s", st, body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.srv.Calls("", "GetSecretValue"); n != 1 {
		t.Errorf("50 concurrent first reads made %d GetSecretValue calls, want 1", n)
	}
	for range 20 {
		e.get("/v1/hot")
	}
	if n := e.srv.Calls("", "GetSecretValue"); n != 1 {
		t.Errorf("cached reads called AWS: %d calls", n)
	}
}

func TestRefreshNowCoalesces(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	e := newEnv(t, envOpt{source: func(srv *smtest.Server) secretcache.Source {
		src.inner = awsSource(t, srv)
		return src
	}})
	mustCreate(t, e.srv, "hot", "v")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if st, body := e.get("/v1/hot?refreshNow=true"); st != 200 {
				t.Errorf("refreshNow: %d %s", st, body)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	close(src.gate)
	wg.Wait()
	if n := src.count(); n > 2 {
		t.Errorf("20 concurrent refreshNow made %d fetches, want 1 (at most 2)", n)
	}
}

func TestCachingOff(t *testing.T) {
	for _, mutate := range []func(*Config){
		func(c *Config) { c.TTLSeconds = 0 },
		func(c *Config) { c.CacheEnabled = false },
	} {
		e := newEnv(t, envOpt{cfg: mutate})
		mustCreate(t, e.srv, "s", "v1")
		e.get("/v1/s")
		if _, err := e.srv.PutSecretValue("", "s", "v2"); err != nil {
			t.Fatal(err)
		}
		st, body := e.get("/v1/s")
		if st != 200 || !strings.Contains(body, `"SecretString":"v2"`) {
			t.Errorf("caching off: %d %s, want v2 at once", st, body)
		}
		if n := e.srv.Calls("", "GetSecretValue"); n != 2 {
			t.Errorf("caching off: %d calls for 2 reads", n)
		}
	}
}
