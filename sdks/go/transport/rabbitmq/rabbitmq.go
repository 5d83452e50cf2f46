// Package rabbitmq is Thrun's RabbitMQ transport (AMQP 0-9-1, on github.com/rabbitmq/amqp091-go).
// It speaks exactly the wire protocol of protocol/rabbitmq.md, the TypeScript transport's, so Go and
// TypeScript services share queues both ways.
//
// Each Thrun queue q is a durable fanout exchange thrun.q; each consumer group a durable queue bound
// to it (q for the group "default", q:<group> otherwise), quorum by default. Publishing waits for
// publisher confirms; consuming uses manual acks with prefetch; delays and retries go through TTL
// buckets that dead-letter back; dead letters go to q.dead as the original bytes and thrun-dead-*
// headers. Delivery is at least once: a consumer that dies leaves its unacked messages to the broker,
// which redelivers them as a later attempt.
package rabbitmq

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

// Options configure the transport. The zero value connects to amqp://guest:guest@127.0.0.1:5672.
type Options struct {
	// URL is amqp://user:password@host:port/vhost, or amqps://… for TLS. Never logged with its password.
	URL string
	// TLS is the TLS configuration of an amqps:// URL (a CA to trust, a client certificate).
	TLS *tls.Config
	// Prefetch is how many unacked messages the broker sends each consumer ahead. Default: the
	// consumer's concurrency (never less).
	Prefetch int
	// QueueType of the queues holding Thrun messages: "quorum" (default) or "classic". Every runtime
	// on one broker must use the same: RabbitMQ refuses a declaration that differs.
	QueueType string
	// MaxPayloadBytes is the largest body Publish accepts. Default: 16 MiB.
	MaxPayloadBytes int
	// ConnectTimeout bounds each (re)connection. Default: 10 s.
	ConnectTimeout time.Duration
	// DrainTimeout is how long closing lets running handlers finish when the context given to Close
	// has no deadline. Default: 10 s.
	DrainTimeout time.Duration
}

const (
	defaultURL             = "amqp://guest:guest@127.0.0.1:5672"
	defaultMaxPayloadBytes = 16 * 1024 * 1024
)

// Transport is Thrun on RabbitMQ. Safe for concurrent use.
type Transport struct {
	manager         *connectionManager
	publisher       *publisher
	queueType       string
	prefetch        int
	maxPayloadBytes int
	connectTimeout  time.Duration
	drainTimeout    time.Duration

	consumers brokerkit.Consumers
}

// New checks the options; it connects lazily, on the first Publish or Consume.
func New(opts Options) (*Transport, error) {
	url := opts.URL
	if url == "" {
		url = defaultURL
	}
	if !strings.HasPrefix(url, "amqp://") && !strings.HasPrefix(url, "amqps://") {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "URL must be an amqp:// or amqps:// URL"}
	}
	queueType := opts.QueueType
	if queueType == "" {
		queueType = "quorum"
	}
	if queueType != "quorum" && queueType != "classic" {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: fmt.Sprintf("QueueType must be quorum or classic, not %q", queueType)}
	}
	if opts.Prefetch < 0 || opts.MaxPayloadBytes < 0 || opts.ConnectTimeout < 0 || opts.DrainTimeout < 0 {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "Prefetch, MaxPayloadBytes, ConnectTimeout and DrainTimeout cannot be negative"}
	}
	t := &Transport{
		queueType:       queueType,
		prefetch:        opts.Prefetch,
		maxPayloadBytes: brokerkit.OrDefault(opts.MaxPayloadBytes, defaultMaxPayloadBytes),
		connectTimeout:  brokerkit.OrDefault(opts.ConnectTimeout, 10*time.Second),
		drainTimeout:    brokerkit.OrDefault(opts.DrainTimeout, 10*time.Second),
	}
	config := amqp.Config{
		TLSClientConfig: opts.TLS,
		Properties:      amqp.Table{"connection_name": "thrun-go"},
		Dial:            amqp.DefaultDial(t.connectTimeout),
	}
	t.manager = &connectionManager{url: url, config: config, redactURL: redactURLText(url)}
	t.publisher = newPublisher(t.manager)
	return t, nil
}

// Name is "rabbitmq".
func (t *Transport) Name() string { return "rabbitmq" }

// SpecificationVersion is the transport contract version implemented.
func (t *Transport) SpecificationVersion() string { return transport.SpecificationVersion }

// Capabilities: delays through TTL buckets, a queue per group, publish order for one consumer at
// concurrency 1, durable queues and persistent messages, broker redelivery of unacked messages.
func (t *Transport) Capabilities() transport.Capabilities {
	return transport.Capabilities{
		Delay:             true,
		Fanout:            true,
		Ordering:          transport.OrderingFIFO,
		Persistent:        true,
		MaxPayloadBytes:   t.maxPayloadBytes,
		DeadLetter:        true,
		RedeliversUnacked: true,
	}
}

var _ transport.Transport = (*Transport)(nil)

// queueTypeOf: dead-letter queues are classic whatever QueueType says, so tooling can look at them
// with basic.get and give them back in place.
func (t *Transport) queueTypeOf(queue string) string {
	if strings.HasSuffix(queue, deadSuffix) {
		return "classic"
	}
	return t.queueType
}

func (t *Transport) groupDeclaration(queue, group string) declaration {
	groupQueue := groupQueueName(queue, group)
	return declaration{key: "group:" + groupQueue, run: func(ch *amqp.Channel) error {
		return declareGroup(ch, t.queueTypeOf(queue), queue, groupQueue)
	}}
}

func bucketDeclaration(name string, bucketMs int64, exchange, routingKey string) declaration {
	return declaration{key: "bucket:" + name, run: func(ch *amqp.Channel) error {
		return declareBucket(ch, name, bucketMs, exchange, routingKey)
	}}
}

// Publish sends messages to every group of queue: now through the exchange thrun.<queue>, delayed
// through the bucket <queue>:delay:<ms>. It returns once the broker confirmed every message; on an
// error, messages before the failing one may have been accepted. The default group's queue is
// declared on the first publish, so nothing is lost before anyone consumes.
func (t *Transport) Publish(ctx context.Context, queue string, messages []transport.Message) error {
	if t.isClosed() {
		return ErrClosed
	}
	if err := transport.ValidateQueueName(queue); err != nil {
		return err
	}
	declarations := []declaration{t.groupDeclaration(queue, DefaultGroup)}
	items := make([]publishItem, 0, len(messages))
	for _, message := range messages {
		if len(message.Body) > t.maxPayloadBytes {
			return &TransportError{Transport: transportName, Code: "payload_too_large", Message: fmt.Sprintf("a message of %d bytes exceeds MaxPayloadBytes (%d)", len(message.Body), t.maxPayloadBytes), Kind: transport.ErrPayloadTooLarge}
		}
	}
	for _, message := range messages {
		var headers amqp.Table
		if message.Key != "" {
			headers = amqp.Table{headerKey: message.Key}
		}
		bucket := delayBucketMs(message.Delay)
		if bucket == 0 {
			items = append(items, publishItem{exchange: exchangeName(queue), body: message.Body, headers: headers})
			continue
		}
		name := delayQueueName(queue, bucket)
		declarations = append(declarations, bucketDeclaration(name, bucket, exchangeName(queue), ""))
		items = append(items, publishItem{routingKey: name, body: message.Body, headers: headers})
	}
	return t.publisher.publish(ctx, items, declarations)
}

// publishRetry sends a retry copy back to the group's queue only: at once, or through its retry bucket.
func (t *Transport) publishRetry(ctx context.Context, queue, group string, headers amqp.Table, body []byte, delay time.Duration) error {
	groupQueue := groupQueueName(queue, group)
	declarations := []declaration{t.groupDeclaration(queue, group)}
	routingKey := groupQueue
	if bucket := delayBucketMs(delay); bucket > 0 {
		routingKey = retryQueueName(groupQueue, bucket)
		declarations = append(declarations, bucketDeclaration(routingKey, bucket, "", groupQueue))
	}
	return t.publisher.publish(ctx, []publishItem{{routingKey: routingKey, body: body, headers: headers}}, declarations)
}

// publishDeadLetter sends the original bytes to <queue>.dead with the five thrun-dead-* headers.
func (t *Transport) publishDeadLetter(ctx context.Context, queue string, body []byte, reason transport.DeadLetterReason, attempts int) error {
	dead := deadQueueName(queue)
	headers := amqp.Table{}
	for name, value := range transport.NewDeadLetterDescription(queue, reason, attempts, time.Now()).Headers() {
		headers[name] = value
	}
	return t.publisher.publish(ctx, []publishItem{{routingKey: dead, body: body, headers: headers}}, []declaration{t.groupDeclaration(dead, DefaultGroup)})
}

// subscribeAttempts bounds the tries of a first subscription whose channel the broker dropped.
const subscribeAttempts = 3

// Consume subscribes opts.Group (default "default") to queue and returns once subscribed. At most
// opts.Concurrency handlers (default 1) run at once. A handler that returns an error or panics, or
// returns without settling its delivery, has it retried at once (attempt + 1).
func (t *Transport) Consume(ctx context.Context, queue string, handler transport.Handler, opts transport.ConsumeOptions) (transport.Subscription, error) {
	if t.isClosed() {
		return nil, ErrClosed
	}
	if err := transport.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	group := brokerkit.OrDefault(opts.Group, DefaultGroup)
	if !groupPattern.MatchString(group) {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "invalid consumer group: use 1-100 characters among A-Z a-z 0-9 . _ -"}
	}
	concurrency := max(opts.Concurrency, 1)
	tag := make([]byte, 8)
	_, _ = rand.Read(tag)
	c := &consumer{
		transport:  t,
		queue:      queue,
		group:      group,
		groupQueue: groupQueueName(queue, group),
		handler:    handler,
		prefetch:   max(t.prefetch, concurrency),
		slots:      make(chan struct{}, concurrency),
		tag:        "thrun-go-" + hex.EncodeToString(tag),
		closing:    make(chan struct{}),
		loopDone:   make(chan struct{}),
		active:     map[*delivery]struct{}{},
	}
	connectCtx, cancel := context.WithTimeout(ctx, t.connectTimeout)
	defer cancel()
	deliveries, err := c.subscribe(connectCtx)
	// The broker may drop the channel while it is set up (RabbitMQ 3.10 can crash one whose consume
	// reaches a quorum queue declared an instant before, and close its connection): try again, as
	// after a lost live channel. A refusal, or a connection that cannot be made, fails at once.
	for attempt := 1; err != nil && attempt < subscribeAttempts && isDroppedChannel(err); attempt++ {
		select {
		case <-connectCtx.Done():
			return nil, err
		case <-time.After(brokerkit.Backoff(attempt)):
		}
		deliveries, err = c.subscribe(connectCtx)
	}
	if err != nil {
		return nil, err
	}
	go c.loop(deliveries)
	if !t.consumers.Add(c, func(ctx context.Context) { _ = c.close(ctx) }) {
		_ = c.close(context.Background()) // the transport closed meanwhile
		return nil, ErrClosed
	}
	sub := &subscription{transport: t, consumer: c}
	go func() { // cancelling ctx stops the consumer, as Close does
		select {
		case <-ctx.Done():
			_ = sub.Close(context.Background())
		case <-c.closing:
		}
	}()
	return sub, nil
}

type subscription struct {
	transport *Transport
	consumer  *consumer
}

// Close stops fetching, lets running handlers finish until ctx is done (or DrainTimeout when it has
// no deadline), then hands back what is still unsettled: it is redelivered as the next attempt.
func (s *subscription) Close(ctx context.Context) error {
	ctx, cancel := s.transport.drainContext(ctx)
	defer cancel()
	err := s.consumer.close(ctx)
	s.transport.consumers.Remove(s.consumer)
	return err
}

func (t *Transport) drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return brokerkit.DrainContext(ctx, t.drainTimeout)
}

// Close closes every consumer (as Subscription.Close), then the connection. Idempotent; afterwards
// Publish and Consume return ErrClosed.
func (t *Transport) Close(ctx context.Context) error {
	ctx, cancel := t.drainContext(ctx)
	defer cancel()
	if t.consumers.CloseAll(ctx) {
		t.publisher.close()
		t.manager.close()
	}
	return nil
}

func (t *Transport) isClosed() bool { return t.consumers.Closed() }
