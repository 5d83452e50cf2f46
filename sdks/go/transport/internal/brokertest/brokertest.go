// Package brokertest holds the test helpers the Go broker transports share: reaching the test
// broker, unique queue names, and consuming into a channel.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net"
	"os"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/internal/wire"
	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// Reach checks that the broker at address (host:port) accepts connections. Under CI=true an
// unreachable broker fails the test; elsewhere it skips it.
func Reach(t *testing.T, name, address, script string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not reachable at %s (start it with %s): %v", name, address, script, err)
		}
		t.Skipf("%s is not reachable at %s: %v", name, address, err)
	}
	_ = conn.Close()
}

// UniqueQueue is prefix plus random hex: every test gets queues of its own.
func UniqueQueue(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Received is what a handler saw of one delivery.
type Received struct {
	Body    string
	Attempt int
	Key     string
	Headers map[string]string
	At      time.Time
}

// Collect consumes queue until the test ends, sending every delivery to the returned channel before
// settle decides its fate.
func Collect(t *testing.T, tr transport.Transport, queue string, opts transport.ConsumeOptions, settle func(transport.Delivery) error) <-chan Received {
	t.Helper()
	out := make(chan Received, 1000)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		out <- Received{string(d.Body()), d.Attempt(), d.Key(), d.Headers(), time.Now()}
		return settle(d)
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	return out
}

// Ack settles a delivery with Ack.
func Ack(d transport.Delivery) error { return d.Ack(context.Background()) }

// Next is the next value of ch, failing the test when none comes within the given time.
func Next[T any](t *testing.T, ch <-chan T, within time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("nothing arrived within %s", within)
		var zero T
		return zero
	}
}

// Nothing fails the test when ch delivers anything within the given time.
func Nothing[T any](t *testing.T, ch <-chan T, within time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %+v", v)
	case <-time.After(within):
	}
}

// HeaderNames fails the test unless got, a transport's header constants by their key in
// protocol/headers.json, equals that file's section, both ways: a name added there needs a constant.
func HeaderNames(t *testing.T, section string, got map[string]string) {
	t.Helper()
	if want := wire.HeaderNames(section); !maps.Equal(got, want) {
		t.Fatalf("header names differ from protocol/headers.json (%s):\n got %v\nwant %v", section, got, want)
	}
}
