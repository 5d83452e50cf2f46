package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/internal/tspeer"
	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/interop"
)

func TestInteropWithTypeScript(t *testing.T) { interop.Run(t, tspeer.Kafka, broker) }

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
	tspeer.Produce(t, tspeer.Kafka, queue, tsMessages)
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
	ts := tspeer.Consume(t, tspeer.Kafka, queue, 1_000)
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
