package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/secretcache/secretcache/events"
)

// Every shape goes rule -> queue -> consumer; junk is dropped; a failing
// handler leaves its message in the queue until it succeeds.
func TestConsumerThroughEventBridgeAndSQS(t *testing.T) {
	p := newPipeline(t)
	var mu sync.Mutex
	var got []events.Event
	failOnce := true
	h := func(_ context.Context, ev events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.Action == "DeleteSecret" && failOnce {
			failOnce = false
			return errors.New("transient")
		}
		got = append(got, ev)
		return nil
	}
	c, err := events.NewConsumer(p.sqs, p.queue, h, events.WithWaitTime(time.Second), events.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	p.put(t, "Secret Label Updated", `{"name":"app/db","arn":"`+arn+`","versionId":"v2","labelUpdated":"AWSCURRENT"}`)
	p.put(t, "AWS API Call via CloudTrail", `{"eventSource":"secretsmanager.amazonaws.com","eventName":"DeleteSecret","requestParameters":{"secretId":"app/db"}}`)
	p.put(t, "AWS API Call via CloudTrail", `{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","requestParameters":{"secretId":"app/db"}}`)
	p.sendRaw(t, "not json at all")
	p.sendRaw(t, `{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":{"name":""}}`)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st := c.Stats()
		if st.Handled == 2 && st.Dropped == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := c.Stats()
	if st.Handled != 2 || st.Dropped != 3 || st.Failed != 1 {
		t.Fatalf("stats %+v, want 2 handled, 3 dropped, 1 failure (the message came back)", st)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if d := p.depth(t); d != "0/0" {
		t.Errorf("queue depth %s after the run, want 0/0 (everything deleted)", d)
	}
}

func TestNewConsumerRefusesBadArguments(t *testing.T) {
	h := func(context.Context, events.Event) error { return nil }
	if _, err := events.NewConsumer(nil, "q", h); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := events.NewConsumer(fakeSQS{}, "", h); err == nil {
		t.Error("empty queue accepted")
	}
	if _, err := events.NewConsumer(fakeSQS{}, "q", nil); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := events.NewConsumer(fakeSQS{}, "q", h, events.WithWaitTime(time.Minute)); err == nil {
		t.Error("wait of a minute accepted")
	}
}

// SQS unavailable: Run keeps trying with backoff, counts the failures,
// never panics, and returns when its context ends.
func TestConsumerSurvivesSQSDown(t *testing.T) {
	c, err := events.NewConsumer(fakeSQS{}, "q", func(context.Context, events.Event) error { return nil }, events.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run returned %v", err)
	}
	if n := c.Stats().ReceiveErrors; n < 1 || n > 3 {
		t.Errorf("%d receive errors in 1.5 s, want 1 to 3 (backoff from 1 s)", n)
	}
}
