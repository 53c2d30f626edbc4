package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/backoff"
)

// SQS is the part of the SQS client a Consumer uses (*sqs.Client has it).
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Handler acts on one event; an error leaves the message in the queue, to
// come back after its visibility timeout. It must be idempotent: SQS
// delivers at least once.
type Handler func(ctx context.Context, ev Event) error

// Consumer long-polls one queue. Build it with NewConsumer.
type Consumer struct {
	client                                  SQS
	queue                                   string
	handle                                  Handler
	wait                                    int32
	logger                                  *slog.Logger
	handled, dropped, failed, receiveErrors atomic.Int64
}

// Stats counts the consumer's work since NewConsumer.
type Stats struct {
	Handled       int64 `json:"handled"`        // messages handled and deleted
	Dropped       int64 `json:"dropped"`        // malformed or foreign messages, deleted
	Failed        int64 `json:"failed"`         // handler failures (the message comes back)
	ReceiveErrors int64 `json:"receive_errors"` // failed ReceiveMessage calls
}

// Stats returns the counters.
func (c *Consumer) Stats() Stats {
	return Stats{Handled: c.handled.Load(), Dropped: c.dropped.Load(), Failed: c.failed.Load(),
		ReceiveErrors: c.receiveErrors.Load()}
}

// ConsumerOption configures NewConsumer.
type ConsumerOption func(*Consumer) error

// WithWaitTime sets the long poll's wait, 1 to 20 seconds (default 20).
func WithWaitTime(d time.Duration) ConsumerOption {
	return func(c *Consumer) error {
		if d < time.Second || d > 20*time.Second {
			return fmt.Errorf("events: wait time must be 1s to 20s, got %v", d)
		}
		c.wait = int32(d / time.Second)
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) ConsumerOption {
	return func(c *Consumer) error {
		if l == nil {
			return errors.New("events: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// NewConsumer returns a consumer of the queue at queueURL calling h. A nil
// client or handler, or an empty queue URL, is an error.
func NewConsumer(client SQS, queueURL string, h Handler, opts ...ConsumerOption) (*Consumer, error) {
	switch {
	case client == nil:
		return nil, errors.New("events: SQS client is nil")
	case queueURL == "":
		return nil, errors.New("events: queue URL is empty")
	case h == nil:
		return nil, errors.New("events: handler is nil")
	}
	c := &Consumer{client: client, queue: queueURL, handle: h, wait: 20, logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("events: nil option")
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run receives and handles messages until ctx ends, and returns ctx's
// error. SQS failures are logged and retried with backoff (1 s to 1 min);
// they never end Run.
func (c *Consumer) Run(ctx context.Context) error {
	fails := 0
	for ctx.Err() == nil {
		out, err := c.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(c.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: c.wait,
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fails++
			c.receiveErrors.Add(1)
			d := backoff.Delay(time.Second, time.Minute, fails)
			c.logger.Warn("events: receive failed; retrying", "err", err, "in", d)
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			continue
		}
		fails = 0
		for _, m := range out.Messages {
			c.one(ctx, m)
		}
	}
	return ctx.Err()
}

func (c *Consumer) one(ctx context.Context, m types.Message) {
	id := aws.ToString(m.MessageId)
	ev, err := Parse([]byte(aws.ToString(m.Body)))
	if err != nil {
		c.dropped.Add(1)
		c.logger.Info("events: message dropped", "message_id", id, "why", err)
		c.delete(ctx, m)
		return
	}
	if err := c.safeHandle(ctx, ev); err != nil {
		c.failed.Add(1)
		c.logger.Warn("events: handler failed; the message will come back", "message_id", id,
			"action", ev.Action, "kind", secretcache.KindName(err))
		return
	}
	c.handled.Add(1)
	c.delete(ctx, m)
}

func (c *Consumer) safeHandle(ctx context.Context, ev Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("events: handler panicked: %w", secretcache.ErrUnavailable)
		}
	}()
	return c.handle(ctx, ev)
}

func (c *Consumer) delete(ctx context.Context, m types.Message) {
	if _, err := c.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl: aws.String(c.queue), ReceiptHandle: m.ReceiptHandle,
	}); err != nil && ctx.Err() == nil {
		c.logger.Warn("events: delete failed; the message will come back", "message_id", aws.ToString(m.MessageId), "err", err)
	}
}

// RefreshCache returns a Handler for one host without a fleet: it
// refreshes every entry of c that reads the event's secret (by nameOf, the
// source's Description.NameOf; nil: exact ids).
func RefreshCache(c *secretcache.Cache, nameOf func(string) string) Handler {
	if nameOf == nil {
		nameOf = func(id string) string { return id }
	}
	return func(ctx context.Context, ev Event) error {
		want := nameOf(ev.SecretID)
		var errs []error
		for e := range c.Entries() {
			if e.Ref.VersionID != "" || (nameOf(e.Ref.ID) != want && e.Ref.ID != ev.SecretID) {
				continue
			}
			var opts []secretcache.GetOption
			if e.Ref.VersionStage != "" {
				opts = append(opts, secretcache.WithVersionStage(e.Ref.VersionStage))
			}
			if _, err := c.Refresh(ctx, e.Ref.ID, opts...); err != nil && !secretcache.IsPermanent(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}
