package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache/smtest"
)

// hermeticAWS points the AWS SDK's default chain at nothing: no region,
// no shared files, static test credentials, no instance metadata.
func hermeticAWS(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "",
	} {
		t.Setenv(k, v)
	}
}

// fakeIMDS serves the two calls of an IMDSv2 region lookup (the SDK reads
// the region from the instance identity document).
func fakeIMDS(t *testing.T, region string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, "imds-token")
		case r.Method == http.MethodGet && r.URL.Path == "/latest/dynamic/instance-identity/document" &&
			r.Header.Get("X-Aws-Ec2-Metadata-Token") == "imds-token":
			io.WriteString(w, `{"region": "`+region+`", "instanceId": "i-0123456789abcdef0", "accountId": "123456789012"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Without a region anywhere else, an EC2 host's region comes from the
// instance metadata service, as the AWS agent and CLI find it.
func TestRegionFromIMDS(t *testing.T) {
	hermeticAWS(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fakeIMDS(t, "eu-north-1").URL)
	cfg := testConfig()
	a, err := New(context.Background(), cfg, WithToken(testToken), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("New on an EC2 host without AWS_REGION: %v", err)
	}
	defer a.Close()
	if info := a.StartInfo().AWS; info == nil || info.Region != "eu-north-1" || !strings.Contains(info.Credentials, "EnvConfigCredentials") {
		t.Errorf("StartInfo %+v", info)
	}
	// The environment wins over IMDS; the configuration over both.
	t.Setenv("AWS_REGION", "ap-south-1")
	for _, c := range []struct{ region, want, from string }{{"", "ap-south-1", "AWS_REGION"}, {"sa-east-1", "sa-east-1", "the configuration"}} {
		cfg.Region = c.region
		a, err := New(context.Background(), cfg, WithToken(testToken), WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if info := a.StartInfo().AWS; info.Region != c.want || !strings.Contains(info.RegionFrom, c.from) {
			t.Errorf("region %q: %+v", c.region, info)
		}
		a.Close()
	}
}

// No region anywhere: a *ConfigError for region saying where one may be
// set, also when the metadata service is off or out of reach.
func TestNoRegion(t *testing.T) {
	hermeticAWS(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, env := range []map[string]string{
		{"AWS_EC2_METADATA_DISABLED": "true"},
		{"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": down.URL},
	} {
		for k, v := range env {
			t.Setenv(k, v)
		}
		start := time.Now()
		_, err := New(context.Background(), testConfig(), WithToken(testToken), WithLogger(testLogger(t)))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "region" || !strings.Contains(err.Error(), "region: no AWS region found: set region (or regions) in the configuration file, --region, or AWS_REGION; on EC2 the instance metadata service tells it") {
			t.Errorf("%v: %v", env, err)
		}
		if d := time.Since(start); d > awsLoadTimeout+time.Second {
			t.Errorf("%v: took %v", env, d)
		}
	}
}

// credentialsProxy is an smtest server behind a proxy that records the
// access key id of each signed request.
type credentialsProxy struct {
	srv  *smtest.Server
	url  string
	mu   sync.Mutex
	keys []string
}

func newCredentialsProxy(t *testing.T) *credentialsProxy {
	p := &credentialsProxy{srv: smtest.NewServer()}
	t.Cleanup(p.srv.Close)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, after, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		key, _, _ := strings.Cut(after, "/")
		p.mu.Lock()
		p.keys = append(p.keys, key)
		p.mu.Unlock()
		p.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.url = hs.URL
	return p
}

func (p *credentialsProxy) lastKey() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return ""
	}
	return p.keys[len(p.keys)-1]
}

func writeCredentials(t *testing.T, path, key string, mtime time.Time) {
	t.Helper()
	doc := "[default]\naws_access_key_id = " + key + "\naws_secret_access_key = secret-of-" + key + "\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// credentials_file_path, as the AWS agent: the agent starts without the
// file, reads it once it appears, re-reads it when it changes, keeps the
// last credentials when it breaks, and never logs a key.
func TestCredentialsFile(t *testing.T) {
	defer func(d time.Duration) { credentialsRecheck = d }(credentialsRecheck)
	credentialsRecheck = 0 // hand credentials out already expired: re-checked at each call
	p := newCredentialsProxy(t)
	if _, err := p.srv.CreateSecret("", "app/key", "v1"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "credentials")
	var logs syncWriter
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := testConfig()
	cfg.CredentialsFilePath = path
	awsCfg := p.srv.AWSConfig("")
	awsCfg.BaseEndpoint = &p.url
	a, err := New(context.Background(), cfg, WithToken(testToken), WithLogger(log), WithAWSConfig(awsCfg))
	if err != nil {
		t.Fatalf("New with a missing credentials file: %v", err)
	}
	defer a.Close()
	if info := a.StartInfo().AWS.Credentials; !strings.Contains(info, "not loaded yet") || !strings.Contains(info, path) {
		t.Errorf("StartInfo credentials %q", info)
	}
	get := func() error { // a call to AWS each time
		_, err := a.Cache().Refresh(context.Background(), "app/key")
		return err
	}
	if err := get(); err == nil {
		t.Error("a read without credentials succeeded")
	}
	t0 := time.Now().Add(-time.Hour)
	writeCredentials(t, path, "AKIDFIRST", t0)
	if err := get(); err != nil || p.lastKey() != "AKIDFIRST" {
		t.Fatalf("after the file appeared: %v, key %q", err, p.lastKey())
	}
	writeCredentials(t, path, "AKIDROTATED", t0.Add(time.Minute))
	if err := get(); err != nil || p.lastKey() != "AKIDROTATED" {
		t.Fatalf("after rotation: %v, key %q", err, p.lastKey())
	}
	// Broken, then missing: the last good credentials stay.
	if err := os.WriteFile(path, []byte("this is not a credentials file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil || p.lastKey() != "AKIDROTATED" {
		t.Errorf("after a broken file: %v, key %q", err, p.lastKey())
	}
	os.Remove(path)
	if err := get(); err != nil || p.lastKey() != "AKIDROTATED" {
		t.Errorf("after removal: %v, key %q", err, p.lastKey())
	}
	out := logs.String()
	for _, want := range []string{"AWS credentials loaded from credentials_file_path", "AWS credentials re-read", "cannot re-read AWS credentials from credentials_file_path; keeping the last ones read"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-of-") {
		t.Errorf("a secret key in the logs:\n%s", out)
	}
	if n := strings.Count(out, "cannot re-read"); n > 2 {
		t.Errorf("the broken file was logged %d times", n)
	}
}

// The credentials file follows the rule of the agent's key files: writable
// by every user is refused at start; more than owner-only is a warning, as
// the AWS agent warns.
func TestCredentialsFileModes(t *testing.T) {
	hermeticAWS(t)
	t.Setenv("AWS_REGION", "us-east-1")
	path := filepath.Join(t.TempDir(), "credentials")
	writeCredentials(t, path, "AKIDFILE", time.Now())
	cfg := testConfig()
	cfg.CredentialsFilePath = path
	for _, c := range []struct {
		mode       os.FileMode
		warn, fail string
	}{
		{0o600, "", ""},
		{0o640, "credentials file is more permissive than owner-only (0600)", ""},
		{0o666, "", "credentials_file_path: credentials file " + path + " is writable by every user"},
	} {
		_ = os.Chmod(path, c.mode)
		var logs syncWriter
		log := slog.New(slog.NewTextHandler(&logs, nil))
		a, err := New(context.Background(), cfg, WithToken(testToken), WithLogger(log))
		if c.fail != "" {
			if err == nil || !strings.Contains(err.Error(), c.fail) {
				t.Errorf("%o: %v, want %q", c.mode, err, c.fail)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%o: %v", c.mode, err)
		}
		if info := a.StartInfo().AWS.Credentials; !strings.Contains(info, "(loaded;") {
			t.Errorf("%o: %q", c.mode, info)
		}
		a.Close()
		if got := strings.Contains(logs.String(), "more permissive"); got != (c.warn != "") {
			t.Errorf("%o: logs %q", c.mode, logs.String())
		}
	}
}
