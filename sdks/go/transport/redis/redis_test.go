package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// redisURL is the Redis the tests run against: THRUN_REDIS_URL, as the TypeScript tests read it.
// A test fails, never skips, when it is unreachable.
func redisURL() string {
	if url := os.Getenv("THRUN_REDIS_URL"); url != "" {
		return url
	}
	return "redis://127.0.0.1:6390"
}

func rawClient(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis is not reachable at %s (%v): start it with scripts/brokers/redis.sh start", opts.Addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testQueue is a queue of the test's own; its keys are deleted when the test ends.
func testQueue(t *testing.T, raw *redis.Client) string {
	q := "go-test-" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	t.Cleanup(func() {
		ctx := context.Background()
		for _, pattern := range []string{q, q + ".dead", "{" + q + "}:*"} {
			keys, _ := raw.Keys(ctx, pattern).Result()
			if len(keys) > 0 {
				raw.Del(ctx, keys...)
			}
		}
	})
	return q
}

func open(t *testing.T, mode Mode, opts Options) *Transport {
	t.Helper()
	opts.URL = redisURL()
	opts.Mode = mode
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tr.Close(ctx)
	})
	return tr
}

type received struct {
	body    string
	attempt int
	key     string
}

// collect consumes queue, settling each delivery with settle, and sends what it saw.
func collect(t *testing.T, tr *Transport, queue string, concurrency int, settle func(transport.Delivery) error) <-chan received {
	t.Helper()
	out := make(chan received, 100)
	_, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		out <- received{string(d.Body()), d.Attempt(), d.Key()}
		return settle(d)
	}, transport.ConsumeOptions{Concurrency: concurrency})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func next(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
		return received{}
	}
}

func ack(d transport.Delivery) error { return d.Ack(context.Background()) }

var modes = []Mode{ModeList, ModeStream}

func TestPublishConsumeKeepsBytesAndOrder(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := rawClient(t)
			q := testQueue(t, raw)
			tr := open(t, mode, Options{})
			ctx := context.Background()
			bodies := []string{`{"event":"a","payload":{"n":1}}`, "\xff not even UTF-8", `{"event":"a","payload":{"n":3}}`}
			var messages []transport.Message
			for _, b := range bodies {
				messages = append(messages, transport.Message{Body: []byte(b)})
			}
			if err := tr.Publish(ctx, q, messages); err != nil {
				t.Fatal(err)
			}
			got := collect(t, tr, q, 1, ack)
			for _, want := range bodies {
				if r := next(t, got); r.body != want || r.attempt != 1 {
					t.Fatalf("got %q attempt %d, want %q attempt 1", r.body, r.attempt, want)
				}
			}
		})
	}
}

func TestForeignLPushIsConsumed(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	tr := open(t, ModeList, Options{})
	got := collect(t, tr, q, 1, ack)
	raw.LPush(context.Background(), q, `{"event":"go_message","payload":{"text":"hello"}}`)
	if r := next(t, got); r.body != `{"event":"go_message","payload":{"text":"hello"}}` {
		t.Fatalf("got %q", r.body)
	}
}

func TestRetryCountsAttemptsAndAckForgetsThem(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := rawClient(t)
			q := testQueue(t, raw)
			tr := open(t, mode, Options{})
			ctx := context.Background()
			got := collect(t, tr, q, 1, func(d transport.Delivery) error {
				switch d.Attempt() {
				case 1:
					return d.Retry(ctx, 0)
				case 2:
					return d.Retry(ctx, 200*time.Millisecond)
				default:
					return d.Ack(ctx)
				}
			})
			_ = tr.Publish(ctx, q, []transport.Message{{Body: []byte("retried")}})
			first := next(t, got)
			second := next(t, got)
			began := time.Now()
			third := next(t, got)
			if first.attempt != 1 || second.attempt != 2 || third.attempt != 3 {
				t.Fatalf("attempts %d %d %d", first.attempt, second.attempt, third.attempt)
			}
			if waited := time.Since(began); waited < 150*time.Millisecond {
				t.Fatalf("a 200ms retry came back after %s", waited)
			}
			if mode == ModeList {
				time.Sleep(50 * time.Millisecond)
				if n, _ := raw.HLen(ctx, "{"+q+"}:attempts").Result(); n != 0 {
					t.Fatalf("attempts hash keeps %d fields after the ack", n)
				}
			}
		})
	}
}

func TestUnsettledDeliveryIsRetriedAtOnce(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	tr := open(t, ModeList, Options{})
	ctx := context.Background()
	got := collect(t, tr, q, 1, func(d transport.Delivery) error {
		if d.Attempt() == 1 {
			return nil // returns without settling
		}
		return d.Ack(ctx)
	})
	_ = tr.Publish(ctx, q, []transport.Message{{Body: []byte("x")}})
	if a, b := next(t, got), next(t, got); a.attempt != 1 || b.attempt != 2 {
		t.Fatalf("attempts %d, %d", a.attempt, b.attempt)
	}
}

// readDeadLetter reads the one dead letter of q: a frame in a list (Lists) or in field b (Streams).
func readDeadLetter(t *testing.T, raw *redis.Client, mode Mode, q string) (transport.DeadLetterDescription, []byte) {
	t.Helper()
	ctx := context.Background()
	var frame string
	deadline := time.Now().Add(5 * time.Second)
	for frame == "" && time.Now().Before(deadline) {
		if mode == ModeList {
			frame, _ = raw.LIndex(ctx, q+".dead", 0).Result()
		} else if entries, _ := raw.XRange(ctx, q+".dead", "-", "+").Result(); len(entries) > 0 {
			frame, _ = entries[0].Values["b"].(string)
		}
		if frame == "" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	line, body, found := bytes.Cut([]byte(frame), []byte("\n"))
	if !found {
		t.Fatalf("not a dead-letter frame: %q", frame)
	}
	var d transport.DeadLetterDescription
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&d); err != nil {
		t.Fatalf("frame line %q: %v", line, err)
	}
	return d, body
}

func TestDeadLetterWritesAFrame(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := rawClient(t)
			q := testQueue(t, raw)
			tr := open(t, mode, Options{})
			ctx := context.Background()
			collect(t, tr, q, 1, func(d transport.Delivery) error {
				return d.DeadLetter(ctx, transport.DeadLetterReason{Code: "invalid_json", Message: "not JSON"})
			})
			_ = tr.Publish(ctx, q, []transport.Message{{Body: []byte("{broken")}})
			d, body := readDeadLetter(t, raw, mode, q)
			if string(body) != "{broken" || d.Queue != q || d.Error.Code != "invalid_json" || d.Attempts != 1 {
				t.Fatalf("dead letter %+v %q", d, body)
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", d.FailedAt); err != nil {
				t.Fatalf("failed_at %q", d.FailedAt)
			}
		})
	}
}

func TestDelayedPublish(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := rawClient(t)
			q := testQueue(t, raw)
			tr := open(t, mode, Options{})
			ctx := context.Background()
			got := collect(t, tr, q, 1, ack)
			sent := time.Now()
			_ = tr.Publish(ctx, q, []transport.Message{{Body: []byte("later"), Delay: 300 * time.Millisecond}, {Body: []byte("now")}})
			if r := next(t, got); r.body != "now" {
				t.Fatalf("first %q", r.body)
			}
			if r := next(t, got); r.body != "later" || time.Since(sent) < 300*time.Millisecond {
				t.Fatalf("%q after %s", r.body, time.Since(sent))
			}
		})
	}
}

// A consumer that died holding a message (its lease expired, its processing list still full) loses
// nothing: a live consumer reaps it and delivers it as the next attempt.
func TestDeadConsumersMessagesComeBack(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	ctx := context.Background()
	dead := "default:" + uuid.NewString()
	raw.LPush(ctx, "{"+q+"}:processing:"+dead, "held by the dead")
	raw.ZAdd(ctx, "{"+q+"}:consumers", redis.Z{Score: 1, Member: dead}) // expired long ago
	tr := open(t, ModeList, Options{VisibilityTimeout: 300 * time.Millisecond})
	got := collect(t, tr, q, 1, ack)
	if r := next(t, got); r.body != "held by the dead" || r.attempt != 2 {
		t.Fatalf("got %q attempt %d", r.body, r.attempt)
	}
}

func TestStreamsClaimAfterIdle(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	ctx := context.Background()
	raw.XGroupCreateMkStream(ctx, q, "default", "0")
	raw.XAdd(ctx, &redis.XAddArgs{Stream: q, Values: []any{"b", "orphan"}})
	raw.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "default", Consumer: "gone", Streams: []string{q, ">"}, Count: 1})
	tr := open(t, ModeStream, Options{VisibilityTimeout: 200 * time.Millisecond})
	got := collect(t, tr, q, 1, ack)
	if r := next(t, got); r.body != "orphan" || r.attempt != 2 {
		t.Fatalf("got %q attempt %d", r.body, r.attempt)
	}
}

// Close waits for running handlers, then puts back what is still unsettled as its next attempt.
func TestCloseReleasesUnsettledMessages(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := rawClient(t)
			q := testQueue(t, raw)
			ctx := context.Background()
			tr := open(t, mode, Options{VisibilityTimeout: 300 * time.Millisecond})
			started := make(chan struct{})
			var once sync.Once
			sub, err := tr.Consume(ctx, q, func(ctx context.Context, d transport.Delivery) error {
				once.Do(func() { close(started) })
				time.Sleep(time.Second) // outlives the drain deadline below
				return nil
			}, transport.ConsumeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_ = tr.Publish(ctx, q, []transport.Message{{Body: []byte("slow")}})
			<-started
			drain, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_ = sub.Close(drain)
			other := open(t, mode, Options{VisibilityTimeout: 300 * time.Millisecond})
			got := collect(t, other, q, 1, ack)
			if r := next(t, got); r.body != "slow" || r.attempt != 2 {
				t.Fatalf("got %q attempt %d", r.body, r.attempt)
			}
		})
	}
}

func TestCompetingConsumersShareTheQueue(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	ctx := context.Background()
	a, b := open(t, ModeList, Options{}), open(t, ModeList, Options{})
	seen := make(chan received, 200)
	for _, tr := range []*Transport{a, b} {
		ch := collect(t, tr, q, 4, ack)
		go func() {
			for r := range ch {
				seen <- r
			}
		}()
	}
	var messages []transport.Message
	for i := range 100 {
		messages = append(messages, transport.Message{Body: []byte(uuid.NewString() + string(rune('a'+i%26)))})
	}
	if err := a.Publish(ctx, q, messages); err != nil {
		t.Fatal(err)
	}
	unique := map[string]bool{}
	for range 100 {
		unique[next(t, seen).body] = true
	}
	if len(unique) != 100 {
		t.Fatalf("%d distinct of 100", len(unique))
	}
	select {
	case r := <-seen:
		t.Fatalf("delivered twice: %q", r.body)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestPublishRefusesWhatItCannotTake(t *testing.T) {
	tr := open(t, ModeList, Options{MaxPayloadBytes: 10})
	ctx := context.Background()
	if err := tr.Publish(ctx, "q", []transport.Message{{Body: make([]byte, 11)}}); !errorsIs(err, transport.ErrPayloadTooLarge) {
		t.Fatalf("got %v", err)
	}
	if err := tr.Publish(ctx, "Bad Queue", []transport.Message{{Body: []byte("x")}}); !errorsIs(err, transport.ErrInvalidQueue) {
		t.Fatalf("got %v", err)
	}
	_ = tr.Close(ctx)
	if err := tr.Publish(ctx, "q", []transport.Message{{Body: []byte("x")}}); !errorsIs(err, transport.ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
