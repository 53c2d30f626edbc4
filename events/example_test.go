package events_test

import (
	"context"
	"fmt"
	"time"

	"github.com/secretcache/secretcache/events"
)

func ExampleParse() {
	ev, err := events.Parse([]byte(`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail",
		"detail":{"eventSource":"secretsmanager.amazonaws.com","eventName":"PutSecretValue",
		"requestParameters":{"secretId":"app/db"},
		"responseElements":{"arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf","versionId":"v2"}}}`))
	fmt.Println(ev.Action, ev.SecretID, ev.VersionID, err)
	_, err = events.Parse([]byte(`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`))
	fmt.Println(err)
	_, err = events.Parse([]byte(`password=hunter2`))
	fmt.Println(err)
	// Output:
	// PutSecretValue arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf v2 <nil>
	// events: not a Secrets Manager change
	// events: message is not an EventBridge event (not a JSON object)
}

// A consumer calls its handler once per event; with a fleet the handler is
// fleet.Source.Notify, on one host without a fleet events.RefreshCache.
func ExampleNewConsumer() {
	c, err := events.NewConsumer(fakeSQS{}, "https://sqs.us-east-1.amazonaws.com/123456789012/secretcache-events",
		func(ctx context.Context, ev events.Event) error {
			fmt.Println("refresh", ev.SecretID)
			return nil
		}, events.WithWaitTime(20*time.Second))
	fmt.Println(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(c.Run(ctx)) // fakeSQS always fails: Run retries until ctx ends
	// Output:
	// <nil>
	// context deadline exceeded
}
