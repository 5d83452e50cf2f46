package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// brokerURL is the test broker (scripts/brokers/rabbitmq.sh). Under CI=true an unreachable broker
// fails the test; elsewhere it skips.
func brokerURL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("THRUN_AMQP_URL")
	if raw == "" {
		raw = "amqp://guest:guest@127.0.0.1:5682"
	}
	parsed, _ := url.Parse(raw)
	conn, err := net.DialTimeout("tcp", parsed.Host, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ is not reachable at %s (start it with scripts/brokers/rabbitmq.sh): %v", parsed.Host, err)
		}
		t.Skipf("RabbitMQ is not reachable at %s: %v", parsed.Host, err)
	}
	_ = conn.Close()
	return raw
}

func uniqueQueue(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func newTransport(t *testing.T, opts Options) *Transport {
	t.Helper()
	opts.URL = brokerURL(t)
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr
}

type received struct {
	body    string
	attempt int
	key     string
	headers map[string]string
	at      time.Time
}

// collect consumes queue and sends every delivery to the returned channel after settle decides its fate.
func collect(t *testing.T, tr *Transport, queue string, opts transport.ConsumeOptions, settle func(transport.Delivery) error) <-chan received {
	t.Helper()
	out := make(chan received, 100)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		out <- received{string(d.Body()), d.Attempt(), d.Key(), d.Headers(), time.Now()}
		return settle(d)
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	return out
}

func next(t *testing.T, ch <-chan received, within time.Duration) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("nothing delivered within %s", within)
		return received{}
	}
}

func nothing(t *testing.T, ch <-chan received, within time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected delivery %+v", r)
	case <-time.After(within):
	}
}

func ack(d transport.Delivery) error { return d.Ack(context.Background()) }

// rawGet takes one message from a queue with a plain AMQP client, as any other runtime would.
func rawGet(t *testing.T, queue string) (amqp.Delivery, bool) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		message, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return message, true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return amqp.Delivery{}, false
}

func TestPublishConsumeKeepsBytesKeyAndAcks(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-basic")
	body := `{"event":"order_created","payload":{"order_id":1,"text":"é\u2028"}}`
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body), Key: "order-1"}, {Body: []byte(`{"event":"b","payload":{}}`)}}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, tr, queue, transport.ConsumeOptions{}, ack)
	first := next(t, got, 5*time.Second)
	if first.body != body || first.attempt != 1 || first.key != "order-1" {
		t.Fatalf("got %+v", first)
	}
	if second := next(t, got, 5*time.Second); second.key != "" || second.attempt != 1 {
		t.Fatalf("got %+v", second)
	}
	nothing(t, got, 300*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if _, ok := rawGet(t, queue); ok {
		t.Fatal("an acked message is still in the queue")
	}
}

func TestGroupsFanOutAndCompeteWithin(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-groups")
	a := collect(t, tr, queue, transport.ConsumeOptions{Group: "alpha"}, ack)
	b := collect(t, tr, queue, transport.ConsumeOptions{Group: "beta"}, ack)
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"x","payload":{}}`)}}); err != nil {
		t.Fatal(err)
	}
	next(t, a, 5*time.Second)
	next(t, b, 5*time.Second)
	nothing(t, a, 200*time.Millisecond)
}

func TestRetryWithDelayCountsAttemptsAndStaysInTheGroup(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-retry")
	other := collect(t, tr, queue, transport.ConsumeOptions{Group: "other"}, ack)
	got := collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		if d.Attempt() < 3 {
			return d.Retry(context.Background(), 300*time.Millisecond)
		}
		return d.Ack(context.Background())
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"x","payload":{}}`), Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	first := next(t, got, 5*time.Second)
	second := next(t, got, 5*time.Second)
	third := next(t, got, 5*time.Second)
	if first.attempt != 1 || second.attempt != 2 || third.attempt != 3 {
		t.Fatalf("attempts %d %d %d", first.attempt, second.attempt, third.attempt)
	}
	if gap := second.at.Sub(first.at); gap < 300*time.Millisecond {
		t.Fatalf("retried after %s, before its delay", gap)
	}
	if second.headers[headerAttempts] != "" || second.key != "k" {
		t.Fatalf("retry copy lost its key: %+v", second)
	}
	next(t, other, 5*time.Second)
	nothing(t, other, 800*time.Millisecond) // the other group never sees the retries
}

func TestDelayedPublishIsNeverEarly(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-delay")
	got := collect(t, tr, queue, transport.ConsumeOptions{}, ack)
	start := time.Now()
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"x","payload":{}}`), Delay: 400 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	r := next(t, got, 5*time.Second)
	if r.at.Sub(start) < 400*time.Millisecond || r.attempt != 1 {
		t.Fatalf("delivered after %s as attempt %d", r.at.Sub(start), r.attempt)
	}
}

func TestDeadLetterKeepsBytesAndDescribesTheReason(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-dead")
	body := "not json at all \xff"
	got := collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		return d.DeadLetter(context.Background(), transport.DeadLetterReason{Code: "invalid_json", Message: string(make([]byte, 2000))})
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body)}}); err != nil {
		t.Fatal(err)
	}
	next(t, got, 5*time.Second)
	dead, ok := rawGet(t, queue+".dead")
	if !ok {
		t.Fatal("nothing in the dead queue")
	}
	if string(dead.Body) != body {
		t.Fatalf("dead body %q", dead.Body)
	}
	if dead.Headers["thrun-dead-error-code"] != "invalid_json" || dead.Headers["thrun-dead-queue"] != queue || dead.Headers["thrun-dead-attempts"] != "1" || len(dead.Headers) != 5 {
		t.Fatalf("dead headers %v", dead.Headers)
	}
	if message := dead.Headers["thrun-dead-error-message"].(string); len(message) != 1024 {
		t.Fatalf("message not cut to 1024 bytes: %d", len(message))
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", dead.Headers["thrun-dead-failed-at"].(string)); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerErrorRetriesAtOnceAsTheNextAttempt(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-error")
	got := collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		if d.Attempt() == 1 {
			return errors.New("boom")
		}
		if d.Attempt() == 2 {
			return nil // returns without settling
		}
		return d.Ack(context.Background())
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 3; want++ {
		if r := next(t, got, 5*time.Second); r.attempt != want {
			t.Fatalf("attempt %d, want %d", r.attempt, want)
		}
	}
	nothing(t, got, 300*time.Millisecond)
}

func TestConcurrencyBoundsRunningHandlers(t *testing.T) {
	tr := newTransport(t, Options{Prefetch: 10})
	queue := uniqueQueue("go-rmq-concurrency")
	var running, highest, handled atomic.Int32
	var wg sync.WaitGroup
	wg.Add(12)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		now := running.Add(1)
		for {
			seen := highest.Load()
			if now <= seen || highest.CompareAndSwap(seen, now) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		running.Add(-1)
		handled.Add(1)
		defer wg.Done()
		return d.Ack(ctx)
	}, transport.ConsumeOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	messages := make([]transport.Message, 12)
	for i := range messages {
		messages[i] = transport.Message{Body: []byte(`{}`)}
	}
	if err := tr.Publish(context.Background(), queue, messages); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if highest.Load() != 3 {
		t.Fatalf("at most %d handlers ran at once, want 3", highest.Load())
	}
}

func TestCloseReleasesUnsettledToAnotherConsumerAsALaterAttempt(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := uniqueQueue("go-rmq-release")
	started := make(chan struct{}, 1)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		started <- struct{}{}
		<-ctx.Done() // released at the drain deadline
		return nil
	}, transport.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	second := newTransport(t, Options{})
	got := collect(t, second, queue, transport.ConsumeOptions{}, ack)
	if r := next(t, got, 5*time.Second); r.attempt != 2 {
		t.Fatalf("released message came back as attempt %d", r.attempt)
	}
}

func TestUnroutableAndTooLargePublishesFail(t *testing.T) {
	tr := newTransport(t, Options{MaxPayloadBytes: 10})
	err := tr.Publish(context.Background(), "whatever", []transport.Message{{Body: make([]byte, 11)}})
	var te *TransportError
	if !errors.As(err, &te) || te.Code != "payload_too_large" {
		t.Fatalf("got %v", err)
	}
}

func TestDelayBuckets(t *testing.T) {
	for _, ms := range []int64{1, 7, 99, 100, 101, 999, 1000, 1001, 1234, 59_999, 3_600_001} {
		bucket := delayBucketMs(time.Duration(ms) * time.Millisecond)
		if bucket < ms || float64(bucket) > float64(ms)*1.1+1 {
			t.Fatalf("%d ms → bucket %d", ms, bucket)
		}
	}
	if delayBucketMs(1234*time.Millisecond) != 1300 || delayBucketMs(59_999*time.Millisecond) != 60_000 || delayBucketMs(0) != 0 || delayBucketMs(-time.Second) != 0 {
		t.Fatal("bucket rounding differs from protocol/rabbitmq.md")
	}
	if groupQueueName("orders", "default") != "orders" || retryQueueName(groupQueueName("orders", "billing"), 1500) != "orders:billing:retry:1500" || delayQueueName("orders", 1500) != "orders:delay:1500" || exchangeName("orders") != "thrun.orders" {
		t.Fatal("names differ from protocol/rabbitmq.md")
	}
}
