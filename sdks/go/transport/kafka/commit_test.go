package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
)

// committedOffset is the group's committed offset of partition 0 of queue (-1 when none).
func committedOffset(t *testing.T, tr *Transport, queue, group string) int64 {
	t.Helper()
	offsets, err := tr.admin.FetchOffsets(context.Background(), tr.groupID(queue, group))
	if err != nil {
		t.Fatal(err)
	}
	if offset, ok := offsets.Lookup(queue, 0); ok {
		return offset.At
	}
	return -1
}

func waitCommitted(t *testing.T, tr *Transport, queue string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for committedOffset(t, tr, queue, DefaultGroup) != want {
		if time.Now().After(deadline) {
			t.Fatalf("committed offset %d, want %d", committedOffset(t, tr, queue, DefaultGroup), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The committed offset never passes the lowest unsettled record: later records settled meanwhile
// are committed only once it is.
func TestOffsetsAreCommittedOnlyUpToTheLowestUnsettledRecord(t *testing.T) {
	tr := newTransport(t, Options{Partitions: 1})
	queue := brokertest.UniqueQueue("go-kafka-commit-rule")
	release := make(chan struct{})
	acked := make(chan string, 10)
	sub, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		if string(d.Body()) == "slow" {
			<-release
		}
		defer func() { acked <- string(d.Body()) }()
		return d.Ack(ctx)
	}, transport.ConsumeOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte("first")}, {Body: []byte("slow")}, {Body: []byte("third")}, {Body: []byte("fourth")}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		next := <-acked
		if next == "slow" {
			t.Fatal("the slow record was acked early")
		}
	}
	waitCommitted(t, tr, queue, 1) // past "first" only: "slow" (offset 1) is still running
	time.Sleep(300 * time.Millisecond)
	if got := committedOffset(t, tr, queue, DefaultGroup); got != 1 {
		t.Fatalf("committed %d while offset 1 was unsettled", got)
	}
	close(release)
	<-acked
	waitCommitted(t, tr, queue, 4)
}
