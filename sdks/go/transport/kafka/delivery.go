package kafka

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

// delivery is one record of <queue> handed to a handler, settled at most once. Whatever a
// settlement writes is acknowledged by the broker before the record counts as done; a write that
// fails leaves it pending, so the handler may try again.
type delivery struct {
	consumer *consumer
	record   *kgo.Record
	key      string
	hasKey   bool
	attempt  int
	ctx      context.Context
	cancel   context.CancelFunc

	settlement brokerkit.Settlement

	outcome     chan outcome // receives the outcome once
	outcomeOnce sync.Once
}

func newDelivery(c *consumer, record *kgo.Record, key string, hasKey bool, attempt int) *delivery {
	ctx, cancel := context.WithCancel(context.Background())
	return &delivery{consumer: c, record: record, key: key, hasKey: hasKey, attempt: attempt, ctx: ctx, cancel: cancel, outcome: make(chan outcome, 1)}
}

func (d *delivery) finish(result outcome) {
	d.outcomeOnce.Do(func() { d.outcome <- result })
}

func (d *delivery) Body() []byte               { return d.record.Value }
func (d *delivery) Queue() string              { return d.consumer.queue }
func (d *delivery) Attempt() int               { return d.attempt }
func (d *delivery) Key() string                { return d.key }
func (d *delivery) Headers() map[string]string { return textHeaders(d.record) }

// run calls the handler; one that returns leaving its delivery pending has it retried at once,
// except after a refused settlement (that would meet the same refusal in a loop): then the record
// stays unfinished and its partition is read again after a backoff.
func (d *delivery) run() {
	defer d.cancel()
	_ = d.invoke()
	if d.settlement.State() == brokerkit.Pending && !d.settlement.Refused() {
		_ = d.Retry(d.ctx, 0)
	}
	if d.settlement.State() == brokerkit.Pending {
		d.finish(undone)
	} else {
		d.finish(done)
	}
}

func (d *delivery) invoke() (err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			err = &TransportError{Transport: transportName, Code: "handler_panic", Message: "the handler panicked"}
		}
	}()
	return d.consumer.handler(d.ctx, d)
}

// Ack: nothing is written; the offset may pass the record once the records before it are done.
func (d *delivery) Ack(ctx context.Context) error {
	return d.settlement.Settle(func() error { return nil }, brokerkit.Settled)
}

// Retry writes a copy for this group only, as attempt + 1: to <queue> at once, or with
// thrun-due-at to <queue>.retry.
func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	return d.settlement.Settle(func() error { return d.sendCopy(ctx, delay) }, brokerkit.Settled)
}

// DeadLetter writes the original key and value to <queue>.dead with the five thrun-dead-* headers
// and thrun-failed-group, and no others.
func (d *delivery) DeadLetter(ctx context.Context, reason transport.DeadLetterReason) error {
	return d.settlement.Settle(func() error {
		c := d.consumer
		dead := deadTopic(c.queue)
		if err := c.transport.ensureTopics(ctx, dead); err != nil {
			return err
		}
		headers := []kgo.RecordHeader{}
		for _, name := range deadLetterHeaderOrder {
			headers = append(headers, kgo.RecordHeader{Key: name, Value: nil})
		}
		description := transport.NewDeadLetterDescription(c.queue, reason, d.attempt, time.Now()).Headers()
		for i := range headers {
			headers[i].Value = []byte(description[headers[i].Key])
		}
		headers = append(headers, kgo.RecordHeader{Key: headerFailedGroup, Value: []byte(c.group)})
		return c.transport.produce(ctx, &kgo.Record{Topic: dead, Key: d.record.Key, Value: d.record.Value, Headers: headers})
	}, brokerkit.Settled)
}

var deadLetterHeaderOrder = []string{transport.HeaderDeadQueue, transport.HeaderDeadErrorCode, transport.HeaderDeadErrorMessage, transport.HeaderDeadAttempts, transport.HeaderDeadFailedAt}

// sendCopy keeps the record's own headers (a kept dead letter's description, a producer's).
func (d *delivery) sendCopy(ctx context.Context, delay time.Duration) error {
	c := d.consumer
	set := map[string]string{headerGroup: c.group, headerAttempt: strconv.Itoa(d.attempt + 1)}
	topic := c.queue
	if delay > 0 {
		topic = retryTopic(c.queue)
		set[headerDueAt] = strconv.FormatInt(time.Now().Add(delay).UnixMilli(), 10)
	}
	return c.transport.produce(ctx, &kgo.Record{Topic: topic, Key: d.record.Key, Value: d.record.Value, Headers: withHeaders(d.record.Headers, set, headerDueAt)})
}

// release hands the record back at the drain deadline as its next attempt, whatever the handler
// does later. Kafka cannot give a record back, so that is a retry(0) copy; then the offset may pass it.
func (d *delivery) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.settlement.Settle(func() error { return d.sendCopy(ctx, 0) }, brokerkit.Released); err == nil {
		d.cancel()
		d.finish(done)
	}
}
