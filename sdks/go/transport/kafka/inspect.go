package kafka

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

var (
	_ transport.Peeker = (*Transport)(nil)
	_ transport.Purger = (*Transport)(nil)
)

// peekTimeout bounds the reading of one Peek (the ranges it reads are known in advance).
const peekTimeout = 30 * time.Second

// waitingRange is the offsets [start, end) of one partition still waiting for a group.
type waitingRange struct {
	partition  int32
	start, end int64
}

// waitingRanges is, for every partition of topic, what still waits for the Kafka group groupID: from
// its committed offset (the oldest retained record when it has none) up to the high watermark. A
// topic that does not exist has no partitions.
func (t *Transport) waitingRanges(ctx context.Context, topic, groupID string) ([]waitingRange, error) {
	ends, err := t.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if _, exists := ends[topic][-1]; exists || len(ends[topic]) == 0 {
		return nil, nil // no such topic (kadm lists it as partition -1 with UnknownTopicOrPartition)
	}
	starts, err := t.admin.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	committed, err := t.committedOffsets(ctx, groupID)
	if err != nil {
		return nil, err
	}
	var ranges []waitingRange
	var failure error
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(topic, end.Partition)
		if failure = errors.Join(failure, end.Err, start.Err); failure != nil {
			return
		}
		from := start.Offset
		if offset, ok := committed.Lookup(topic, end.Partition); ok && offset.Err == nil && offset.At > from {
			from = offset.At
		}
		ranges = append(ranges, waitingRange{partition: end.Partition, start: from, end: max(from, end.Offset)})
	})
	return ranges, failure
}

// committedOffsets are the offsets groupID committed, none when it does not exist. A retriable
// refusal (no group coordinator yet on a new cluster) is asked again within ctx, for up to 10 s.
func (t *Transport) committedOffsets(ctx context.Context, groupID string) (kadm.OffsetResponses, error) {
	giveUp := time.Now().Add(10 * time.Second)
	for {
		committed, err := t.admin.FetchOffsets(ctx, groupID)
		if errors.Is(err, kerr.GroupIDNotFound) {
			return nil, nil
		}
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(giveUp) {
			return committed, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Peek lists up to limit messages waiting in <queue> for group DefaultGroup (every retained one when
// it has committed nothing), oldest first by record timestamp, as the TypeScript transport does.
// It reads the partitions directly, outside any consumer group: nothing is committed, no delivery
// is counted. Copies another group wrote back for itself (thrun-group) are left out.
func (t *Transport) Peek(ctx context.Context, queue string, limit int) ([]transport.QueuedMessage, error) {
	if t.isClosed() {
		return nil, ErrClosed
	}
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	ranges, err := t.waitingRanges(ctx, queue, t.groupID(queue, DefaultGroup))
	if err != nil {
		return nil, &TransportError{Transport: transportName, Code: "broker_error", Message: "cannot list the offsets of " + queue, Err: err}
	}
	ranges = slices.DeleteFunc(ranges, func(r waitingRange) bool { return r.end == r.start })
	if len(ranges) == 0 {
		return nil, nil
	}
	records, err := t.readRanges(ctx, queue, ranges, limit)
	if err != nil {
		return nil, &TransportError{Transport: transportName, Code: "broker_error", Message: "cannot read " + queue, Err: err}
	}
	slices.SortStableFunc(records, func(a, b *kgo.Record) int { return a.Timestamp.Compare(b.Timestamp) })
	out := make([]transport.QueuedMessage, 0, min(limit, len(records)))
	for _, record := range records[:min(limit, len(records))] {
		out = append(out, transport.QueuedMessage{Body: record.Value, Key: string(record.Key), Headers: textHeaders(record)})
	}
	return out, nil
}

// readRanges reads each range until its end or until it gave limit records for DefaultGroup.
func (t *Transport) readRanges(ctx context.Context, topic string, ranges []waitingRange, limit int) ([]*kgo.Record, error) {
	offsets := map[int32]kgo.Offset{}
	remaining := map[int32]waitingRange{}
	for _, r := range ranges {
		offsets[r.partition] = kgo.NewOffset().At(r.start)
		remaining[r.partition] = r
	}
	client, err := kgo.NewClient(append(t.opts.clientOptions(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, peekTimeout)
	defer cancel()
	var found []*kgo.Record
	taken := map[int32]int{}
	for len(remaining) > 0 {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fetches.EachError(func(_ string, _ int32, fetchErr error) { err = errors.Join(err, fetchErr) })
		if err != nil {
			return nil, err
		}
		fetches.EachRecord(func(record *kgo.Record) {
			r, reading := remaining[record.Partition]
			if !reading || record.Offset < r.start {
				return
			}
			target, addressed := header(record, headerGroup)
			if record.Offset < r.end && (!addressed || target == DefaultGroup) {
				found = append(found, record)
				taken[r.partition]++
			}
			if record.Offset >= r.end-1 || taken[r.partition] >= limit {
				delete(remaining, r.partition)
			}
		})
	}
	return found, nil
}

// Purge deletes every record of <queue> and <queue>.retry (Kafka's DeleteRecords, up to the high
// watermarks it found, read or not) and returns how many of them were still waiting for group DefaultGroup (all
// of them when it has committed nothing).
func (t *Transport) Purge(ctx context.Context, queue string) (int, error) {
	if t.isClosed() {
		return 0, ErrClosed
	}
	if err := checkQueue(queue); err != nil {
		return 0, err
	}
	groupID := t.groupID(queue, DefaultGroup)
	removed := 0
	for _, topic := range []string{queue, retryTopic(queue)} {
		ranges, err := t.waitingRanges(ctx, topic, groupID)
		if err == nil && len(ranges) > 0 {
			deletion := kadm.Offsets{}
			for _, r := range ranges {
				removed += int(r.end - r.start)
				deletion.Add(kadm.Offset{Topic: topic, Partition: r.partition, At: r.end})
			}
			var responses kadm.DeleteRecordsResponses
			responses, err = t.admin.DeleteRecords(ctx, deletion)
			if err == nil {
				err = responses.Error()
			}
		}
		if err != nil {
			return 0, &TransportError{Transport: transportName, Code: "broker_error", Message: "cannot purge " + topic, Err: err}
		}
	}
	return removed, nil
}
