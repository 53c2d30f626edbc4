package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agent --dev serves the demo parameters, or those of --dev-parameters,
// and /aws/reference/secretsmanager/ names from the dev secrets; a bad
// file is a usage error naming the flag and the parameter, not its value.
func TestAgentDevParameters(t *testing.T) {
	api, _, token, wait := devAgent(t, nil)
	hdr := "X-Aws-Parameters-Secrets-Token: " + token
	if st, body := httpGet(t, api+"/systemsmanager/parameters/get?name=/demo/db/password&withDecryption=true", hdr); st != 200 ||
		!strings.Contains(body, `"Value":"demo-parameter-not-secret"`) || !strings.Contains(body, `"Type":"SecureString"`) {
		t.Errorf("demo parameter: %d %s", st, body)
	}
	if st, body := httpGet(t, api+"/systemsmanager/parameters/get?name=/aws/reference/secretsmanager/demo/api-key&withDecryption=true", hdr); st != 200 ||
		!strings.Contains(body, `"Value":"demo-api-key-0123456789"`) {
		t.Errorf("reference: %d %s", st, body)
	}
	if code, out := wait(); code != 0 || !strings.Contains(out, "/systemsmanager/parameters/get?name=") {
		t.Errorf("banner: %d %q", code, out)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "params.json")
	if err := os.WriteFile(file, []byte(`{"/app/a": "one", "/app/s": {"type": "SecureString", "value": "two"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	api, _, token, wait = devAgent(t, nil, "--dev-parameters", file)
	hdr = "X-Aws-Parameters-Secrets-Token: " + token
	if st, body := httpGet(t, api+"/systemsmanager/parameters/get?name=/app/s&withDecryption=true", hdr); st != 200 || !strings.Contains(body, `"Value":"two"`) {
		t.Errorf("file parameter: %d %s", st, body)
	}
	if st, _ := httpGet(t, api+"/systemsmanager/parameters/get?name=/demo/config/url", hdr); st != 400 {
		t.Errorf("demo parameter present with --dev-parameters: %d", st)
	}
	wait()

	for doc, want := range map[string]string{
		`{"/x": 5}`: `parameter "/x": want a string`,
		`{"/x": {"type": "Bad", "value": "secretv"}}`: `parameter "/x": type must be`,
		`{"bad name": "secretv"}`:                     `parameter "bad name"`,
		`[1,`:                                         "invalid JSON",
	} {
		bad := filepath.Join(dir, "bad.json")
		_ = os.WriteFile(bad, []byte(doc), 0o600)
		code, _, errOut := runCLI(context.Background(), nil, "agent", "--dev", "--port", "0", "--admin-addr", "off", "--dev-parameters", bad)
		if code != exitUsage || !strings.Contains(errOut, "--dev-parameters "+bad) || !strings.Contains(errOut, want) || strings.Contains(errOut, "secretv") {
			t.Errorf("%s: %d %q", doc, code, errOut)
		}
	}
}
