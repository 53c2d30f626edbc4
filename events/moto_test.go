package events_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/secretcache/secretcache/internal/mototest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestMain(m *testing.M) { mototest.Main(m) }

// motoURL returns the moto_server of this package's tests (SQS and
// EventBridge; see mototest).
func motoURL(t testing.TB) string {
	t.Helper()
	return mototest.URL(t)
}

func awsConfig(url string) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}

// pipeline is a queue fed by an EventBridge rule matching Secrets Manager
// events, as deploy/ sets it up.
type pipeline struct {
	sqs   *sqs.Client
	eb    *eventbridge.Client
	queue string
}

func newPipeline(t testing.TB) *pipeline {
	t.Helper()
	return newPipelineWith(t, `{"source":["aws.secretsmanager"]}`)
}

// newPipelineWith routes to a new queue the events matching any of the
// patterns (one rule each).
func newPipelineWith(t testing.TB, patterns ...string) *pipeline {
	t.Helper()
	url := motoURL(t)
	cfg := awsConfig(url)
	p := &pipeline{sqs: sqs.NewFromConfig(cfg), eb: eventbridge.NewFromConfig(cfg)}
	ctx := context.Background()
	name := fmt.Sprintf("sc-events-%d", time.Now().UnixNano())
	q, err := p.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "1"}}) // a failed message comes back in 1 s
	if err != nil {
		t.Fatal(err)
	}
	p.queue = aws.ToString(q.QueueUrl)
	attrs, err := p.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for i, pat := range patterns {
		rule := fmt.Sprintf("%s-%d", name, i)
		rules = append(rules, rule)
		if _, err := p.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventPattern: aws.String(pat)}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), Targets: []ebtypes.Target{
			{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, rule := range rules {
			_, _ = p.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), Ids: []string{"queue"}})
			_, _ = p.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule)})
		}
		_, _ = p.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	})
	return p
}

// put sends an event as AWS would. moto does not emit Secrets Manager
// events itself, so the tests put, with PutEvents, the events AWS sends
// (source aws.secretsmanager, CloudTrail detail types); the rule routes
// them to the queue as it would in AWS.
func (p *pipeline) put(t testing.TB, detailType, detail string) {
	t.Helper()
	out, err := p.eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.secretsmanager"), DetailType: aws.String(detailType), Detail: aws.String(detail)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v (failed %d)", err, out.FailedEntryCount)
	}
}

func (p *pipeline) sendRaw(t testing.TB, body string) {
	t.Helper()
	if _, err := p.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(p.queue), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

func (p *pipeline) depth(t testing.TB) string {
	t.Helper()
	a, err := p.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(p.queue),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Attributes["ApproximateNumberOfMessages"] + "/" + a.Attributes["ApproximateNumberOfMessagesNotVisible"]
}
