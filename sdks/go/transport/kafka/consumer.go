package kafka

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

const (
	// retryPoll is the longest a retry partition holding copies not yet due sleeps before it is read again.
	retryPoll = time.Second
	// maxRememberedRereads bounds the offsets whose rereads are counted at once (the oldest go first).
	maxRememberedRereads = 10_000
	maxPollRecords       = 1_000
)

type outcome int

const (
	undone outcome = iota // left pending after a refused settlement: read again, as the next attempt
	done
)

// consumer is one Consume call: a franz-go group consumer of <queue> and <queue>.retry.
//
// Each poll's records are handed to handlers as slots allow, in offset order per partition; records
// sharing a key wait for each other, so per-key order holds at any concurrency. Offsets are committed
// only up to the lowest unsettled record of each partition, and the next poll (and any rebalance,
// held back by BlockRebalanceOnPoll) waits until every record of this one is done, so a rebalance
// never commits past a running record and never loses one.
type consumer struct {
	transport *Transport
	queue     string
	group     string
	handler   transport.Handler
	client    *kgo.Client
	slots     chan struct{}

	pollCtx     context.Context
	stopPolling context.CancelFunc
	closing     chan struct{}
	closeOnce   sync.Once
	loopDone    chan struct{}

	mu               sync.Mutex
	inFlight         map[*delivery]struct{}
	forwarded        map[int32]map[int64]bool // retry partition → copies put back, not yet committed past
	highestDelivered map[int32]int64          // main partition → highest offset delivered
	rereads          map[string]int           // "partition:offset" → times read again after its first delivery
	marks            map[string]map[int32]kgo.EpochOffset
	committed        map[string]map[int32]int64
	rewinds          map[string]map[int32]kgo.EpochOffset
	pauses           map[string]map[int32]time.Duration
	refusals         int
	timers           map[*time.Timer]struct{}
	commitMu         sync.Mutex
}

// Consume joins the Kafka group <prefix>.<queue>.<group> (a new group starts at the oldest retained
// record) and reads <queue> and <queue>.retry. At most opts.Concurrency handlers (default 1) run at
// once. A handler that returns an error or panics, or returns without settling, has its delivery
// retried at once (attempt + 1).
func (t *Transport) Consume(ctx context.Context, queue string, handler transport.Handler, opts transport.ConsumeOptions) (transport.Subscription, error) {
	if t.isClosed() {
		return nil, ErrClosed
	}
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	group := brokerkit.OrDefault(opts.Group, DefaultGroup)
	if err := t.ensureTopics(ctx, queue, retryTopic(queue)); err != nil {
		return nil, err
	}
	c := &consumer{
		transport: t, queue: queue, group: group, handler: handler,
		slots:    make(chan struct{}, max(opts.Concurrency, 1)),
		closing:  make(chan struct{}),
		loopDone: make(chan struct{}),
		inFlight: map[*delivery]struct{}{}, forwarded: map[int32]map[int64]bool{},
		highestDelivered: map[int32]int64{}, rereads: map[string]int{},
		marks: map[string]map[int32]kgo.EpochOffset{}, committed: map[string]map[int32]int64{},
		rewinds: map[string]map[int32]kgo.EpochOffset{}, pauses: map[string]map[int32]time.Duration{},
		timers: map[*time.Timer]struct{}{},
	}
	joined := make(chan struct{})
	var joinOnce sync.Once
	client, err := kgo.NewClient(append(t.opts.clientOptions(),
		kgo.ConsumerGroup(t.groupID(queue, group)),
		kgo.ConsumeTopics(queue, retryTopic(queue)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(t.opts.SessionTimeout),
		kgo.HeartbeatInterval(time.Second),
		kgo.RebalanceTimeout(30*time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.Balancers(kafkajsRoundRobin()),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			joinOnce.Do(func() { close(joined) })
		}),
	)...)
	if err != nil {
		return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "cannot create the Kafka consumer", Err: err}
	}
	c.client = client
	c.pollCtx, c.stopPolling = context.WithCancel(context.Background())
	go c.loop()
	if !t.consumers.Add(c, c.close) {
		c.close(context.Background()) // the transport closed meanwhile
		return nil, ErrClosed
	}
	select {
	case <-joined:
	case <-time.After(t.opts.SessionTimeout + 5*time.Second):
		// Still joining (a rebalance waiting for a dead member): records arrive once it has.
	case <-ctx.Done():
		c.close(context.Background())
		return nil, &TransportError{Transport: transportName, Code: "connection_failed", Message: "cannot consume " + queue + " as group " + group, Err: ctx.Err()}
	}
	go func() { // cancelling ctx stops the consumer, as Close does
		select {
		case <-ctx.Done():
			_ = (&subscription{c}).Close(context.Background())
		case <-c.closing:
		}
	}()
	return &subscription{c}, nil
}

type subscription struct{ consumer *consumer }

// Close stops fetching, lets running handlers finish until ctx is done (or DrainTimeout when it
// has no deadline), releases what is still unsettled as retry(0) copies, commits and leaves the group.
func (s *subscription) Close(ctx context.Context) error {
	ctx, cancel := s.consumer.transport.drainContext(ctx)
	defer cancel()
	s.consumer.close(ctx)
	return nil
}

func (c *consumer) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *consumer) loop() {
	defer close(c.loopDone)
	for {
		fetches := c.client.PollRecords(c.pollCtx, maxPollRecords)
		if c.isClosing() || fetches.IsClientClosed() {
			c.client.AllowRebalance()
			return
		}
		var wg sync.WaitGroup
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if p.Topic == retryTopic(c.queue) {
					c.processRetry(p)
				} else {
					c.processMain(p)
				}
			}()
		})
		stopCommitting := c.commitEvery(c.transport.opts.CommitInterval)
		wg.Wait()
		stopCommitting()
		c.commit()
		c.applyRewinds()
		c.client.AllowRebalance()
	}
}

// commitEvery commits settled offsets while a poll's records run, so a member killed mid-poll
// leaves little behind for the next owner to run again.
func (c *consumer) commitEvery(interval time.Duration) func() {
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				c.commit()
			}
		}
	}()
	return func() { close(stop); <-stopped }
}

// mark records that every record of topic/partition before offset is done.
func (c *consumer) mark(topic string, partition int32, next kgo.EpochOffset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.marks[topic] == nil {
		c.marks[topic] = map[int32]kgo.EpochOffset{}
	}
	if current, ok := c.marks[topic][partition]; !ok || next.Offset > current.Offset {
		c.marks[topic][partition] = next
	}
}

func (c *consumer) commit() {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	uncommitted := map[string]map[int32]kgo.EpochOffset{}
	for topic, partitions := range c.marks {
		for partition, offset := range partitions {
			if committed, ok := c.committed[topic][partition]; ok && committed >= offset.Offset {
				continue
			}
			if uncommitted[topic] == nil {
				uncommitted[topic] = map[int32]kgo.EpochOffset{}
			}
			uncommitted[topic][partition] = offset
		}
	}
	c.mu.Unlock()
	if len(uncommitted) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.client.CommitOffsetsSync(ctx, uncommitted, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, partitions := range uncommitted {
		if c.committed[topic] == nil {
			c.committed[topic] = map[int32]int64{}
		}
		for partition, offset := range partitions {
			c.committed[topic][partition] = offset.Offset
		}
	}
}

// rewind makes the next poll read topic/partition again from offset, after pausing it for pause.
func (c *consumer) rewind(topic string, partition int32, offset kgo.EpochOffset, pause time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rewinds[topic] == nil {
		c.rewinds[topic] = map[int32]kgo.EpochOffset{}
		c.pauses[topic] = map[int32]time.Duration{}
	}
	c.rewinds[topic][partition] = offset
	if pause > 0 {
		c.pauses[topic][partition] = pause
	}
}

// applyRewinds runs on the polling goroutine before AllowRebalance, as SetOffsets requires.
func (c *consumer) applyRewinds() {
	c.mu.Lock()
	rewinds, pauses := c.rewinds, c.pauses
	c.rewinds, c.pauses = map[string]map[int32]kgo.EpochOffset{}, map[string]map[int32]time.Duration{}
	c.mu.Unlock()
	if len(rewinds) == 0 || c.isClosing() {
		return
	}
	for topic, partitions := range pauses {
		for partition, pause := range partitions {
			tp := map[string][]int32{topic: {partition}}
			c.client.PauseFetchPartitions(tp)
			c.mu.Lock()
			var timer *time.Timer
			timer = time.AfterFunc(pause, func() {
				c.mu.Lock()
				delete(c.timers, timer)
				c.mu.Unlock()
				c.client.ResumeFetchPartitions(tp)
			})
			c.timers[timer] = struct{}{}
			c.mu.Unlock()
		}
	}
	c.client.SetOffsets(rewinds)
}

func (c *consumer) processMain(p kgo.FetchTopicPartition) {
	records := p.Records
	var mu sync.Mutex
	finished := make([]bool, len(records))
	resolved := 0
	advance := func() {
		mu.Lock()
		defer mu.Unlock()
		for resolved < len(records) && finished[resolved] {
			resolved++
		}
		if resolved > 0 {
			last := records[resolved-1]
			c.mark(p.Topic, p.Partition, kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1})
		}
	}
	keyTails := map[string]chan struct{}{}
	var wg sync.WaitGroup
	var refused bool
	var refusedMu sync.Mutex
	for index, record := range records {
		if target, ok := header(record, headerGroup); ok && target != c.group {
			mu.Lock()
			finished[index] = true // a copy another group wrote for itself
			mu.Unlock()
			continue
		}
		acquired := false
		select {
		case c.slots <- struct{}{}:
			acquired = true
		case <-c.closing:
		}
		if c.isClosing() {
			if acquired {
				<-c.slots
			}
			break
		}
		// Counted here, in offset order: the handlers below start in any order.
		rereads := c.countRead(p.Partition, record.Offset)
		key, hasKey := string(record.Key), record.Key != nil
		previous := keyTails[key]
		ended := make(chan struct{})
		if hasKey {
			keyTails[key] = ended
		} else {
			previous = nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ended)
			defer func() { <-c.slots }()
			if previous != nil {
				<-previous
			}
			if c.isClosing() {
				return
			}
			if c.handleMain(p.Partition, record, key, hasKey, rereads) == done {
				mu.Lock()
				finished[index] = true
				mu.Unlock()
				advance()
			} else {
				refusedMu.Lock()
				refused = true
				refusedMu.Unlock()
			}
		}()
	}
	advance()
	wg.Wait()
	advance()
	if resolved >= len(records) {
		if !refused {
			c.mu.Lock()
			c.refusals = 0
			c.mu.Unlock()
		}
		return
	}
	if c.isClosing() {
		return
	}
	// Something could not be settled (the broker refused the retry copy, say): read the partition
	// again from the first unfinished record, after a growing pause so a refusal is no hot loop.
	var pause time.Duration
	if refused {
		c.mu.Lock()
		c.refusals++
		pause = brokerkit.Backoff(c.refusals)
		c.mu.Unlock()
	}
	first := records[resolved]
	c.rewind(p.Topic, p.Partition, kgo.EpochOffset{Epoch: first.LeaderEpoch, Offset: first.Offset}, pause)
}

// countRead is how many times this consumer read partition/offset before. Kafka keeps no delivery
// count: each time this consumer reads an offset it already delivered (again after a refused
// settlement or a rebalance) counts as one more attempt.
func (c *consumer) countRead(partition int32, offset int64) int {
	id := readID(partition, offset)
	c.mu.Lock()
	defer c.mu.Unlock()
	if highest, ok := c.highestDelivered[partition]; !ok || offset > highest {
		c.highestDelivered[partition] = offset
		return 0
	}
	rereads := c.rereads[id] + 1
	if len(c.rereads) >= maxRememberedRereads {
		for old := range c.rereads {
			delete(c.rereads, old)
			break
		}
	}
	c.rereads[id] = rereads
	return rereads
}

func readID(partition int32, offset int64) string {
	return strconv.Itoa(int(partition)) + ":" + strconv.FormatInt(offset, 10)
}

func (c *consumer) handleMain(partition int32, record *kgo.Record, key string, hasKey bool, rereads int) outcome {
	id := readID(partition, record.Offset)
	d := newDelivery(c, record, key, hasKey, positiveHeader(record, headerAttempt, 1)+rereads)
	c.mu.Lock()
	c.inFlight[d] = struct{}{}
	c.mu.Unlock()
	go d.run()
	result := <-d.outcome
	c.mu.Lock()
	delete(c.inFlight, d)
	if result == done && rereads > 0 {
		delete(c.rereads, id)
	}
	c.mu.Unlock()
	return result
}

// processRetry forwards the due copies meant for this group back to <queue>, in one produce. The
// committed offset stops at the first copy not yet due; due copies after it are forwarded anyway
// (and remembered, so they are not forwarded twice) and the partition sleeps until the earliest due
// time, at most retryPoll, then is read again from that first waiting copy.
func (c *consumer) processRetry(p kgo.FetchTopicPartition) {
	c.mu.Lock()
	forwarded := c.forwarded[p.Partition]
	if forwarded == nil {
		forwarded = map[int64]bool{}
		c.forwarded[p.Partition] = forwarded
	}
	c.mu.Unlock()
	now := time.Now().UnixMilli()
	var due []*kgo.Record
	var dueOffsets []int64
	var resolvable *kgo.Record
	blocked := false
	earliest := int64(1<<63 - 1)
	for _, record := range p.Records {
		target, hasTarget := header(record, headerGroup)
		mine := !hasTarget || target == c.group
		c.mu.Lock()
		already := forwarded[record.Offset]
		c.mu.Unlock()
		if mine && !already {
			dueAt := int64(0)
			if text, ok := header(record, headerDueAt); ok {
				if n, err := strconv.ParseInt(text, 10, 64); err == nil {
					dueAt = n
				}
			}
			if dueAt > now {
				blocked = true
				earliest = min(earliest, dueAt)
				continue
			}
			if !hasTarget {
				target = c.group
			}
			due = append(due, &kgo.Record{Topic: c.queue, Key: record.Key, Value: record.Value, Headers: withHeaders(record.Headers, map[string]string{headerGroup: target}, headerDueAt)})
			dueOffsets = append(dueOffsets, record.Offset)
		}
		if !blocked {
			resolvable = record
		}
	}
	first := p.Records[0]
	if len(due) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.transport.produce(ctx, due...)
		cancel()
		if err != nil {
			// Not put back (the broker is away): nothing is resolved, read again after a pause.
			c.rewind(p.Topic, p.Partition, kgo.EpochOffset{Epoch: first.LeaderEpoch, Offset: first.Offset}, time.Second)
			return
		}
	}
	c.mu.Lock()
	for _, offset := range dueOffsets {
		forwarded[offset] = true
	}
	if resolvable != nil {
		for offset := range forwarded {
			if offset <= resolvable.Offset {
				delete(forwarded, offset)
			}
		}
	}
	c.mu.Unlock()
	next := kgo.EpochOffset{Epoch: first.LeaderEpoch, Offset: first.Offset}
	if resolvable != nil {
		next = kgo.EpochOffset{Epoch: resolvable.LeaderEpoch, Offset: resolvable.Offset + 1}
		c.mark(p.Topic, p.Partition, next)
	}
	if blocked {
		wait := time.Duration(min(max(earliest-time.Now().UnixMilli(), 1), retryPoll.Milliseconds())) * time.Millisecond
		c.rewind(p.Topic, p.Partition, next, wait)
	}
}

// close stops fetching, waits until ctx is done for running handlers, releases the deliveries still
// unsettled as retry(0) copies (their next attempt), commits, and leaves the group.
func (c *consumer) close(ctx context.Context) {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.stopPolling()
		c.mu.Lock()
		for timer := range c.timers {
			timer.Stop()
		}
		c.mu.Unlock()
		select {
		case <-c.loopDone:
		case <-ctx.Done():
			c.mu.Lock()
			inFlight := make([]*delivery, 0, len(c.inFlight))
			for d := range c.inFlight {
				inFlight = append(inFlight, d)
			}
			c.mu.Unlock()
			for _, d := range inFlight {
				d.release()
			}
			select {
			case <-c.loopDone:
			case <-time.After(2 * time.Second): // a handler that ignores its context
			}
		}
		c.commit()
		leaveCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.client.LeaveGroupContext(leaveCtx)
		cancel()
		c.client.CloseAllowingRebalance()
		c.transport.consumers.Remove(c)
	})
}
