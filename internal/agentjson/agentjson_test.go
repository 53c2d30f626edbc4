package agentjson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/secretcache/secretcache"
)

func TestAppendSecretLayout(t *testing.T) {
	s := &secretcache.Secret{ARN: "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTest-NhBWsc", Name: "MyTest",
		VersionID: "5767290c-d089-49ed-b97c-17086f8c9d79", VersionStages: []string{"AWSCURRENT"}, String: "hunter2",
		CreatedDate: time.Unix(1569534789, 46e6)}
	want := `{"ARN":"arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTest-NhBWsc","Name":"MyTest","VersionId":"5767290c-d089-49ed-b97c-17086f8c9d79","SecretString":"hunter2","VersionStages":["AWSCURRENT"],"CreatedDate":"1569534789.046"}`
	if got := string(AppendSecret(nil, s)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Missing metadata: null, as the AWS agent's serializer writes it.
	got := string(AppendSecret(nil, &secretcache.Secret{String: ""}))
	if got != `{"ARN":null,"Name":null,"VersionId":null,"SecretString":"","CreatedDate":null}` {
		t.Errorf("empty secret: %s", got)
	}
	got = string(AppendSecret(nil, &secretcache.Secret{Binary: []byte{0xfb, 0xff}, CreatedDate: time.Unix(10, 0)}))
	if got != `{"ARN":null,"Name":null,"VersionId":null,"SecretBinary":"+/8=","CreatedDate":"10"}` {
		t.Errorf("binary: %s", got)
	}
}

func TestAppendEpoch(t *testing.T) {
	for sec, want := range map[time.Time]string{
		time.Unix(1569534789, 46e6):  "1569534789.046",
		time.Unix(1729509676, 851e6): "1729509676.851",
		time.Unix(1700000000, 0):     "1700000000",
		time.Unix(1700000000, 5e8):   "1700000000.5",
	} {
		if got := string(appendEpoch(nil, sec)); got != want {
			t.Errorf("%v: %s, want %s", sec, got, want)
		}
	}
}

func TestAppendError(t *testing.T) {
	for _, c := range []struct{ code, msg, want string }{
		{"ResourceNotFoundException", "Secrets Manager can't find the specified secret.", `{"__type":"ResourceNotFoundException", "message":"Secrets Manager can't find the specified secret."}`},
		{"InternalFailure", "anything", `{"__type":"InternalFailure"}`},
		{"X", "", `{"__type":"InternalFailure"}`},
		{"X", `say "hi"`, `{"__type":"X", "message":"say \"hi\""}`},
	} {
		if got := string(AppendError(nil, c.code, c.msg)); got != c.want {
			t.Errorf("AppendError(%q, %q) = %s, want %s", c.code, c.msg, got, c.want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\t\x00\x1f\x7f", "é漢\u2028", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %s", s, b)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}

// AppendSecret writes the AWS agent's JSON.
func ExampleAppendSecret() {
	s := &secretcache.Secret{ARN: "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTest-NhBWsc", Name: "MyTest",
		VersionID: "5767290c-d089-49ed-b97c-17086f8c9d79", VersionStages: []string{"AWSCURRENT"},
		String: "hunter2", CreatedDate: time.Unix(1569534789, 46e6)}
	fmt.Println(string(AppendSecret(nil, s)))
	// Output:
	// {"ARN":"arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTest-NhBWsc","Name":"MyTest","VersionId":"5767290c-d089-49ed-b97c-17086f8c9d79","SecretString":"hunter2","VersionStages":["AWSCURRENT"],"CreatedDate":"1569534789.046"}
}

func TestParseSecretRoundTrip(t *testing.T) {
	for _, s := range []*secretcache.Secret{
		{ARN: "arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf", Name: "a", VersionID: "v1", VersionStages: []string{"AWSCURRENT"}, String: "x\"\n\u00e9", CreatedDate: time.Unix(1569534789, 46e6).UTC()},
		{Name: "b", Binary: []byte{0, 1, 2}},
	} {
		got, err := ParseSecret(AppendSecret(nil, s))
		if err != nil || got.Name != s.Name || got.ARN != s.ARN || got.VersionID != s.VersionID || got.String != s.String ||
			string(got.Binary) != string(s.Binary) || !got.CreatedDate.Equal(s.CreatedDate) || len(got.VersionStages) != len(s.VersionStages) {
			t.Errorf("round trip of %v: %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "nope", `{"Name":"a"}`, `{"SecretString":"a","SecretBinary":"AA=="}`, `{"SecretBinary":"%%%"}`} {
		if _, err := ParseSecret([]byte(bad)); err == nil || strings.Contains(err.Error(), "%%%") {
			t.Errorf("ParseSecret(%q): %v", bad, err)
		}
	}
}
