// Package kafka is Thrun's Apache Kafka transport, on github.com/twmb/franz-go. It speaks exactly
// the wire protocol of protocol/kafka.md, the TypeScript transport's: the same topics, retry topic,
// consumer group ids and headers, so Go and TypeScript services share queues both ways.
//
// Publishing uses an idempotent producer with acks=all; a keyed record goes to the partition the
// Java client (and kafkajs) would pick, so records sharing a key keep their order whoever wrote
// them. Delivery is at least once: an offset is committed only once every record before it in its
// partition was settled.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

// Options configure the transport.
type Options struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string
	// TLS, when set, connects with TLS.
	TLS *tls.Config
	// Partitions of the topics the transport creates. Default: 3.
	Partitions int
	// ReplicationFactor of created topics. Default: the broker's default.replication.factor.
	ReplicationFactor int
	// DisableTopicCreation: the topics must exist (or the broker must auto-create them).
	DisableTopicCreation bool
	// GroupIDPrefix: Kafka consumer group ids are <prefix>.<queue>.<group>. Default: "thrun".
	GroupIDPrefix string
	// MaxPayloadBytes is the largest body Publish accepts. Default: 1,000,000.
	MaxPayloadBytes int
	// DrainTimeout is how long closing lets running handlers finish when the context given to Close
	// has no deadline. Default: 10 s.
	DrainTimeout time.Duration
	// SessionTimeout: a dead consumer's partitions go to another member after this long. Default: 10 s.
	SessionTimeout time.Duration
	// CommitInterval: how often settled offsets are committed while a fetch runs. Default: 20 ms.
	CommitInterval time.Duration
	// ClientOptions are added to every franz-go client the transport creates (SASL, logging, …).
	ClientOptions []kgo.Opt
}

// TransportError is a failure of the broker or the connection (brokerkit.Error: Code, Message,
// and the transport package's sentinel it matches).
type TransportError = brokerkit.Error

const transportName = "kafka"

// ErrClosed is returned by every call after Close; it matches transport.ErrClosed.
var ErrClosed = &TransportError{Transport: transportName, Code: "closed", Message: "transport is closed", Kind: transport.ErrClosed}

// Transport is Thrun on Kafka. Safe for concurrent use.
type Transport struct {
	opts     Options
	producer *kgo.Client
	admin    *kadm.Client

	ensureMu sync.Mutex
	ensured  map[string]bool

	consumers brokerkit.Consumers
}

// New creates the producer client; it connects lazily.
func New(opts Options) (*Transport, error) {
	if len(opts.Brokers) == 0 {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "Brokers is required"}
	}
	if opts.Partitions < 0 || opts.ReplicationFactor < 0 || opts.MaxPayloadBytes < 0 || opts.DrainTimeout < 0 || opts.SessionTimeout < 0 || opts.CommitInterval < 0 {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "numeric options cannot be negative"}
	}
	opts.Partitions = brokerkit.OrDefault(opts.Partitions, 3)
	opts.GroupIDPrefix = brokerkit.OrDefault(opts.GroupIDPrefix, "thrun")
	opts.MaxPayloadBytes = brokerkit.OrDefault(opts.MaxPayloadBytes, 1_000_000)
	opts.DrainTimeout = brokerkit.OrDefault(opts.DrainTimeout, 10*time.Second)
	opts.SessionTimeout = brokerkit.OrDefault(opts.SessionTimeout, 10*time.Second)
	opts.CommitInterval = brokerkit.OrDefault(opts.CommitInterval, 20*time.Millisecond)
	producer, err := kgo.NewClient(append(opts.clientOptions(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Java's default for keyed records (murmur2), which kafkajs follows too.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(0),
		// No compression, as the TypeScript transport by default: kafkajs reads no snappy (franz-go's
		// default) without a codec plugin, so compressed records would stop TypeScript consumers.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)...)
	if err != nil {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "cannot create the Kafka client", Err: err}
	}
	return &Transport{opts: opts, producer: producer, admin: kadm.NewClient(producer), ensured: map[string]bool{}}, nil
}

func (o Options) clientOptions() []kgo.Opt {
	out := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID("thrun-go"),
		// Thrun creates topics just before it uses them: a client must not wait the default 5 s
		// before it may refresh metadata and see them.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	if o.TLS != nil {
		out = append(out, kgo.DialTLSConfig(o.TLS))
	}
	return append(out, o.ClientOptions...)
}

func orDefault[T comparable](value, fallback T) T {
	var zero T
	if value == zero {
		return fallback
	}
	return value
}

// Name is "kafka".
func (t *Transport) Name() string { return "kafka" }

// SpecificationVersion is the transport contract version implemented.
func (t *Transport) SpecificationVersion() string { return transport.SpecificationVersion }

// Capabilities: delays through <queue>.retry, a Kafka group per Thrun group, order per key,
// durable topics, and records of a dead consumer read again by the next owner of its partitions.
func (t *Transport) Capabilities() transport.Capabilities {
	return transport.Capabilities{
		Delay:             true,
		Fanout:            true,
		Ordering:          transport.OrderingPerKey,
		Persistent:        true,
		MaxPayloadBytes:   t.opts.MaxPayloadBytes,
		DeadLetter:        true,
		RedeliversUnacked: true,
	}
}

var _ transport.Transport = (*Transport)(nil)

func (t *Transport) groupID(queue, group string) string {
	return t.opts.GroupIDPrefix + "." + queue + "." + group
}

// Publish writes messages to <queue> (delayed ones, stamped with thrun-due-at, to <queue>.retry)
// and returns once the broker acknowledged every record (acks=all).
func (t *Transport) Publish(ctx context.Context, queue string, messages []transport.Message) error {
	if t.isClosed() {
		return ErrClosed
	}
	if err := checkQueue(queue); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	records := make([]*kgo.Record, 0, len(messages))
	delayed := false
	for _, message := range messages {
		if len(message.Body) > t.opts.MaxPayloadBytes {
			return &TransportError{Transport: transportName, Code: "payload_too_large", Message: fmt.Sprintf("a message of %d bytes exceeds MaxPayloadBytes (%d)", len(message.Body), t.opts.MaxPayloadBytes), Kind: transport.ErrPayloadTooLarge}
		}
		// A copy: the bytes must be the ones passed in, even if the caller reuses its buffer.
		record := &kgo.Record{Topic: queue, Value: append([]byte(nil), message.Body...)}
		if message.Key != "" {
			record.Key = []byte(message.Key)
		}
		if message.Delay > 0 {
			delayed = true
			record.Topic = retryTopic(queue)
			record.Headers = []kgo.RecordHeader{{Key: headerDueAt, Value: []byte(strconv.FormatInt(now+message.Delay.Milliseconds(), 10))}}
		}
		records = append(records, record)
	}
	topics := []string{queue}
	if delayed {
		topics = append(topics, retryTopic(queue))
	}
	if err := t.ensureTopics(ctx, topics...); err != nil {
		return err
	}
	return t.produce(ctx, records...)
}

func (t *Transport) produce(ctx context.Context, records ...*kgo.Record) error {
	if err := t.producer.ProduceSync(ctx, records...).FirstErr(); err != nil {
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return &TransportError{Transport: transportName, Code: "payload_too_large", Message: "the broker refused a message as too large", Kind: transport.ErrPayloadTooLarge, Err: err}
		}
		return &TransportError{Transport: transportName, Code: "publish_failed", Message: "publish was not acknowledged", Err: err}
	}
	return nil
}

// checkQueue: Kafka topic names stop at 249 characters, and Thrun appends .retry and .dead.
func checkQueue(queue string) error {
	if err := transport.ValidateQueueName(queue); err != nil {
		return err
	}
	if len(queue) > maxQueueNameLength {
		return &TransportError{Transport: transportName, Code: "invalid_queue_name", Message: fmt.Sprintf("queue names are limited to %d characters on Kafka", maxQueueNameLength), Kind: transport.ErrInvalidQueue}
	}
	return nil
}

// ensureTopics creates missing topics (an existing one is fine) once per transport, and waits until
// every partition has a leader.
func (t *Transport) ensureTopics(ctx context.Context, names ...string) error {
	if t.opts.DisableTopicCreation {
		return nil
	}
	t.ensureMu.Lock()
	defer t.ensureMu.Unlock()
	var missing []string
	for _, name := range names {
		if !t.ensured[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	replication := int16(-1)
	if t.opts.ReplicationFactor > 0 {
		replication = int16(t.opts.ReplicationFactor)
	}
	var lastErr error
	for attempt := 1; attempt <= 30; attempt++ {
		if ready, err := t.topicsReady(ctx, missing); err == nil && ready {
			for _, name := range missing {
				t.ensured[name] = true
			}
			return nil
		} else if err != nil {
			lastErr = err
		}
		responses, err := t.admin.CreateTopics(ctx, int32(t.opts.Partitions), replication, nil, missing...)
		if err != nil {
			lastErr = err
		}
		for _, response := range responses {
			if response.Err != nil && !errors.Is(response.Err, kerr.TopicAlreadyExists) {
				lastErr = response.Err
			}
		}
		select {
		case <-ctx.Done():
			return &TransportError{Transport: transportName, Code: "broker_error", Message: "could not create topics", Err: ctx.Err()}
		case <-time.After(time.Duration(min(50*attempt, 500)) * time.Millisecond):
		}
	}
	return &TransportError{Transport: transportName, Code: "broker_error", Message: fmt.Sprintf("could not create topics %v", missing), Err: lastErr}
}

func (t *Transport) topicsReady(ctx context.Context, names []string) (bool, error) {
	metadata, err := t.admin.Metadata(ctx, names...)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		topic, ok := metadata.Topics[name]
		if !ok || topic.Err != nil || len(topic.Partitions) == 0 {
			return false, nil
		}
		for _, partition := range topic.Partitions {
			if partition.Leader < 0 || partition.Err != nil {
				return false, nil
			}
		}
	}
	return true, nil
}

// Close closes every consumer (as Subscription.Close), then the producer. Idempotent.
func (t *Transport) Close(ctx context.Context) error {
	ctx, cancel := t.drainContext(ctx)
	defer cancel()
	if t.consumers.CloseAll(ctx) {
		t.producer.Close()
	}
	return nil
}

func (t *Transport) drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return brokerkit.DrainContext(ctx, t.opts.DrainTimeout)
}

func (t *Transport) isClosed() bool { return t.consumers.Closed() }
