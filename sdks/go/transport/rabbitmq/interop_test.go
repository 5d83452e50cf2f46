package rabbitmq

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/tspeer"
)

// A TypeScript producer's messages (now, keyed, delayed) reach a Go consumer byte for byte, and the
// Go consumer's retries count on.
func TestTypeScriptProducerToGoConsumer(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-from-ts")
	start := time.Now()
	tspeer.Produce(t, "rabbitmq", queue, []tspeer.Message{
		{Body: `{"event":"interop.a","payload":{"n":1}}`, Key: "k1"},
		{Body: `{"event":"interop.b","payload":{"s":"é"}}`},
		{Body: `{"event":"interop.c","payload":{}}`, DelayMs: 300},
	})
	// The same delay bucket as the TypeScript producer's: declared with the same arguments, or
	// RabbitMQ would refuse it.
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(`{"event":"interop.d","payload":{}}`), Delay: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		if d.Attempt() == 1 && d.Key() == "k1" {
			return d.Retry(context.Background(), 200*time.Millisecond)
		}
		return d.Ack(context.Background())
	})
	seen := map[string][]int{}
	for range 5 {
		r := brokertest.Next(t, got, 10*time.Second)
		seen[r.Body] = append(seen[r.Body], r.Attempt)
		if r.Body == `{"event":"interop.a","payload":{"n":1}}` && r.Key != "k1" {
			t.Fatalf("key lost: %+v", r)
		}
		if r.Body == `{"event":"interop.c","payload":{}}` && r.At.Sub(start) < 300*time.Millisecond {
			t.Fatal("the delayed message came early")
		}
	}
	want := map[string][]int{`{"event":"interop.a","payload":{"n":1}}`: {1, 2}, `{"event":"interop.b","payload":{"s":"é"}}`: {1}, `{"event":"interop.c","payload":{}}`: {1}, `{"event":"interop.d","payload":{}}`: {1}}
	for body, attempts := range want {
		if !equalInts(seen[body], attempts) {
			t.Fatalf("%s: attempts %v, want %v (all: %v)", body, seen[body], attempts, seen)
		}
	}
	brokertest.Nothing(t, got, 300*time.Millisecond)
}

// A Go producer's messages reach a TypeScript consumer; its retries of them count as attempt 2 and
// its dead letter is the Go producer's bytes.
func TestGoProducerToTypeScriptConsumer(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-to-ts")
	deliveries := tspeer.Consume(t, "rabbitmq", queue, 6)
	if err := tr.Publish(context.Background(), queue, []transport.Message{
		{Body: []byte(`{"event":"interop.a","payload":{"n":1}}`), Key: "k1"},
		{Body: []byte(`{"event":"interop.b","payload":{"dead":true}}`)},
		{Body: []byte(`{"event":"interop.c","payload":{}}`), Delay: 300 * time.Millisecond},
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[string][]int{}
	for range 6 {
		select {
		case d := <-deliveries:
			seen[d.Body] = append(seen[d.Body], d.Attempt)
			if d.Body == `{"event":"interop.a","payload":{"n":1}}` && d.Key != "k1" {
				t.Fatalf("key lost: %+v", d)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("the TypeScript consumer saw only %v", seen)
		}
	}
	for body, attempts := range seen {
		sort.Ints(attempts)
		if !equalInts(attempts, []int{1, 2}) {
			t.Fatalf("%s: attempts %v", body, attempts)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("saw %v", seen)
	}
	dead, ok := rawGet(t, queue+".dead")
	if !ok || string(dead.Body) != `{"event":"interop.b","payload":{"dead":true}}` || dead.Headers["thrun-dead-error-code"] != "ts_dead" || dead.Headers["thrun-dead-attempts"] != "2" {
		t.Fatalf("dead letter %q %v", dead.Body, dead.Headers)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
