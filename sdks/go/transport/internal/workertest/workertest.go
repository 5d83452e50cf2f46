// Package workertest runs the Go worker (package thrun) over a real broker transport: what a Go
// service gets end to end, the same on every transport.
package workertest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
)

// Broker is what the suite needs of a transport under test.
type Broker struct {
	// New returns a fresh transport; the suite closes it.
	New func(t *testing.T) transport.Transport
	// DeadLetters reads n dead letters of queue with a plain client of the broker.
	DeadLetters func(t *testing.T, queue string, n int) []transport.QueuedMessage
}

var fastRetry = &thrun.Retry{MaxAttempts: 3, Backoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}

func start(t *testing.T, b Broker, queue string, listen func(c *thrun.Thrun)) *thrun.Thrun {
	t.Helper()
	tr := b.New(t)
	off := false
	c, err := thrun.New(tr, thrun.Options{Queue: queue, Retry: fastRetry, HandleSignals: &off, Logger: slog.New(slog.DiscardHandler), Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	listen(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		_ = tr.Close(context.Background())
	})
	return c
}

// Run runs the suite.
func Run(t *testing.T, b Broker) {
	t.Run("retries count attempts, then the dead queue holds the envelope", func(t *testing.T) {
		queue := brokertest.UniqueQueue("go-worker-retry")
		attempts := make(chan int, 10)
		c := start(t, b, queue, func(c *thrun.Thrun) {
			_ = c.Listen("flaky", func(_ context.Context, m *thrun.Message) error {
				attempts <- m.Attempt
				return errors.New("boom")
			})
		})
		id, err := c.Dispatch(context.Background(), "flaky", map[string]int{"n": 1})
		if err != nil {
			t.Fatal(err)
		}
		for want := 1; want <= 3; want++ {
			if got := brokertest.Next(t, attempts, 30*time.Second); got != want {
				t.Fatalf("attempt %d, want %d", got, want)
			}
		}
		dead := b.DeadLetters(t, queue, 1)[0]
		if dead.Headers[transport.HeaderDeadErrorCode] != "max_attempts" || dead.Headers[transport.HeaderDeadAttempts] != "3" || dead.Headers[transport.HeaderDeadQueue] != queue {
			t.Fatalf("dead letter headers %v", dead.Headers)
		}
		var envelope thrun.Envelope
		if err := json.Unmarshal(dead.Body, &envelope); err != nil || envelope.Event != "flaky" || envelope.Meta == nil || envelope.Meta.EventID != id {
			t.Fatalf("dead letter body %q", dead.Body)
		}
	})

	t.Run("a permanent error is dead-lettered on its first attempt", func(t *testing.T) {
		queue := brokertest.UniqueQueue("go-worker-permanent")
		c := start(t, b, queue, func(c *thrun.Thrun) {
			_ = c.Listen("doomed", func(context.Context, *thrun.Message) error { return thrun.Permanentf("order %d does not exist", 7) })
		})
		if _, err := c.Dispatch(context.Background(), "doomed", nil); err != nil {
			t.Fatal(err)
		}
		dead := b.DeadLetters(t, queue, 1)[0]
		if dead.Headers[transport.HeaderDeadErrorCode] != "non_retryable" || dead.Headers[transport.HeaderDeadAttempts] != "1" {
			t.Fatalf("dead letter %v", dead.Headers)
		}
	})

	t.Run("bad input is dead-lettered with its reason and the next message is handled", func(t *testing.T) {
		queue := brokertest.UniqueQueue("go-worker-bad")
		handled := make(chan string, 1)
		c := start(t, b, queue, func(c *thrun.Thrun) {
			_ = c.Listen("good", func(_ context.Context, m *thrun.Message) error { handled <- m.Envelope.Event; return nil })
		})
		bad := map[string]string{"{not json": "invalid_json", `{"event":"good","payload":{},"payload":{}}`: "duplicate_key", "\xff": "invalid_utf8"}
		for body := range bad {
			if err := c.Transport().Publish(context.Background(), queue, []transport.Message{{Body: []byte(body)}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Dispatch(context.Background(), "good", nil); err != nil {
			t.Fatal(err)
		}
		brokertest.Next(t, handled, 30*time.Second)
		for _, dead := range b.DeadLetters(t, queue, len(bad)) {
			if code, ok := bad[string(dead.Body)]; !ok || dead.Headers[transport.HeaderDeadErrorCode] != code {
				t.Fatalf("dead letter %v %q", dead.Headers, dead.Body)
			}
		}
	})
}
