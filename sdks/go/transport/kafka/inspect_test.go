package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
)

func peekBodies(t *testing.T, tr *Transport, queue string, limit int) []string {
	t.Helper()
	seen, err := tr.Peek(context.Background(), queue, limit)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range seen {
		bodies = append(bodies, string(m.Body))
	}
	return bodies
}

func TestPeekShowsWhatWaitsForTheDefaultGroupAndPurgeEmpties(t *testing.T) {
	tr := newTransport(t, Options{})
	ctx := context.Background()
	queue := brokertest.UniqueQueue("go-kafka-inspect")
	if got := peekBodies(t, tr, queue, 10); len(got) != 0 {
		t.Fatalf("a queue that does not exist shows %v", got)
	}
	// One key: one partition, so the order to expect is the publish order.
	messages := []transport.Message{{Body: []byte("a"), Key: "k"}, {Body: []byte("b"), Key: "k"}, {Body: []byte("c"), Key: "k"}, {Body: []byte("later"), Delay: time.Hour}}
	if err := tr.Publish(ctx, queue, messages); err != nil {
		t.Fatal(err)
	}
	seen, err := tr.Peek(ctx, queue, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || string(seen[0].Body) != "a" || seen[0].Key != "k" || string(seen[1].Body) != "b" {
		t.Fatalf("Peek(2) = %+v", seen)
	}
	// Peeking takes nothing: the same records again, and every one of <queue> (not the delayed one).
	if got := peekBodies(t, tr, queue, 10); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("Peek(10) = %v", got)
	}

	// Group default has read up to b: only c waits for it.
	records := readTopic(t, queue, 3)
	read := kadm.Offsets{}
	read.Add(kadm.Offset{Topic: queue, Partition: records[1].Partition, At: records[1].Offset + 1, LeaderEpoch: -1})
	committed, err := tr.admin.CommitOffsets(ctx, tr.groupID(queue, DefaultGroup), read)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := peekBodies(t, tr, queue, 10); len(got) != 1 || got[0] != "c" {
		t.Fatalf("after a commit past b, Peek = %v", got)
	}

	// Purge counts what waited for group default: c, and the delayed copy in <queue>.retry.
	if n, err := tr.Purge(ctx, queue); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	if got := peekBodies(t, tr, queue, 10); len(got) != 0 {
		t.Fatalf("after Purge, Peek = %v", got)
	}
	if n, err := tr.Purge(ctx, queue); err != nil || n != 0 {
		t.Fatalf("second Purge = %d, %v; want 0", n, err)
	}
	// Nothing published before the purge is delivered to a group that starts after it.
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{Group: "late"}, brokertest.Ack)
	brokertest.Nothing(t, got, 2*time.Second)
}
