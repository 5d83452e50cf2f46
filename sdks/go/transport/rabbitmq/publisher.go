package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// publishItem is one message to send: to an exchange, or to a queue through the default exchange ("").
type publishItem struct {
	exchange   string
	routingKey string
	body       []byte
	headers    amqp.Table
}

// declaration is something to declare before publishing; key makes it run once per connection.
type declaration struct {
	key string
	run func(ch *amqp.Channel) error
}

// publisher sends on one confirm channel shared by every caller. Messages are pipelined: a call
// returns once the broker confirmed each of its own. Every message is persistent and mandatory: the
// broker sends basic.return before the confirm of a message no queue took, and that call fails with
// "unroutable".
type publisher struct {
	manager  *connectionManager
	idPrefix string

	mu       sync.Mutex // serialises publishes, so delivery tags follow the order of sends
	state    *confirmChannel
	declared map[string]bool // keys declared on state's connection
	sequence uint64
}

// confirmChannel is one confirm-mode channel and what waits for its confirms.
type confirmChannel struct {
	ch         *amqp.Channel
	generation int
	mu         sync.Mutex
	pending    map[uint64]*pendingPublish // by delivery tag
	closed     bool
	closeErr   *amqp.Error
	done       chan struct{}
}

type pendingPublish struct {
	id     string
	result chan error
}

func newPublisher(manager *connectionManager) *publisher {
	prefix := make([]byte, 6)
	_, _ = rand.Read(prefix)
	return &publisher{manager: manager, idPrefix: hex.EncodeToString(prefix), declared: map[string]bool{}}
}

// publish sends every item after running the declarations this connection has not seen yet, and
// waits for the broker's confirms. On error, items before the failing one may have been accepted.
func (p *publisher) publish(ctx context.Context, items []publishItem, declarations []declaration) error {
	results, err := p.send(ctx, items, declarations)
	if err != nil {
		return err
	}
	for _, result := range results {
		select {
		case err := <-result:
			var refused *TransportError
			if errors.As(err, &refused) && refused.Code == "unroutable" {
				// The broker lost a declaration we remembered (a queue deleted meanwhile): declare again next time.
				p.mu.Lock()
				p.declared = map[string]bool{}
				p.mu.Unlock()
			}
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return &TransportError{Transport: transportName, Code: "timeout", Message: "publish abandoned before the broker confirmed every message; they may or may not have been accepted", Err: ctx.Err()}
		}
	}
	return nil
}

func (p *publisher) send(ctx context.Context, items []publishItem, declarations []declaration) ([]chan error, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	state, err := p.channel(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range declarations {
		if p.declared[d.key] {
			continue
		}
		if err := d.run(state.ch); err != nil {
			if isPreconditionFailed(err) {
				p.state = nil // RabbitMQ closed the channel
				return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "an entity exists with different arguments (queue type, TTL or dead-lettering); delete it or match QueueType", Err: err}
			}
			return nil, &TransportError{Transport: transportName, Code: "publish_failed", Message: "declaring the topology failed", Err: err}
		}
		p.declared[d.key] = true
	}
	results := make([]chan error, 0, len(items))
	for _, item := range items {
		p.sequence++
		id := p.idPrefix + "." + strconv.FormatUint(p.sequence, 10)
		result := make(chan error, 1)
		// Registered before the send, under state.mu, so the dispatcher always finds it.
		state.mu.Lock()
		if state.closed {
			state.mu.Unlock()
			return nil, state.failure(nil)
		}
		confirmation, err := state.ch.PublishWithDeferredConfirmWithContext(ctx, item.exchange, item.routingKey, true, false, amqp.Publishing{
			Headers:      item.headers,
			DeliveryMode: amqp.Persistent,
			MessageId:    id,
			Body:         item.body,
		})
		if err != nil {
			state.mu.Unlock()
			return nil, state.failure(err)
		}
		state.pending[confirmation.DeliveryTag] = &pendingPublish{id: id, result: result}
		state.mu.Unlock()
		results = append(results, result)
	}
	return results, nil
}

// channel returns the open confirm channel, opening one (and forgetting declarations when the
// connection is new, since the broker may have lost them) when needed. Called with p.mu held.
func (p *publisher) channel(ctx context.Context) (*confirmChannel, error) {
	if p.state != nil {
		p.state.mu.Lock()
		closed := p.state.closed
		p.state.mu.Unlock()
		if !closed {
			return p.state, nil
		}
	}
	ch, generation, err := p.manager.channel(ctx)
	if err != nil {
		return nil, err
	}
	if p.state == nil || p.state.generation != generation {
		p.declared = map[string]bool{}
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, &TransportError{Transport: transportName, Code: "connection_failed", Message: "cannot put a channel in confirm mode", Err: err}
	}
	state := &confirmChannel{ch: ch, generation: generation, pending: map[uint64]*pendingPublish{}, done: make(chan struct{})}
	// Unbuffered, read by one goroutine: amqp091 hands over a return before the confirm of the same
	// message, from one reader goroutine, so the return is always seen first.
	returns := ch.NotifyReturn(make(chan amqp.Return))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation))
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go state.dispatch(returns, confirms, closes)
	p.state = state
	return state, nil
}

func (s *confirmChannel) dispatch(returns <-chan amqp.Return, confirms <-chan amqp.Confirmation, closes <-chan *amqp.Error) {
	returned := map[string]bool{}
	for confirms != nil || returns != nil {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			returned[r.MessageId] = true
		case c, ok := <-confirms:
			if !ok {
				confirms = nil
				continue
			}
			s.mu.Lock()
			entry := s.pending[c.DeliveryTag]
			delete(s.pending, c.DeliveryTag)
			s.mu.Unlock()
			if entry == nil {
				continue
			}
			switch {
			case returned[entry.id]:
				delete(returned, entry.id)
				entry.result <- &TransportError{Transport: transportName, Code: "unroutable", Message: "no queue is bound to receive the message"}
			case !c.Ack:
				entry.result <- &TransportError{Transport: transportName, Code: "publish_failed", Message: "the broker refused the message (nack)"}
			default:
				entry.result <- nil
			}
		}
	}
	// The channel is gone: every publish still waiting may or may not have been taken.
	closeErr := <-closes
	s.mu.Lock()
	s.closed = true
	s.closeErr = closeErr
	pending := s.pending
	s.pending = map[uint64]*pendingPublish{}
	s.mu.Unlock()
	for _, entry := range pending {
		entry.result <- s.failure(nil)
	}
	close(s.done)
}

// failure describes why a publish on this channel failed; RabbitMQ closes the channel with 406
// when a message exceeds its max_message_size.
func (s *confirmChannel) failure(err error) error {
	cause := err
	if s.closeErr != nil {
		cause = s.closeErr
	}
	text := "channel closed"
	if cause != nil {
		text = cause.Error()
	}
	if strings.Contains(text, "larger than") && strings.Contains(text, "message size") {
		return &TransportError{Transport: transportName, Code: "payload_too_large", Message: "the broker refused the message", Kind: transport.ErrPayloadTooLarge, Err: cause}
	}
	if cause == nil {
		return &TransportError{Transport: transportName, Code: "publish_failed", Message: "the message may not have been accepted: " + text}
	}
	return &TransportError{Transport: transportName, Code: "publish_failed", Message: "the message may not have been accepted", Err: cause}
}

func (p *publisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != nil {
		_ = p.state.ch.Close()
		<-p.state.done
		p.state = nil
	}
}
