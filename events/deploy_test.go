package events_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/secretcache/secretcache/events"
)

const template = "../deploy/cloudformation/secretcache-events.json"

// The CloudFormation template passes cfn-lint.
func TestTemplateLints(t *testing.T) {
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint not found (CI=true: it is required; pip install cfn-lint)")
		}
		t.Skip("cfn-lint not found")
	}
	if out, err := exec.Command(path, template).CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", template, err, out)
	}
}

// The template's rules route every shape the parser understands to the
// queue, and nothing else (checked by moto's EventBridge).
func TestTemplateRulesRouteTheShapes(t *testing.T) {
	b, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string
			Properties struct{ EventPattern json.RawMessage }
		}
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, r := range tpl.Resources {
		if r.Type == "AWS::Events::Rule" {
			patterns = append(patterns, string(r.Properties.EventPattern))
		}
	}
	if len(patterns) != 2 {
		t.Fatalf("%d rules in the template, want 2", len(patterns))
	}
	p := newPipelineWith(t, patterns...)
	want := 0
	for name, tc := range shapes {
		var env struct {
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal([]byte(tc.body), &env); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "rotation service details" {
			continue // carries no eventSource: not matched by the rule (AWS always sends one)
		}
		p.put(t, env.DetailType, string(env.Detail))
		want++
	}
	p.put(t, "AWS API Call via CloudTrail", `{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","requestParameters":{"secretId":"a"}}`)
	got := 0
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && got < want+1; {
		out, err := p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && got >= want {
			break
		}
		for _, m := range out.Messages {
			got++
			if _, err := events.Parse([]byte(aws.ToString(m.Body))); err != nil {
				t.Errorf("a routed message does not parse: %v (%s)", err, strings.SplitN(aws.ToString(m.Body), `"detail"`, 2)[0])
			}
		}
	}
	if got != want {
		t.Errorf("%d messages routed, want %d (the GetSecretValue call must not be)", got, want)
	}
}
