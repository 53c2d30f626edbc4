package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache/ssmtest"
)

// paramEnv is an agent whose Parameter Store source reads an ssmtest server
// through the real SDK.
func paramEnv(t *testing.T, ssm *ssmtest.Server, cfg func(*Config)) *env {
	t.Helper()
	return newEnv(t, envOpt{cfg: cfg, opts: []Option{WithParameterAWSConfig(ssm.AWSConfig(""))}})
}

func mustPut(t *testing.T, srv *ssmtest.Server, name, typ, value string) {
	t.Helper()
	if _, err := srv.Put("", name, typ, value); err != nil {
		t.Fatal(err)
	}
}

type paramDoc struct {
	Parameter struct {
		ARN, DataType, LastModifiedDate, Name, Type, Value string
		Selector, SourceResult                             *string
		Version                                            int64
	}
	ResultMetadata *struct{}
}

func paramGet(t *testing.T, e *env, query string) (int, paramDoc, string) {
	t.Helper()
	st, body := e.get(paramPath + "?" + query)
	var d paramDoc
	if st == 200 {
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("%s: %v in %q", query, err, body)
		}
	}
	return st, d, body
}

// The extension's endpoint: its response shape, versions, labels,
// SecureString with and without decryption, field=, caching, errors.
func TestParametersEndpoint(t *testing.T) {
	ssm := ssmtest.NewServer()
	t.Cleanup(ssm.Close)
	mustPut(t, ssm, "/app/url", ssmtest.TypeString, "https://db.test")
	mustPut(t, ssm, "/app/url", ssmtest.TypeString, "https://db2.test")
	mustPut(t, ssm, "/app/hosts", ssmtest.TypeStringList, "a,b")
	mustPut(t, ssm, "/app/pw", ssmtest.TypeSecureString, "hunter2-value")
	mustPut(t, ssm, "/app/json", ssmtest.TypeSecureString, `{"user":"u1","port":5432}`)
	if err := ssm.Label("", "/app/url", 1, "stable"); err != nil {
		t.Fatal(err)
	}
	e := paramEnv(t, ssm, nil)
	e.waitReady()

	st, d, body := paramGet(t, e, "name=%2Fapp%2Furl")
	p := d.Parameter
	if st != 200 || p.Name != "/app/url" || p.Value != "https://db2.test" || p.Type != "String" || p.DataType != "text" ||
		p.Version != 2 || p.Selector != nil || p.SourceResult != nil || d.ResultMetadata == nil ||
		!strings.HasPrefix(p.ARN, "arn:aws:ssm:us-east-1:") {
		t.Fatalf("latest: %d %s", st, body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", p.LastModifiedDate); err != nil {
		t.Fatalf("LastModifiedDate %q: %v", p.LastModifiedDate, err)
	}
	for _, k := range []string{`"ARN"`, `"DataType"`, `"LastModifiedDate"`, `"Name"`, `"Selector":null`, `"SourceResult":null`, `"Type"`, `"Value"`, `"Version"`, `"ResultMetadata":{}`} {
		if !strings.Contains(body, k) {
			t.Fatalf("body lacks %s: %s", k, body)
		}
	}
	if st, d, body = paramGet(t, e, "name=/app/url&version=1"); st != 200 || d.Parameter.Value != "https://db.test" || *d.Parameter.Selector != ":1" {
		t.Fatalf("version=1: %d %s", st, body)
	}
	// A selector in the name is shown as AWS shows it.
	if st, d, body = paramGet(t, e, "name=/app/url:1"); st != 200 || d.Parameter.Selector == nil || *d.Parameter.Selector != ":1" {
		t.Errorf("selector in the name: %d %s", st, body)
	}
	if st, d, body = paramGet(t, e, "name=/app/url&label=stable"); st != 200 || d.Parameter.Version != 1 || *d.Parameter.Selector != ":stable" {
		t.Fatalf("label: %d %s", st, body)
	}
	if st, d, _ = paramGet(t, e, "name=/app/hosts"); st != 200 || d.Parameter.Value != "a,b" || d.Parameter.Type != "StringList" {
		t.Fatalf("StringList: %+v", d)
	}
	if st, d, _ = paramGet(t, e, "name=/app/pw&withDecryption=true"); st != 200 || d.Parameter.Value != "hunter2-value" || d.Parameter.Type != "SecureString" {
		t.Fatalf("decrypted: %+v", d)
	}
	if st, d, _ = paramGet(t, e, "name=/app/pw"); st != 200 || d.Parameter.Value == "hunter2-value" || d.Parameter.Value == "" {
		t.Fatalf("without decryption the value was served: %d", st)
	}
	if st, _, body = paramGet(t, e, "name=/app/json&withDecryption=true&field=user"); st != 200 || !strings.Contains(body, `"Value":"u1"`) {
		t.Fatalf("field: %d %s", st, body)
	}
	// Cached: repeated reads make no calls.
	ssm.ResetCalls()
	for range 10 {
		paramGet(t, e, "name=/app/url")
		paramGet(t, e, "name=/app/url&version=1")
	}
	if n := ssm.Calls("", ""); n != 0 {
		t.Fatalf("%d calls for cached reads", n)
	}

	for _, c := range []struct {
		query, want string
		status      int
	}{
		{"name=/app/none", `"__type":"ParameterNotFound"`, 400},
		{"name=/app/url&version=9", `"__type":"ParameterVersionNotFound"`, 400},
		{"name=/app/url&label=nolabel", `"__type":"ParameterNotFound"`, 400},
		{"name=/app/json&withDecryption=true&field=nokey", CodeFieldNotFound, 400},
		{"name=/app/url&field=x", "ParameterNotJSONException", 400},
		{"", "missing parameter name", 400},
		{"name=", "missing parameter name", 400},
		{"name=/a&version=1&label=x", "not both", 400},
		{"name=/a&version=0", "positive number", 400},
		{"name=/a&version=-1", "positive number", 400},
		{"name=/a&version=01", "positive number", 400},
		{"name=/a&withDecryption=maybe", "withDecryption", 400},
		{"name=/a&secretId=x", "unknown parameter: secretId", 400},
		{"name=/a%zz", "percent-encoding", 400},
		{"name=/a%20b", "InvalidParameterException", 400},
		{"name=" + url.QueryEscape("/"+strings.Repeat("x", 3000)), "InvalidParameterException", 400},
		{"name=/a&label=aws1", "InvalidParameterException", 400},
	} {
		st, _, body := paramGet(t, e, c.query)
		if st != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%.80s: %d %.200s; want %d with %q", c.query, st, body, c.status, c.want)
		}
		if strings.Contains(body, "hunter2") || len(body) > 600 {
			t.Errorf("%.80s: body %.100s...", c.query, body)
		}
	}
	// The same token rules as the secrets.
	if st, _, _ := e.do("GET", paramPath+"?name=/app/url"); st != 403 {
		t.Errorf("no token: %d", st)
	}
	if st, _, _ := e.do("GET", paramPath+"?name=/app/url", "X-Aws-Parameters-Secrets-Token: "+testToken, "X-Forwarded-For: 1.2.3.4"); st != 400 {
		t.Errorf("forwarded: %d", st)
	}
	// Counted apart from secrets, on the status page and in the metrics.
	s := e.a.Status()
	if s.Params == nil || s.Params.OK == 0 || s.Params.Failed == 0 || s.Requests.OK != 0 || len(s.Params.Cached) == 0 {
		t.Fatalf("status: secrets %+v parameters %+v", s.Requests, s.Params)
	}
	if _, page := e.adminGet("/"); !strings.Contains(page, "<h2>Parameter Store</h2>") || !strings.Contains(page, "<code>/app/url</code>") || strings.Contains(page, "hunter2") {
		t.Fatal("status page lacks the Parameter Store section, or shows a value")
	}
	_, metrics := e.adminGet("/metrics")
	if !strings.Contains(metrics, `secretcache_agent_parameter_requests_total{result="ok"}`) || !strings.Contains(metrics, "secretcache_agent_parameters_cached") {
		t.Fatal("parameter metrics missing")
	}
	if strings.Contains(metrics, "hunter2") {
		t.Fatal("a value in the metrics")
	}
}

// Prefetch by name and by path: after ready, reads make no calls; the
// parameters' own TTL.
func TestParametersPrefetch(t *testing.T) {
	ssm := ssmtest.NewServer()
	t.Cleanup(ssm.Close)
	for i := range 25 {
		mustPut(t, ssm, fmt.Sprintf("/svc/a/k%02d", i), ssmtest.TypeString, fmt.Sprint(i))
	}
	mustPut(t, ssm, "/one", ssmtest.TypeSecureString, "s1")
	e := paramEnv(t, ssm, func(c *Config) {
		c.Parameters.Prefetch = []string{"/one", "/missing"}
		c.Parameters.PrefetchPaths = []string{"/svc"}
		c.Parameters.TTLSeconds = 60
	})
	e.waitReady()
	if n := ssm.Calls("", "GetParameters"); n != 3 {
		t.Fatalf("%d GetParameters calls to prefetch 27 names (want 3 batches)", n)
	}
	ssm.ResetCalls()
	for i := range 25 {
		if st, d, _ := paramGet(t, e, fmt.Sprintf("name=/svc/a/k%02d", i)); st != 200 || d.Parameter.Value != fmt.Sprint(i) {
			t.Fatal(st, d)
		}
	}
	if st, d, _ := paramGet(t, e, "name=/one&withDecryption=true"); st != 200 || d.Parameter.Value != "s1" {
		t.Fatal(st, d)
	}
	if n := ssm.Calls("", ""); n != 0 {
		t.Fatalf("%d calls after prefetch", n)
	}
	pf := e.a.Status().Params.Prefetch
	if pf.IDs != 27 || pf.Fetched != 26 || pf.Failed["/missing"] != "not_found" {
		t.Fatalf("prefetch status %+v", pf)
	}
}

// Configuration: the [parameters] table, the Lambda variables, bad values.
func TestParametersConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Parse([]byte("[parameters]\nttl_seconds = 60\nprefetch = [\"/a\"]\nprefetch_paths = [\"/p\"]\n")); err != nil {
		t.Fatal(err)
	}
	if c.Parameters.TTLSeconds != 60 || !c.Parameters.Enabled || c.Parameters.Prefetch[0] != "/a" {
		t.Fatalf("%+v", c.Parameters)
	}
	for _, doc := range []string{
		"[parameters]\nttl_seconds = 4000\n",
		"[parameters]\nnope = 1\n",
		"[parameters]\nprefetch = [\"a b\"]\n",
		"[parameters]\nprefetch_paths = [\"nopath\"]\n",
		"parameters = 3\n",
	} {
		c := DefaultConfig()
		err := c.Parse([]byte(doc))
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.HasPrefix(ce.Key, "parameters") {
			t.Errorf("%q: %v", doc, err)
		}
	}
	c = DefaultConfig()
	c.Parameters.TTLSeconds = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "parameters.ttl_seconds") {
		t.Errorf("Validate: %v", err)
	}
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	c = DefaultConfig()
	if _, err := c.ApplyLambdaEnv(env(envLambdaSSMTTL, "120", envLambdaSSMTimeout, "700")); err != nil ||
		c.Parameters.TTLSeconds != 120 || c.Parameters.TimeoutMS != 700 {
		t.Fatalf("%v %+v", err, c.Parameters)
	}
	for _, v := range []string{"301", "-1", "x"} {
		c := DefaultConfig()
		_, err := c.ApplyLambdaEnv(env(envLambdaSSMTTL, v))
		if err == nil || !strings.Contains(err.Error(), "SSM_PARAMETER_STORE_TTL") || !strings.Contains(err.Error(), "0 to 300") {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// A Python standard-library client reads a parameter through the agent, as
// a Lambda function reads it from the extension.
func TestParametersPythonClient(t *testing.T) {
	python := needTool(t, "python3")
	ssm := ssmtest.NewServer()
	t.Cleanup(ssm.Close)
	mustPut(t, ssm, "/lambda/url", ssmtest.TypeString, "https://x.test")
	mustPut(t, ssm, "/lambda/pw", ssmtest.TypeSecureString, "pw-v1")
	mustPut(t, ssm, "/lambda/pw", ssmtest.TypeSecureString, "pw-v2")
	e := paramEnv(t, ssm, nil)
	for _, c := range []struct {
		args    []string
		out     string
		code    int
		errWant string
	}{
		{[]string{"/lambda/url"}, "String 1 https://x.test", 0, ""},
		{[]string{"/lambda/pw", "--decrypt"}, "SecureString 2 pw-v2", 0, ""},
		{[]string{"/lambda/pw", "--decrypt", "--version", "1"}, "SecureString 1 pw-v1", 0, ""},
		{[]string{"/lambda/none"}, "", 3, "ParameterNotFound"},
	} {
		cmd := exec.Command(python, append([]string{"../examples/python/get_parameter.py"}, c.args...)...)
		cmd.Env = append(os.Environ(), "SECRETCACHE_AGENT_URL="+e.base, "AWS_SESSION_TOKEN="+testToken, "AWS_TOKEN=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || out.String() != c.out || !strings.Contains(errb.String(), c.errWant) {
			t.Errorf("%v: exit %d out %q err %q", c.args, code, out.String(), errb.String())
		}
		if strings.Contains(errb.String(), "pw-v") {
			t.Errorf("%v: a value on stderr", c.args)
		}
	}
}

// Parameter Store failing: 502 with the AWS agent's ConnectionError, a
// warning naming the parameter and never a value, and a cached value kept
// within max_stale.
func TestParametersBackendDown(t *testing.T) {
	ssm := ssmtest.NewServer()
	t.Cleanup(ssm.Close)
	mustPut(t, ssm, "/down/pw", ssmtest.TypeSecureString, "value-never-logged")
	var logs lockedBuf
	e := newEnv(t, envOpt{
		cfg: func(c *Config) { c.Parameters.TTLSeconds = 1; c.FetchTimeoutMS = 2000 },
		opts: []Option{WithParameterAWSConfig(ssm.AWSConfig("")),
			WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))},
	})
	if st, d, _ := paramGet(t, e, "name=/down/pw&withDecryption=true"); st != 200 || d.Parameter.Value != "value-never-logged" {
		t.Fatal(st)
	}
	ssm.SetFault("", "", ssmtest.Fault{ErrorCode: "InternalServerError"})
	if st, _, body := paramGet(t, e, "name=/down/other&withDecryption=true"); st != 500 || !strings.Contains(body, "InternalServerError") {
		t.Errorf("uncached while down: %d %s", st, body)
	}
	time.Sleep(1100 * time.Millisecond) // past the TTL: stale, kept within max_stale
	if st, d, _ := paramGet(t, e, "name=/down/pw&withDecryption=true"); st != 200 || d.Parameter.Value != "value-never-logged" {
		t.Errorf("stale value not served: %d", st)
	}
	if !strings.Contains(logs.String(), "parameter request failed") || strings.Contains(logs.String(), "value-never-logged") {
		t.Errorf("logs: %s", logs.String())
	}
	// Parameter Store's failures are the parameters' health, not the
	// secrets': the monitor's window of backend calls holds none of them.
	h := e.a.mon.Health(context.Background())
	if h.Perf.Failures != 0 {
		t.Errorf("the secrets' health counts %d failed Parameter Store calls", h.Perf.Failures)
	}
	for i := range 10 { // enough failures to open a breaker
		paramGet(t, e, fmt.Sprintf("name=/down/more-%d&withDecryption=true", i))
	}
	if c := e.a.mon.Health(context.Background()).Components["parameters"]; c.Status != "degraded" || !strings.Contains(c.Message, "breaker") {
		t.Errorf("parameters component with Parameter Store down: %+v", c)
	}
}
