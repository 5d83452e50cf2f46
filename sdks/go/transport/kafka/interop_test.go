package kafka

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/tspeer"
)

// A TypeScript producer's records (now, keyed, delayed through <queue>.retry) reach a Go consumer
// byte for byte, and the Go consumer's retries count on.
func TestTypeScriptProducerToGoConsumer(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-from-ts")
	start := time.Now()
	tspeer.Produce(t, "kafka", queue, []tspeer.Message{
		{Body: `{"event":"interop.a","payload":{"n":1}}`, Key: "k1"},
		{Body: `{"event":"interop.b","payload":{"s":"é"}}`},
		{Body: `{"event":"interop.c","payload":{}}`, DelayMs: 300},
	})
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		if d.Attempt() == 1 && d.Key() == "k1" {
			return d.Retry(context.Background(), 200*time.Millisecond)
		}
		return d.Ack(context.Background())
	})
	seen := map[string][]int{}
	for range 4 {
		r := brokertest.Next(t, got, wait)
		seen[r.Body] = append(seen[r.Body], r.Attempt)
		if r.Body == `{"event":"interop.a","payload":{"n":1}}` && r.Key != "k1" {
			t.Fatalf("key lost: %+v", r)
		}
		if r.Body == `{"event":"interop.c","payload":{}}` && r.At.Sub(start) < 300*time.Millisecond {
			t.Fatal("the delayed record came early")
		}
	}
	want := map[string][]int{`{"event":"interop.a","payload":{"n":1}}`: {1, 2}, `{"event":"interop.b","payload":{"s":"é"}}`: {1}, `{"event":"interop.c","payload":{}}`: {1}}
	for body, attempts := range want {
		if !slices.Equal(seen[body], attempts) {
			t.Fatalf("%s: attempts %v, want %v (all: %v)", body, seen[body], attempts, seen)
		}
	}
	brokertest.Nothing(t, got, 500*time.Millisecond)
}

// A Go producer's records reach a TypeScript consumer; its retries of them count as attempt 2 and
// its dead letter is the Go producer's key and bytes.
func TestGoProducerToTypeScriptConsumer(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-to-ts")
	deliveries := tspeer.Consume(t, "kafka", queue, 6)
	if err := tr.Publish(context.Background(), queue, []transport.Message{
		{Body: []byte(`{"event":"interop.a","payload":{"n":1}}`), Key: "k1"},
		{Body: []byte(`{"event":"interop.b","payload":{"dead":true}}`), Key: "k2"},
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
		case <-time.After(30 * time.Second):
			t.Fatalf("the TypeScript consumer saw only %v", seen)
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
	dead := readTopic(t, queue+".dead", 1)[0]
	headers := textHeaders(dead)
	if string(dead.Value) != `{"event":"interop.b","payload":{"dead":true}}` || string(dead.Key) != "k2" || headers["thrun-dead-error-code"] != "ts_dead" || headers["thrun-dead-attempts"] != "2" {
		t.Fatalf("dead letter %q %v", dead.Value, headers)
	}
}

// Keyed records land on the partition kafkajs (and Java) pick: Go and TypeScript producers keep
// one key's records in one partition, so per-key order holds across runtimes.
func TestKeyedRecordsGoToThePartitionTypeScriptPicks(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-partitions")
	var goMessages []transport.Message
	var tsMessages []tspeer.Message
	for _, key := range []string{"order-1", "order-2", "order-3", "customer-42", "é"} {
		goMessages = append(goMessages, transport.Message{Body: []byte("go:" + key), Key: key})
		tsMessages = append(tsMessages, tspeer.Message{Body: "ts:" + key, Key: key})
	}
	if err := tr.Publish(context.Background(), queue, goMessages); err != nil {
		t.Fatal(err)
	}
	tspeer.Produce(t, "kafka", queue, tsMessages)
	partitionOf := map[string]map[string]int32{"go": {}, "ts": {}}
	for _, record := range readTopic(t, queue, 10) {
		runtime, key := string(record.Value[:2]), string(record.Key)
		partitionOf[runtime][key] = record.Partition
	}
	for key, partition := range partitionOf["go"] {
		if partitionOf["ts"][key] != partition {
			t.Fatalf("key %q: Go wrote partition %d, TypeScript %d", key, partition, partitionOf["ts"][key])
		}
	}
}

// Go and TypeScript workers compete in one Thrun group: the Kafka group accepts both (they share
// the kafkajs assignor's protocol) and each gets a share of the partitions.
func TestGoAndTypeScriptWorkersShareOneGroup(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-kafka-mixed")
	ts := tspeer.Consume(t, "kafka", queue, 1_000)
	goSide := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	var messages []transport.Message
	for i := range 30 {
		messages = append(messages, transport.Message{Body: []byte{byte('A' + i)}, Key: string(rune('a' + i))})
	}
	// The second member's join makes the group rebalance; publish once the partitions settled.
	time.Sleep(3 * time.Second)
	if err := tr.Publish(context.Background(), queue, messages); err != nil {
		t.Fatal(err)
	}
	seenBy := map[string]map[string]bool{"go": {}, "ts": {}}
	deadline := time.After(30 * time.Second)
	for len(seenBy["go"])+len(seenBy["ts"]) < 30 || !covered(seenBy, messages) {
		select {
		case r := <-goSide:
			seenBy["go"][r.Body] = true
		case d := <-ts:
			seenBy["ts"][d.Body] = true
		case <-deadline:
			t.Fatalf("Go saw %d, TypeScript %d of 30", len(seenBy["go"]), len(seenBy["ts"]))
		}
	}
	if len(seenBy["go"]) == 0 || len(seenBy["ts"]) == 0 {
		t.Fatalf("one member got nothing: Go %d, TypeScript %d", len(seenBy["go"]), len(seenBy["ts"]))
	}
}

func covered(seenBy map[string]map[string]bool, messages []transport.Message) bool {
	for _, m := range messages {
		if !seenBy["go"][string(m.Body)] && !seenBy["ts"][string(m.Body)] {
			return false
		}
	}
	return true
}
