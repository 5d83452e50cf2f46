// Package transport is the contract between the Thrun Go runtime and a broker: it moves bytes and
// never interprets them. It mirrors the TypeScript Transport of @thrun/contract
// (packages/contract/src/transport.ts), adapted to Go: context.Context on every blocking call,
// errors as values, a handler function per delivery.
//
// The bytes a producer published are the bytes every consumer receives, whoever produced them.
// Delivery is at-least-once everywhere; a handler must tolerate seeing a message twice.
package transport

import (
	"context"
	"errors"
	"time"
)

// SpecificationVersion is the contract version this package describes. A Transport reports the
// version it implements; the runtime refuses one of a version it does not know.
const SpecificationVersion = "v1"

// Ordering says which order a transport promises.
type Ordering string

const (
	// OrderingNone promises no order.
	OrderingNone Ordering = "none"
	// OrderingPerKey keeps publish order among messages sharing a Message.Key.
	OrderingPerKey Ordering = "per-key"
	// OrderingFIFO keeps publish order for one consumer at concurrency 1 (retries aside).
	OrderingFIFO Ordering = "fifo"
)

// Capabilities are what a transport guarantees; tests check exactly these claims.
type Capabilities struct {
	// Delay: Delivery.Retry(delay) and Message.Delay hold the message back at least that long.
	Delay bool
	// Fanout: each consumer group receives its own copy of every message. Without it, groups share one copy.
	Fanout bool
	// Ordering promised by the transport.
	Ordering Ordering
	// Persistent: messages survive the transport instance and the broker process restarting.
	Persistent bool
	// MaxPayloadBytes is the largest body Publish accepts, at least DeadLetterOverheadBytes below
	// what the broker accepts, so that every accepted message can also be dead-lettered.
	MaxPayloadBytes int
	// DeadLetter: Delivery.DeadLetter moves the message to "<queue>.dead" as a dead-letter record.
	DeadLetter bool
	// RedeliversUnacked: a delivery whose consumer died without settling it is redelivered to
	// another consumer, as a new attempt.
	RedeliversUnacked bool
}

// DeadLetterOverheadBytes bounds what a dead-letter description adds to a body (as in TypeScript).
const DeadLetterOverheadBytes = 2048

// Message is one message to publish.
type Message struct {
	// Body is the exact bytes to deliver.
	Body []byte
	// Key is the partition or ordering key; transports with OrderingPerKey honour it.
	Key string
	// Delay: deliver no earlier than this from now. Needs Capabilities.Delay.
	Delay time.Duration
}

// ConsumeOptions configure one consumer.
type ConsumeOptions struct {
	// Group is the consumer group. Consumers of one group compete; groups fan out. Default "default".
	Group string
	// Concurrency is the number of handlers running at once (and the prefetch bound). Default 1.
	Concurrency int
}

// DeadLetterReason says why a message was dead-lettered. Code is machine-readable
// (invalid_json, max_attempts, …).
type DeadLetterReason struct {
	Code    string
	Message string
}

// Delivery is one message handed to a handler. It must be settled once with Ack, Retry or
// DeadLetter. A settlement the broker refuses returns an error and leaves the delivery pending, so
// the caller may try it again.
type Delivery interface {
	// Body is the exact bytes that were published.
	Body() []byte
	// Queue is the queue this delivery came from.
	Queue() string
	// Attempt is 1 on first delivery, +1 on every redelivery (Retry, a dead consumer's lease
	// expiring, a broker redelivery), taken from the broker's own count where it has one.
	Attempt() int
	// Key is the Message.Key it was published with, where the transport keeps it ("" otherwise).
	Key() string
	// Headers are the message's headers on transports that have them (nil otherwise).
	Headers() map[string]string
	// Ack removes the message for good.
	Ack(ctx context.Context) error
	// Retry puts the message back to be delivered again as Attempt()+1, no earlier than delay from
	// now (Capabilities.Delay; without it, immediately). It never blocks the messages behind it.
	Retry(ctx context.Context, delay time.Duration) error
	// DeadLetter moves the message to "<queue>.dead": the original bytes unchanged beside a bounded
	// description (reason, attempts, time, queue), in thrun-dead-* headers or, without headers, as
	// a dead-letter frame (schemas/dead-letter.schema.json).
	DeadLetter(ctx context.Context, reason DeadLetterReason) error
}

// Handler handles one delivery. A handler that returns an error, panics, or returns without
// settling has its delivery retried at once (attempt + 1).
type Handler func(ctx context.Context, d Delivery) error

// Subscription is one running consumer.
type Subscription interface {
	// Close stops fetching and waits for this consumer's in-flight handlers until ctx is done;
	// deliveries still unsettled then are released back to the broker (redelivered as a new attempt).
	Close(ctx context.Context) error
}

// Transport moves bytes between processes. Implementations are safe for concurrent use.
type Transport interface {
	// SpecificationVersion is the contract version this transport implements (SpecificationVersion).
	SpecificationVersion() string
	// Name is a short name used in errors and logs: memory, redis, rabbitmq, kafka.
	Name() string
	// Capabilities are what this transport guarantees.
	Capabilities() Capabilities
	// Publish publishes messages to a queue, in order. It returns nil only when the broker durably
	// accepted every message; an error when any may not have been (publishing a batch is not atomic:
	// messages before the failing one may have been accepted). It returns ErrPayloadTooLarge before
	// sending anything when a body exceeds MaxPayloadBytes, ErrInvalidQueue on an invalid queue name,
	// and ErrClosed after Close. Cancelling ctx gives up waiting; the messages may or may not have
	// been accepted.
	Publish(ctx context.Context, queue string, messages []Message) error
	// Consume starts consuming a queue and returns once the consumer is subscribed (a message
	// published after that is delivered to it or to another member of its group). At most
	// opts.Concurrency handlers run at once. Cancelling ctx stops fetching, like Subscription.Close
	// (in-flight handlers see a cancelled context only through their own deadline: the context a
	// handler receives is not cancelled by stopping the consumer, so it can finish during a drain).
	Consume(ctx context.Context, queue string, handler Handler, opts ConsumeOptions) (Subscription, error)
	// Close stops every consumer from fetching, waits for in-flight handlers until ctx is done,
	// releases the deliveries still unsettled, then closes connections. Idempotent. After Close,
	// Publish and Consume return ErrClosed.
	Close(ctx context.Context) error
}

// Peeker is implemented by transports that can look at waiting messages without taking them.
type Peeker interface {
	// Peek lists up to limit messages waiting in a queue, oldest first.
	Peek(ctx context.Context, queue string, limit int) ([]QueuedMessage, error)
}

// Purger is implemented by transports that can empty a queue.
type Purger interface {
	// Purge removes every waiting message of a queue and returns how many it removed.
	Purge(ctx context.Context, queue string) (int, error)
}

// QueuedMessage is a message seen by Peek, still in its queue.
type QueuedMessage struct {
	Body    []byte
	Key     string
	Headers map[string]string
}

// Errors a transport returns; wrap them with fmt.Errorf("[thrun:<name>] …: %w", ErrX) so callers
// can test them with errors.Is.
var (
	// ErrClosed: the transport or subscription was closed.
	ErrClosed = errors.New("transport closed")
	// ErrPayloadTooLarge: a body exceeds Capabilities.MaxPayloadBytes.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrInvalidQueue: a queue name the transport cannot use.
	ErrInvalidQueue = errors.New("invalid queue name")
	// ErrUnsupported: the transport lacks a capability the call needs (a delay, say).
	ErrUnsupported = errors.New("unsupported by transport")
)
