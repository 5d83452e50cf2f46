// Package interop runs the cross-runtime tests of a Go transport against the TypeScript transport
// of the same broker (internal/tspeer runs the TypeScript side).
package interop

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/internal/tspeer"
	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/workertest"
)

const within = 30 * time.Second

// Run runs the cross-runtime tests of a Go transport against the TypeScript transport kind
// (tspeer.RabbitMQ, tspeer.Kafka), both ways.
func Run(t *testing.T, kind string, b workertest.Broker) {
	// A TypeScript producer's messages (now, keyed, delayed) reach a Go consumer byte for byte; a
	// Go producer's delayed message shares the TypeScript one's delay route; Go's retries count on.
	t.Run("TypeScript producer to Go consumer", func(t *testing.T) {
		tr := b.New(t)
		queue := brokertest.UniqueQueue("go-" + kind + "-from-ts")
		start := time.Now()
		tspeer.Produce(t, kind, queue, []tspeer.Message{
			{Body: `{"event":"interop.a","payload":{"n":1}}`, Key: "k1"},
			{Body: `{"event":"interop.b","payload":{"s":"é"}}`},
			{Body: `{"event":"interop.c","payload":{}}`, DelayMs: 300},
		})
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
			r := brokertest.Next(t, got, within)
			seen[r.Body] = append(seen[r.Body], r.Attempt)
			if r.Body == `{"event":"interop.a","payload":{"n":1}}` && r.Key != "k1" {
				t.Fatalf("key lost: %+v", r)
			}
			if r.Body == `{"event":"interop.c","payload":{}}` && r.At.Sub(start) < 300*time.Millisecond {
				t.Fatal("the delayed message came early")
			}
		}
		want := map[string][]int{
			`{"event":"interop.a","payload":{"n":1}}`:   {1, 2},
			`{"event":"interop.b","payload":{"s":"é"}}`: {1},
			`{"event":"interop.c","payload":{}}`:        {1},
			`{"event":"interop.d","payload":{}}`:        {1},
		}
		for body, attempts := range want {
			if !slices.Equal(seen[body], attempts) {
				t.Fatalf("%s: attempts %v, want %v (all: %v)", body, seen[body], attempts, seen)
			}
		}
		brokertest.Nothing(t, got, 500*time.Millisecond)
	})

	// A Go producer's messages reach a TypeScript consumer; its retries of them count as attempt 2
	// and its dead letter holds the Go producer's bytes.
	t.Run("Go producer to TypeScript consumer", func(t *testing.T) {
		tr := b.New(t)
		queue := brokertest.UniqueQueue("go-" + kind + "-to-ts")
		deliveries := tspeer.Consume(t, kind, queue, 6)
		if err := tr.Publish(context.Background(), queue, []transport.Message{
			{Body: []byte(`{"event":"interop.a","payload":{"n":1}}`), Key: "k1"},
			{Body: []byte(`{"event":"interop.b","payload":{"dead":true}}`)},
			{Body: []byte(`{"event":"interop.c","payload":{}}`), Delay: 300 * time.Millisecond},
		}); err != nil {
			t.Fatal(err)
		}
		seen := map[string][]int{}
		for range 6 {
			d := brokertest.Next(t, deliveries, within)
			seen[d.Body] = append(seen[d.Body], d.Attempt)
			if d.Body == `{"event":"interop.a","payload":{"n":1}}` && d.Key != "k1" {
				t.Fatalf("key lost: %+v", d)
			}
		}
		for body, attempts := range seen {
			sort.Ints(attempts)
			if !slices.Equal(attempts, []int{1, 2}) {
				t.Fatalf("%s: attempts %v", body, attempts)
			}
		}
		if len(seen) != 3 {
			t.Fatalf("saw %v", seen)
		}
		dead := b.DeadLetters(t, queue, 1)[0]
		if string(dead.Body) != `{"event":"interop.b","payload":{"dead":true}}` || dead.Headers[transport.HeaderDeadErrorCode] != "ts_dead" || dead.Headers[transport.HeaderDeadAttempts] != "2" {
			t.Fatalf("dead letter %q %v", dead.Body, dead.Headers)
		}
	})

	// A Go consumer's dead letter is one TypeScript reads as its own: the same description, its
	// reason cut by the same rule, and the original bytes.
	t.Run("TypeScript reads a Go dead letter", func(t *testing.T) {
		tr := b.New(t)
		queue := brokertest.UniqueQueue("go-" + kind + "-dead-ts")
		reason := transport.DeadLetterReason{Code: "schema_violation", Message: strings.Repeat("é", 600)}
		got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
			if d.Attempt() == 1 {
				return d.Retry(context.Background(), 0)
			}
			return d.DeadLetter(context.Background(), reason)
		})
		body := `{"event":"interop.dead","payload":{"n":1}} \u00e9`
		if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte(body)}}); err != nil {
			t.Fatal(err)
		}
		brokertest.Next(t, got, within)
		brokertest.Next(t, got, within)
		letters := tspeer.DeadLetters(t, kind, queue, 1)
		if len(letters) != 1 {
			t.Fatalf("TypeScript read %d dead letters", len(letters))
		}
		letter := letters[0]
		want := transport.NewDeadLetterDescription(queue, reason, 2, time.Now())
		if letter.Form != "headers" || letter.Queue != queue || letter.Attempts != 2 || letter.Error.Code != reason.Code || letter.Error.Message != want.Error.Message || letter.OriginalBody != body {
			t.Fatalf("TypeScript read %+v", letter)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", letter.FailedAt); err != nil {
			t.Fatal(err)
		}
	})
}
