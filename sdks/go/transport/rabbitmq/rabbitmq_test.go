package rabbitmq

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
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
	brokertest.Reach(t, "RabbitMQ", parsed.Host, "scripts/brokers/rabbitmq.sh")
	return raw
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

// rawGet takes one message from a queue with a plain AMQP client, as any other runtime would.
func rawGet(t *testing.T, queue string) (amqp.Delivery, bool) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 100 {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		message, ok, err := ch.Get(queue, true)
		_ = ch.Close()
		if ok {
			return message, true
		}
		// 404: the queue is declared with the first message it gets; not yet.
		if err != nil && !strings.Contains(err.Error(), "NOT_FOUND") {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return amqp.Delivery{}, false
}

func TestPublishConsumeKeepsBytesKeyAndAcks(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-basic")
	body := `{"event":"order_created","payload":{"order_id":1,"text":"é\u2028"}}`
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body), Key: "order-1"}, {Body: []byte(`{"event":"b","payload":{}}`)}}); err != nil {
		t.Fatal(err)
	}
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	first := brokertest.Next(t, got, 5*time.Second)
	if first.Body != body || first.Attempt != 1 || first.Key != "order-1" {
		t.Fatalf("got %+v", first)
	}
	if second := brokertest.Next(t, got, 5*time.Second); second.Key != "" || second.Attempt != 1 {
		t.Fatalf("got %+v", second)
	}
	brokertest.Nothing(t, got, 300*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if _, ok := rawGet(t, queue); ok {
		t.Fatal("an acked message is still in the queue")
	}
}

func TestGroupsFanOutAndCompeteWithin(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-groups")
	a := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "alpha"}, brokertest.Ack)
	b := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "beta"}, brokertest.Ack)
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"x","payload":{}}`)}}); err != nil {
		t.Fatal(err)
	}
	brokertest.Next(t, a, 5*time.Second)
	brokertest.Next(t, b, 5*time.Second)
	brokertest.Nothing(t, a, 200*time.Millisecond)
}

func TestRetryWithDelayCountsAttemptsAndStaysInTheGroup(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-retry")
	other := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "other"}, brokertest.Ack)
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		if d.Attempt() < 3 {
			return d.Retry(context.Background(), 300*time.Millisecond)
		}
		return d.Ack(context.Background())
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"x","payload":{}}`), Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	first := brokertest.Next(t, got, 5*time.Second)
	second := brokertest.Next(t, got, 5*time.Second)
	third := brokertest.Next(t, got, 5*time.Second)
	if first.Attempt != 1 || second.Attempt != 2 || third.Attempt != 3 {
		t.Fatalf("attempts %d %d %d", first.Attempt, second.Attempt, third.Attempt)
	}
	if gap := second.At.Sub(first.At); gap < 300*time.Millisecond {
		t.Fatalf("retried after %s, before its delay", gap)
	}
	if second.Headers[headerAttempts] != "" || second.Key != "k" {
		t.Fatalf("retry copy lost its key: %+v", second)
	}
	brokertest.Next(t, other, 5*time.Second)
	brokertest.Nothing(t, other, 800*time.Millisecond) // the other group never sees the retries
}

func TestDelayedPublishIsNeverEarly(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-delay")
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	start := time.Now()
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"x","payload":{}}`), Delay: 400 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	r := brokertest.Next(t, got, 5*time.Second)
	if r.At.Sub(start) < 400*time.Millisecond || r.Attempt != 1 {
		t.Fatalf("delivered after %s as attempt %d", r.At.Sub(start), r.Attempt)
	}
}

func TestDeadLetterKeepsBytesAndDescribesTheReason(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-dead")
	body := "not json at all \xff"
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		return d.DeadLetter(context.Background(), transport.DeadLetterReason{Code: "invalid_json", Message: string(make([]byte, 2000))})
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body)}}); err != nil {
		t.Fatal(err)
	}
	brokertest.Next(t, got, 5*time.Second)
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
	queue := brokertest.UniqueQueue("go-rmq-error")
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
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
		if r := brokertest.Next(t, got, 5*time.Second); r.Attempt != want {
			t.Fatalf("attempt %d, want %d", r.Attempt, want)
		}
	}
	brokertest.Nothing(t, got, 300*time.Millisecond)
}

func TestConcurrencyBoundsRunningHandlers(t *testing.T) {
	tr := newTransport(t, Options{Prefetch: 10})
	queue := brokertest.UniqueQueue("go-rmq-concurrency")
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
	queue := brokertest.UniqueQueue("go-rmq-release")
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
	got := brokertest.Collect(t, second, queue, transport.ConsumeOptions{}, brokertest.Ack)
	if r := brokertest.Next(t, got, 5*time.Second); r.Attempt != 2 {
		t.Fatalf("released message came back as attempt %d", r.Attempt)
	}
}

func TestInvalidTooLargeAndClosedPublishesFail(t *testing.T) {
	tr := newTransport(t, Options{MaxPayloadBytes: 10})
	err := tr.Publish(context.Background(), "whatever", []transport.Message{{Body: []byte("ok")}, {Body: make([]byte, 11)}})
	var te *TransportError
	if !errors.As(err, &te) || te.Code != "payload_too_large" || !errors.Is(err, transport.ErrPayloadTooLarge) {
		t.Fatalf("got %v", err)
	}
	if _, ok := rawGet(t, "whatever"); ok {
		t.Fatal("a batch refused as too large sent its other messages")
	}
	if err := tr.Publish(context.Background(), "Bad:Queue", nil); !errors.Is(err, transport.ErrInvalidQueue) {
		t.Fatalf("got %v", err)
	}
	_ = tr.Close(context.Background())
	if err := tr.Publish(context.Background(), "whatever", nil); !errors.Is(err, transport.ErrClosed) {
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

func TestPeekShowsDeadLettersInPlaceAndPurgeEmpties(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-peek")
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		return d.DeadLetter(context.Background(), transport.DeadLetterReason{Code: "bad", Message: "bad"})
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte("one")}, {Body: []byte("two")}}); err != nil {
		t.Fatal(err)
	}
	brokertest.Next(t, got, 5*time.Second)
	brokertest.Next(t, got, 5*time.Second)
	var seen []transport.QueuedMessage
	for range 50 {
		var err error
		if seen, err = tr.Peek(context.Background(), queue+".dead", 10); err != nil {
			t.Fatal(err)
		}
		if len(seen) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(seen) != 2 || string(seen[0].Body) != "one" || string(seen[1].Body) != "two" || seen[0].Headers[transport.HeaderDeadErrorCode] != "bad" {
		t.Fatalf("peeked %+v", seen)
	}
	again, err := tr.Peek(context.Background(), queue+".dead", 10)
	if err != nil || len(again) != 2 {
		t.Fatalf("peek took the messages away: %d, %v", len(again), err)
	}
	if _, err := tr.Peek(context.Background(), queue, 1); !errors.Is(err, transport.ErrUnsupported) {
		t.Fatalf("peek of a quorum queue: %v", err)
	}
	if n, err := tr.Purge(context.Background(), queue+".dead"); err != nil || n != 2 {
		t.Fatalf("purged %d, %v", n, err)
	}
}

// A consumer whose queue is deleted under it (the broker cancels it) subscribes again, declaring
// the queue anew, and publishing declares what it lost: nothing is stuck.
func TestConsumerAndPublisherRecoverFromADeletedQueue(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-deleted")
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte("before")}}); err != nil {
		t.Fatal(err)
	}
	brokertest.Next(t, got, 5*time.Second)
	conn, err := amqp.Dial(brokerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte("after")}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing after the deletion: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := brokertest.Next(t, got, 10*time.Second); r.Body != "after" {
		t.Fatalf("got %+v", r)
	}
}
