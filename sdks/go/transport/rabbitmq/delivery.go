package rabbitmq

import (
	"context"
	"math"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

// delivery is one message handed to a handler, settled at most once. A settlement the broker
// refuses (a nack of the copy, a lost channel) leaves it pending, so the handler may try again.
type delivery struct {
	consumer *consumer
	ch       *amqp.Channel
	message  amqp.Delivery
	ctx      context.Context
	cancel   context.CancelFunc

	attempt int
	key     string
	headers map[string]string

	settlement brokerkit.Settlement
}

func newDelivery(c *consumer, ch *amqp.Channel, message amqp.Delivery) *delivery {
	ctx, cancel := context.WithCancel(context.Background())
	attempt, key, headers := readMessage(message.Headers, message.Redelivered)
	return &delivery{consumer: c, ch: ch, message: message, ctx: ctx, cancel: cancel, attempt: attempt, key: key, headers: headers}
}

// readMessage reads a delivery's attempt (attempts made before this copy, x-thrun-attempts, + the
// broker's redeliveries of it + 1), its key and its text headers.
func readMessage(table amqp.Table, redelivered bool) (attempt int, key string, headers map[string]string) {
	before := nonNegative(table[headerAttempts])
	redeliveries := 0
	if count, ok := table[headerDeliveryCount]; ok {
		redeliveries = nonNegative(count) // quorum queues count returns; classic ones only flag them
	} else if redelivered {
		redeliveries = 1
	}
	for name, value := range table {
		if text, ok := textOf(value); ok {
			if headers == nil {
				headers = map[string]string{}
			}
			headers[name] = text
		}
	}
	key, _ = textOf(table[headerKey])
	return before + redeliveries + 1, key, headers
}

func textOf(value any) (string, bool) {
	switch v := value.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// nonNegative reads an AMQP integer of any width; anything else, or a negative value, reads as 0.
func nonNegative(value any) int {
	var n int64
	switch v := value.(type) {
	case int8:
		n = int64(v)
	case int16:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case int:
		n = int64(v)
	case uint8:
		n = int64(v)
	case uint16:
		n = int64(v)
	case uint32:
		n = int64(v)
	default:
		return 0
	}
	if n <= 0 || n > math.MaxInt32 {
		return 0
	}
	return int(n)
}

func (d *delivery) Body() []byte               { return d.message.Body }
func (d *delivery) Queue() string              { return d.consumer.queue }
func (d *delivery) Attempt() int               { return d.attempt }
func (d *delivery) Key() string                { return d.key }
func (d *delivery) Headers() map[string]string { return d.headers }

// Ack removes the message for good. On a lost channel it does nothing: the broker redelivers it.
func (d *delivery) Ack(ctx context.Context) error {
	return d.settle(func() error {
		_ = d.message.Ack(false)
		return nil
	})
}

// Retry publishes a copy (confirmed) and then acks the original: to the group's queue at once, or
// through the group's retry bucket, which dead-letters it back to the group's queue only.
func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	return d.settle(func() error {
		if err := d.consumer.transport.publishRetry(ctx, d.consumer.queue, d.consumer.group, d.copyHeaders(), d.message.Body, delay); err != nil {
			return err
		}
		_ = d.message.Ack(false)
		return nil
	})
}

// DeadLetter publishes the original bytes to <queue>.dead with the thrun-dead-* headers, then acks.
func (d *delivery) DeadLetter(ctx context.Context, reason transport.DeadLetterReason) error {
	return d.settle(func() error {
		if err := d.consumer.transport.publishDeadLetter(ctx, d.consumer.queue, d.message.Body, reason, d.attempt); err != nil {
			return err
		}
		_ = d.message.Ack(false)
		return nil
	})
}

// copyHeaders are the delivery's text headers (a kept dead letter's description, a producer's own),
// with the attempt made so far and the key.
func (d *delivery) copyHeaders() amqp.Table {
	table := amqp.Table{}
	for name, value := range d.headers {
		table[name] = value
	}
	table[headerAttempts] = smallestInt(int64(d.attempt))
	if d.key != "" {
		table[headerKey] = d.key
	} else {
		delete(table, headerKey)
	}
	return table
}

func (d *delivery) settle(action func() error) error {
	return d.settlement.Settle(action, brokerkit.Settled)
}

func (d *delivery) isPending() bool { return d.settlement.State() == brokerkit.Pending }

// again readies a delivery left pending after a refusal to run once more, as the next attempt.
func (d *delivery) again() bool {
	if !d.settlement.Again() {
		return false
	}
	d.attempt++
	return true
}

// release hands a still-unsettled delivery back to the broker at the drain deadline: it comes back
// as the next attempt, whatever its handler does later.
func (d *delivery) release() {
	d.settlement.Release(func() {
		d.cancel()
		_ = d.message.Nack(false, true)
	})
}
