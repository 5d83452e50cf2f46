package kafka

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
)

// brokers are the test brokers (scripts/brokers/kafka.sh). Under CI=true an unreachable broker
// fails the test; elsewhere it skips.
func brokers(t *testing.T) []string {
	t.Helper()
	raw := os.Getenv("THRUN_KAFKA_BROKERS")
	if raw == "" {
		raw = "127.0.0.1:9092"
	}
	list := strings.Split(raw, ",")
	brokertest.Reach(t, "Kafka", list[0], "scripts/brokers/kafka.sh")
	return list
}

func newTransport(t *testing.T, opts Options) *Transport {
	t.Helper()
	opts.Brokers = brokers(t)
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr
}

// readTopic reads every record of a topic from the start with a plain client, as any runtime would.
func readTopic(t *testing.T, topic string, want int) []*kgo.Record {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(brokers(t)...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var records []*kgo.Record
	for len(records) < want {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(records), want, topic)
		}
		records = append(records, fetches.Records()...)
	}
	return records
}

const wait = 20 * time.Second

func TestPublishConsumeKeepsBytesAndKey(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-basic")
	body := `{"event":"order_created","payload":{"order_id":1,"text":"é\u2028"}}`
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body), Key: "order-1"}}); err != nil {
		t.Fatal(err)
	}
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	r := brokertest.Next(t, got, wait)
	if r.Body != body || r.Attempt != 1 || r.Key != "order-1" || r.Headers != nil {
		t.Fatalf("got %+v", r)
	}
	brokertest.Nothing(t, got, 500*time.Millisecond)
}

func TestAckedOffsetsAreCommittedAndNotDeliveredAgain(t *testing.T) {
	queue := brokertest.UniqueQueue("go-kafka-commit")
	first := newTransport(t, Options{})
	if err := first.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"n":1}`)}, {Body: []byte(`{"n":2}`)}}); err != nil {
		t.Fatal(err)
	}
	got := brokertest.Collect(t, first, queue, transport.ConsumeOptions{}, brokertest.Ack)
	brokertest.Next(t, got, wait)
	brokertest.Next(t, got, wait)
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := newTransport(t, Options{})
	again := brokertest.Collect(t, second, queue, transport.ConsumeOptions{}, brokertest.Ack)
	if err := second.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"n":3}`)}}); err != nil {
		t.Fatal(err)
	}
	if r := brokertest.Next(t, again, wait); r.Body != `{"n":3}` {
		t.Fatalf("an acked record came back: %+v", r)
	}
}

func TestRetryWithDelayCountsAttemptsForItsGroupOnly(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-retry")
	other := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "other"}, brokertest.Ack)
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		switch d.Attempt() {
		case 1:
			return d.Retry(context.Background(), 500*time.Millisecond)
		case 2:
			return d.Retry(context.Background(), 0)
		}
		return d.Ack(context.Background())
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"r":1}`), Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	first, second, third := brokertest.Next(t, got, wait), brokertest.Next(t, got, wait), brokertest.Next(t, got, wait)
	if first.Attempt != 1 || second.Attempt != 2 || third.Attempt != 3 {
		t.Fatalf("attempts %d %d %d", first.Attempt, second.Attempt, third.Attempt)
	}
	t.Logf("gaps %s %s", second.At.Sub(first.At), third.At.Sub(second.At))
	if gap := second.At.Sub(first.At); gap < 500*time.Millisecond {
		t.Fatalf("retried after %s, before its delay", gap)
	}
	if second.Headers[headerGroup] != "default" || second.Headers[headerAttempt] != "2" || second.Key != "k" || second.Body != `{"r":1}` {
		t.Fatalf("retry copy %+v", second)
	}
	if _, due := second.Headers[headerDueAt]; due {
		t.Fatal("a forwarded copy kept thrun-due-at")
	}
	brokertest.Next(t, other, wait)
	brokertest.Nothing(t, other, time.Second) // the copies are for the retrying group only
}

func TestDelayedPublishIsNeverEarlyAndReachesEveryGroup(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-delay")
	a := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	b := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "b"}, brokertest.Ack)
	start := time.Now()
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"late":1}`), Delay: 1500 * time.Millisecond}, {Body: []byte(`{"soon":1}`), Delay: 200 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan brokertest.Received{a, b} {
		soon, late := brokertest.Next(t, ch, wait), brokertest.Next(t, ch, wait)
		if soon.Body != `{"soon":1}` || soon.At.Sub(start) < 200*time.Millisecond || late.At.Sub(start) < 1500*time.Millisecond || soon.Attempt != 1 || late.Attempt != 1 {
			t.Fatalf("soon %+v after %s, late %+v after %s", soon, soon.At.Sub(start), late, late.At.Sub(start))
		}
	}
}

func TestDeadLetterKeepsKeyAndValue(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-dead")
	body := "not json \xff"
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "billing"}, func(d transport.Delivery) error {
		if d.Attempt() == 1 {
			return d.Retry(context.Background(), 0)
		}
		return d.DeadLetter(context.Background(), transport.DeadLetterReason{Code: "invalid_json", Message: "not JSON"})
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body), Key: "k1"}}); err != nil {
		t.Fatal(err)
	}
	brokertest.Next(t, got, wait)
	brokertest.Next(t, got, wait)
	dead := readTopic(t, queue+".dead", 1)[0]
	headers := textHeaders(dead)
	if string(dead.Value) != body || string(dead.Key) != "k1" || len(headers) != 6 || headers["thrun-dead-error-code"] != "invalid_json" || headers["thrun-dead-attempts"] != "2" || headers["thrun-dead-queue"] != queue || headers[headerFailedGroup] != "billing" {
		t.Fatalf("dead letter %q key %q headers %v", dead.Value, dead.Key, headers)
	}
}

func TestHandlerErrorRetriesAtOnce(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-error")
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		switch d.Attempt() {
		case 1:
			return errors.New("boom")
		case 2:
			panic("handler bug")
		}
		return d.Ack(context.Background())
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 3; want++ {
		if r := brokertest.Next(t, got, wait); r.Attempt != want {
			t.Fatalf("attempt %d, want %d", r.Attempt, want)
		}
	}
	brokertest.Nothing(t, got, 500*time.Millisecond)
}

func TestConcurrencyAndPerKeyOrder(t *testing.T) {
	tr := newTransport(t, Options{Partitions: 1})
	queue := brokertest.UniqueQueue("go-kafka-concurrency")
	var running, highest atomic.Int32
	var mu sync.Mutex
	order := map[string][]string{}
	var wg sync.WaitGroup
	wg.Add(20)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		defer wg.Done()
		now := running.Add(1)
		for seen := highest.Load(); now > seen && !highest.CompareAndSwap(seen, now); seen = highest.Load() {
		}
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		order[d.Key()] = append(order[d.Key()], string(d.Body()))
		mu.Unlock()
		running.Add(-1)
		return d.Ack(ctx)
	}, transport.ConsumeOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	var messages []transport.Message
	for i := range 20 {
		key := []string{"a", "b", "c", "d", "e"}[i%5]
		messages = append(messages, transport.Message{Body: []byte{byte('0' + i/5)}, Key: key})
	}
	if err := tr.Publish(context.Background(), queue, messages); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if highest.Load() != 4 {
		t.Fatalf("at most %d handlers ran at once, want 4", highest.Load())
	}
	for key, bodies := range order {
		if strings.Join(bodies, "") != "0123" {
			t.Fatalf("key %s handled in order %v", key, bodies)
		}
	}
}

func TestCloseReleasesUnsettledAsTheNextAttempt(t *testing.T) {
	queue := brokertest.UniqueQueue("go-kafka-release")
	first := newTransport(t, Options{})
	started := make(chan struct{}, 1)
	sub, err := first.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		started <- struct{}{}
		<-ctx.Done()
		return nil
	}, transport.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"slow":1}`)}}); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = sub.Close(ctx)
	second := newTransport(t, Options{})
	got := brokertest.Collect(t, second, queue, transport.ConsumeOptions{}, brokertest.Ack)
	if r := brokertest.Next(t, got, wait); r.Attempt != 2 || r.Body != `{"slow":1}` {
		t.Fatalf("released record came back as %+v", r)
	}
	brokertest.Nothing(t, got, time.Second) // the original's offset was committed past
}

func TestInvalidQueueAndTooLargePublishesFail(t *testing.T) {
	tr := newTransport(t, Options{MaxPayloadBytes: 10})
	if err := tr.Publish(context.Background(), "ok", []transport.Message{{Body: make([]byte, 11)}}); !errors.Is(err, transport.ErrPayloadTooLarge) {
		t.Fatalf("got %v", err)
	}
	if err := tr.Publish(context.Background(), "Bad:Queue", []transport.Message{{Body: []byte(`{}`)}}); !errors.Is(err, transport.ErrInvalidQueue) {
		t.Fatalf("got %v", err)
	}
	if err := tr.Publish(context.Background(), strings.Repeat("a", 239), nil); !errors.Is(err, transport.ErrInvalidQueue) {
		t.Fatalf("got %v", err)
	}
	_ = tr.Close(context.Background())
	if err := tr.Publish(context.Background(), "ok", nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

// Handlers of one poll start in any order; a record handled before an earlier offset of its
// partition is still a first delivery.
func TestFirstDeliveriesAreAttemptOneWhateverOrderTheirHandlersStart(t *testing.T) {
	tr := newTransport(t, Options{Partitions: 1})
	queue := brokertest.UniqueQueue("go-kafka-first-attempts")
	const total = 200
	var messages []transport.Message
	for i := range total {
		messages = append(messages, transport.Message{Body: []byte(strconv.Itoa(i))})
	}
	attempts := make(chan int, total)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		attempts <- d.Attempt()
		return d.Ack(ctx)
	}, transport.ConsumeOptions{Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	if err := tr.Publish(context.Background(), queue, messages); err != nil {
		t.Fatal(err)
	}
	for range total {
		select {
		case attempt := <-attempts:
			if attempt != 1 {
				t.Fatalf("a first delivery came as attempt %d", attempt)
			}
		case <-time.After(wait):
			t.Fatal("timed out")
		}
	}
}
