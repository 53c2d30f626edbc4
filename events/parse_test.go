package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/secretcache/secretcache/events"
)

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"

// Shapes as AWS sends them through EventBridge (trimmed to the fields that
// matter; values in CloudTrail are never present: AWS hides SecretString).
var shapes = map[string]struct {
	body    string
	id, ver string
}{
	"label updated": {`{"version":"0","source":"aws.secretsmanager","detail-type":"Secret Label Updated",
		"detail":{"name":"app/db","arn":"` + arn + `","versionId":"v2","labelUpdated":"AWSCURRENT"}}`, arn, "v2"},
	"put value": {`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{
		"eventSource":"secretsmanager.amazonaws.com","eventName":"PutSecretValue",
		"requestParameters":{"secretId":"app/db","secretString":"HIDDEN_DUE_TO_SECURITY_REASONS"},
		"responseElements":{"arn":"` + arn + `","versionId":"v3"}}}`, arn, "v3"},
	"update stage aRN": {`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{
		"eventSource":"secretsmanager.amazonaws.com","eventName":"UpdateSecretVersionStage",
		"requestParameters":{"secretId":"app/db","versionStage":"AWSCURRENT","moveToVersionId":"v4"},
		"responseElements":{"aRN":"` + arn + `"}}}`, arn, "v4"},
	"delete by id": {`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{
		"eventSource":"secretsmanager.amazonaws.com","eventName":"DeleteSecret","requestParameters":{"secretId":"app/db"}}}`, "app/db", ""},
	"rotation succeeded": {`{"source":"aws.secretsmanager","detail-type":"AWS Service Event via CloudTrail","detail":{
		"eventSource":"secretsmanager.amazonaws.com","eventName":"RotationSucceeded",
		"additionalEventData":{"SecretId":"` + arn + `"}}}`, arn, ""},
	"rotation service details": {`{"source":"aws.secretsmanager","detail-type":"AWS Service Event via CloudTrail","detail":{
		"eventName":"RotationSucceeded","serviceEventDetails":{"secretId":"` + arn + `"}}}`, arn, ""},
}

func TestParseShapes(t *testing.T) {
	for name, tc := range shapes {
		ev, err := events.Parse([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ev.SecretID != tc.id || ev.VersionID != tc.ver {
			t.Errorf("%s: got %+v, want id %q version %q", name, ev, tc.id, tc.ver)
		}
	}
	for _, call := range []string{"UpdateSecret", "RestoreSecret", "RotateSecret"} {
		body := `{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{
			"eventSource":"secretsmanager.amazonaws.com","eventName":"` + call + `","requestParameters":{"secretId":"app/db"}}}`
		if ev, err := events.Parse([]byte(body)); err != nil || ev.SecretID != "app/db" || ev.Action != call {
			t.Errorf("%s: %+v %v", call, ev, err)
		}
	}
}

func TestParseHostile(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"empty", ``, "empty"},
		{"huge", `{"a":"` + strings.Repeat("x", events.MaxBody) + `"}`, "over the limit"},
		{"not json", `hunter2 is the password`, "not an EventBridge event"},
		{"array", `[1,2]`, "not an EventBridge event"},
		{"no detail", `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated"}`, "without a detail"},
		{"detail string", `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":"x"}`, "without a detail"},
		{"no id", `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":{}}`, "names no valid secret"},
		{"bad id", `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":{"name":"a b\u0000"}}`, "names no valid secret"},
		{"long id", `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":{"name":"` + strings.Repeat("n", 3000) + `"}}`, "names no valid secret"},
		{"id number", `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":{"name":7}}`, "without a detail"},
	} {
		_, err := events.Parse([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error quotes the body", tc.name)
		}
	}
	for _, body := range []string{
		`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`,
		`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","requestParameters":{"secretId":"a"}}}`,
		`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"kms.amazonaws.com","eventName":"PutSecretValue","requestParameters":{"secretId":"a"}}}`,
		`{"source":"aws.secretsmanager","detail-type":"AWS Service Event via CloudTrail","detail":{"eventName":"RotationFailed"}}`,
		`{"source":"aws.secretsmanager","detail-type":"Something New","detail":{}}`,
	} {
		if _, err := events.Parse([]byte(body)); !errors.Is(err, events.ErrForeign) {
			t.Errorf("%s: err %v, want ErrForeign", body, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range shapes {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"source":"aws.secretsmanager","detail":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := events.Parse(b)
		if err == nil && ev.SecretID == "" {
			t.Fatal("an event without a secret id accepted")
		}
	})
}
