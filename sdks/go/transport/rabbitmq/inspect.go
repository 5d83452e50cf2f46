package rabbitmq

import (
	"context"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

var (
	_ transport.Peeker = (*Transport)(nil)
	_ transport.Purger = (*Transport)(nil)
)

// Peek lists up to limit messages waiting in a classic queue (dead-letter queues always are),
// oldest first. AMQP cannot look without taking: Peek takes them with basic.get and gives them all
// back, in place, by closing its channel. Meanwhile consumers do not see them, and each look counts
// as a delivery (the redelivered flag), so a peeked message's next attempt is one higher: meant for
// dead-letter tooling, where the attempts are recorded in the headers.
func (t *Transport) Peek(ctx context.Context, queue string, limit int) ([]transport.QueuedMessage, error) {
	if t.queueTypeOf(queue) == "quorum" {
		return nil, &TransportError{Transport: transportName, Code: "unsupported_feature", Message: "Peek works on classic queues only (dead-letter queues always are, or set QueueType classic): a quorum queue would reorder what Peek gives back", Kind: transport.ErrUnsupported}
	}
	var found []transport.QueuedMessage
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
			if strings.Contains(err.Error(), "NOT_FOUND") {
				return nil // no such queue: nothing waits in it
			}
			return err
		}
		for len(found) < limit {
			message, ok, err := ch.Get(queue, false)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			_, key, headers := readMessage(message.Headers, false)
			found = append(found, transport.QueuedMessage{Body: message.Body, Key: key, Headers: headers})
		}
		return nil
	})
	return found, err
}

// Purge removes every message waiting in queue and returns how many it removed.
func (t *Transport) Purge(ctx context.Context, queue string) (int, error) {
	var count int
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": t.queueTypeOf(queue)}); err != nil {
			return err
		}
		purged, err := ch.QueuePurge(queue, false)
		count = purged
		return err
	})
	return count, err
}

// withChannel runs use on a channel of its own, closed afterwards (which returns what Peek took).
func (t *Transport) withChannel(ctx context.Context, use func(ch *amqp.Channel) error) error {
	if t.isClosed() {
		return ErrClosed
	}
	connectCtx, cancel := context.WithTimeout(ctx, t.connectTimeout)
	defer cancel()
	ch, _, err := t.manager.channel(connectCtx)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := use(ch); err != nil {
		return &TransportError{Transport: transportName, Code: "broker_error", Message: "inspecting a queue failed", Err: err}
	}
	return nil
}
