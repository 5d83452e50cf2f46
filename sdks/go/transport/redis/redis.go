// Package redis is the Thrun transport on Redis, wire-compatible with @thrun/transport-redis: the
// same keys, the same Lua scripts (protocol/redis, embedded), the same dead-letter frames.
//
// Lists mode (the default) keeps a queue as a list any client can LPUSH to; consumption is reliable:
// each consumer moves messages into its own processing list under a lease, and a consumer that dies
// has its messages returned by the others after the visibility timeout, as a new attempt. Streams
// mode reads a stream through consumer groups: each group gets every message.
//
// A single Redis node (or a primary with replicas) is supported; Redis Cluster is not, yet.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// Mode is how queues are kept in Redis. Every process on a queue must use the same one.
type Mode string

const (
	// ModeList keeps a queue as a list (the default).
	ModeList Mode = "list"
	// ModeStream keeps a queue as a stream read by consumer groups (fan-out across groups).
	ModeStream Mode = "stream"
)

// DefaultMaxPayloadBytes is the codec's limit, 1 MiB.
const DefaultMaxPayloadBytes = 1 << 20

// Options configure the transport. Zero values take the defaults.
type Options struct {
	// URL is a redis:// or rediss:// URL (with user, password and database). Ignored with Client.
	URL string
	// Client is your own go-redis client instead of URL; Close does not close it.
	Client *redis.Client
	// Mode is ModeList (default) or ModeStream.
	Mode Mode
	// VisibilityTimeout is how long a consumer may go silent before what it holds goes to another
	// consumer, as a new attempt. Live consumers renew their lease every third of it. Default 30 s.
	VisibilityTimeout time.Duration
	// KeyPrefix is prepended to every key. Default "", so queue "events" is the key "events".
	KeyPrefix string
	// MaxPayloadBytes is the largest body Publish accepts. Default 1 MiB.
	MaxPayloadBytes int
	// BlockTimeout is the longest a blocking read waits before it looks again. Default 1 s.
	BlockTimeout time.Duration
	// TrimInterval is how often Streams consumers trim entries every group is done with. Default 5 s.
	TrimInterval time.Duration
	// Prefetch is how many messages a Lists consumer holds, running or read ahead, so a deep queue
	// is read in batches (one list-fetch per batch). Default max(2 × concurrency, 20); never below
	// the concurrency. Streams consumers read only what they can run (a read entry counts as
	// delivered), so there it is the concurrency.
	Prefetch int
}

// Transport is the Redis transport. Safe for concurrent use.
type Transport struct {
	client     *redis.Client
	ownsClient bool
	opts       Options

	mu     sync.Mutex
	subs   map[*consumer]struct{}
	closed bool
	once   sync.Once
}

var (
	_ transport.Transport = (*Transport)(nil)
	_ transport.Peeker    = (*Transport)(nil)
	_ transport.Purger    = (*Transport)(nil)
)

// New returns a Redis transport; it connects lazily.
func New(opts Options) (*Transport, error) {
	switch opts.Mode {
	case "":
		opts.Mode = ModeList
	case ModeList, ModeStream:
	default:
		return nil, fmt.Errorf("[thrun:redis] Mode must be list or stream, not %q", opts.Mode)
	}
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 30 * time.Second
	}
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if opts.BlockTimeout <= 0 {
		opts.BlockTimeout = time.Second
	}
	if opts.TrimInterval <= 0 {
		opts.TrimInterval = 5 * time.Second
	}
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		return nil, errors.New("[thrun:redis] KeyPrefix must not contain braces: the keys would fall into different cluster slots")
	}
	t := &Transport{client: opts.Client, opts: opts, subs: map[*consumer]struct{}{}}
	if t.client == nil {
		url := opts.URL
		if url == "" {
			url = "redis://127.0.0.1:6379"
		}
		parsed, err := redis.ParseURL(url)
		if err != nil {
			return nil, errors.New("[thrun:redis] invalid URL") // the URL may hold credentials: never echoed
		}
		t.client = redis.NewClient(parsed)
		t.ownsClient = true
	}
	return t, nil
}

func (t *Transport) SpecificationVersion() string { return transport.SpecificationVersion }
func (t *Transport) Name() string                 { return "redis" }
func (t *Transport) Capabilities() transport.Capabilities {
	return transport.Capabilities{
		Delay: true, Fanout: t.opts.Mode == ModeStream, Ordering: transport.OrderingFIFO, Persistent: true,
		MaxPayloadBytes: t.opts.MaxPayloadBytes, DeadLetter: true, RedeliversUnacked: true,
	}
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// brokerError wraps a Redis failure; it names the address, never credentials.
func (t *Transport) brokerError(what string, err error) error {
	return fmt.Errorf("[thrun:redis] %s (Redis at %s): %w", what, t.client.Options().Addr, err)
}

// lpushChunk bounds the values of one LPUSH.
const lpushChunk = 1000

// Publish writes the messages in one pipeline: LPUSH (Lists) or XADD (Streams) for immediate ones,
// the schedule script for delayed ones. It returns once Redis replied to every command.
func (t *Transport) Publish(ctx context.Context, queue string, messages []transport.Message) error {
	if t.isClosed() {
		return fmt.Errorf("[thrun:redis] publish: %w", transport.ErrClosed)
	}
	if err := transport.ValidateQueueName(queue); err != nil {
		return err
	}
	for _, m := range messages {
		if len(m.Body) > t.opts.MaxPayloadBytes {
			return fmt.Errorf("[thrun:redis] a body of %d bytes exceeds %d: %w", len(m.Body), t.opts.MaxPayloadBytes, transport.ErrPayloadTooLarge)
		}
	}
	if len(messages) == 0 {
		return nil
	}
	keys := keysOf(t.opts.KeyPrefix, queue)
	pipe := t.client.Pipeline()
	var bodies []any
	flush := func() {
		// One LPUSH with many values keeps their order: the first value ends up next-out.
		for i := 0; i < len(bodies); i += lpushChunk {
			pipe.LPush(ctx, keys.queue, bodies[i:min(i+lpushChunk, len(bodies))]...)
		}
		bodies = nil
	}
	for _, m := range messages {
		switch {
		case m.Delay > 0:
			flush()
			pipe.Eval(ctx, scheduleScript.source, []string{keys.delayed}, m.Delay.Milliseconds(), delayedMember(m.Body))
		case t.opts.Mode == ModeList:
			bodies = append(bodies, m.Body)
		default:
			values := []any{fieldBody, m.Body}
			if m.Key != "" {
				values = append(values, fieldKey, m.Key)
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.queue, Values: values})
		}
	}
	flush()
	if _, err := pipe.Exec(ctx); err != nil {
		return t.brokerError("publish to "+queue+" failed", err)
	}
	return nil
}

func delayedMember(body []byte) []byte {
	id := make([]byte, delayedIDLength/2)
	_, _ = rand.Read(id)
	member := make([]byte, 0, delayedIDLength+1+len(body))
	member = hex.AppendEncode(member, id)
	member = append(member, ':')
	return append(member, body...)
}

func randomID() string {
	id := make([]byte, delayedIDLength/2)
	_, _ = rand.Read(id)
	return hex.EncodeToString(id)
}

// Consume starts a consumer: it takes its lease (Lists) or creates the group (Streams) before it
// returns, so a message published after that is delivered.
func (t *Transport) Consume(ctx context.Context, queue string, handler transport.Handler, opts transport.ConsumeOptions) (transport.Subscription, error) {
	if t.isClosed() {
		return nil, fmt.Errorf("[thrun:redis] consume: %w", transport.ErrClosed)
	}
	if err := transport.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	group := opts.Group
	if group == "" {
		group = "default"
	}
	keys := keysOf(t.opts.KeyPrefix, queue)
	// A connection of its own: a blocking read stalls every other command on its connection.
	blockingOptions := *t.client.Options()
	blockingOptions.PoolSize = 1
	blockingOptions.MinIdleConns = 0
	blockingOptions.ReadTimeout = t.opts.BlockTimeout + 5*time.Second
	// A copy of the parent's settings would register the parent's push handlers twice; a blocking
	// connection needs none.
	blockingOptions.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	blocking := redis.NewClient(&blockingOptions)
	consumerID := group + ":" + uuid.NewString()
	var src source
	if t.opts.Mode == ModeList {
		src = &listSource{client: t.client, blocking: blocking, settler: newSettler(t.client, opts.Concurrency), keys: keys, consumerID: consumerID, lease: t.opts.VisibilityTimeout, blockTimeout: t.opts.BlockTimeout}
	} else {
		err := t.client.XGroupCreateMkStream(ctx, keys.queue, group, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			_ = blocking.Close()
			return nil, t.brokerError("cannot create consumer group for "+queue, err)
		}
		src = &streamSource{client: t.client, blocking: blocking, keys: keys, group: group, consumerID: consumerID, idle: t.opts.VisibilityTimeout, blockTimeout: t.opts.BlockTimeout, trimInterval: t.opts.TrimInterval}
	}
	// Lists: takes the lease before the first message, and fails fast when Redis is unreachable.
	if err := src.tick(ctx, nil); err != nil {
		_ = blocking.Close()
		return nil, t.brokerError("cannot consume "+queue, err)
	}
	concurrency := max(opts.Concurrency, 1)
	prefetch := concurrency
	if t.opts.Mode == ModeList {
		prefetch = t.opts.Prefetch
		if prefetch <= 0 {
			prefetch = max(2*concurrency, 20)
		}
	}
	c := newConsumer(src, handler, queue, concurrency, prefetch, t.opts.VisibilityTimeout)
	t.mu.Lock()
	t.subs[c] = struct{}{}
	t.mu.Unlock()
	c.onClosed = func() {
		t.mu.Lock()
		delete(t.subs, c)
		t.mu.Unlock()
	}
	c.start()
	closeWhenDone(ctx, c)
	return c, nil
}

// defaultDrainTimeout bounds the drain of a consumer stopped by its context.
const defaultDrainTimeout = 10 * time.Second

// closeWhenDone closes the subscription when ctx is cancelled, as the contract says.
func closeWhenDone(ctx context.Context, s transport.Subscription) {
	context.AfterFunc(ctx, func() {
		drain, cancel := context.WithTimeout(context.Background(), defaultDrainTimeout)
		defer cancel()
		_ = s.Close(drain)
	})
}

// Close stops every consumer, drains them until ctx is done, releases what is left, then closes
// the connections it opened. Idempotent.
func (t *Transport) Close(ctx context.Context) error {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		subs := make([]*consumer, 0, len(t.subs))
		for c := range t.subs {
			subs = append(subs, c)
		}
		t.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range subs {
			wg.Go(func() { _ = c.Close(ctx) })
		}
		wg.Wait()
		if t.ownsClient {
			_ = t.client.Close()
		}
	})
	return nil
}

// Peek lists up to limit waiting messages, oldest first.
func (t *Transport) Peek(ctx context.Context, queue string, limit int) ([]transport.QueuedMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	keys := keysOf(t.opts.KeyPrefix, queue)
	if t.opts.Mode == ModeList {
		bodies, err := t.client.LRange(ctx, keys.queue, int64(-limit), -1).Result()
		if err != nil {
			return nil, t.brokerError("peek "+queue, err)
		}
		out := make([]transport.QueuedMessage, 0, len(bodies))
		for i := len(bodies) - 1; i >= 0; i-- { // the next-out end of the list is its right
			out = append(out, transport.QueuedMessage{Body: []byte(bodies[i])})
		}
		return out, nil
	}
	entries, err := t.client.XRangeN(ctx, keys.queue, "-", "+", int64(limit)).Result()
	if err != nil {
		return nil, t.brokerError("peek "+queue, err)
	}
	out := make([]transport.QueuedMessage, 0, len(entries))
	for _, e := range entries {
		body, key := entryBody(e.Values)
		out = append(out, transport.QueuedMessage{Body: body, Key: key})
	}
	return out, nil
}

// Purge removes every waiting and delayed message of a queue.
func (t *Transport) Purge(ctx context.Context, queue string) (int, error) {
	keys := keysOf(t.opts.KeyPrefix, queue)
	if t.opts.Mode == ModeList {
		n, err := listPurgeScript.Run(ctx, t.client, []string{keys.queue, keys.delayed}).Int()
		if err != nil {
			return 0, t.brokerError("purge "+queue, err)
		}
		return n, nil
	}
	pipe := t.client.TxPipeline()
	length := pipe.XLen(ctx, keys.queue)
	delayed := pipe.ZCard(ctx, keys.delayed)
	pipe.XTrimMaxLen(ctx, keys.queue, 0)
	pipe.Del(ctx, keys.delayed)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, t.brokerError("purge "+queue, err)
	}
	return int(length.Val() + delayed.Val()), nil
}
