// Package memory is an in-process Thrun transport: zero setup, for tests and single-process
// services. It keeps messages in memory only (not persistent) and groups share one copy (no
// fan-out); it delays, orders FIFO, counts attempts and dead-letters in the headers form.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// MaxPayloadBytes is the largest body Publish accepts.
const MaxPayloadBytes = 1<<20 - transport.DeadLetterOverheadBytes

type entry struct {
	body    []byte
	key     string
	headers map[string]string
	attempt int
	dueAt   time.Time
}

type queue struct {
	entries []entry
	changed chan struct{} // closed and replaced whenever entries change
}

// Transport is the in-memory transport. The zero value is not usable: call New.
type Transport struct {
	mu     sync.Mutex
	queues map[string]*queue
	subs   map[*subscription]struct{}
	closed bool
}

var _ transport.Transport = (*Transport)(nil)
var _ transport.Peeker = (*Transport)(nil)

// New returns an empty in-memory transport.
func New() *Transport {
	return &Transport{queues: map[string]*queue{}, subs: map[*subscription]struct{}{}}
}

func (t *Transport) SpecificationVersion() string { return transport.SpecificationVersion }
func (t *Transport) Name() string                 { return "memory" }
func (t *Transport) Capabilities() transport.Capabilities {
	return transport.Capabilities{
		Delay: true, Fanout: false, Ordering: transport.OrderingFIFO, Persistent: false,
		MaxPayloadBytes: MaxPayloadBytes, DeadLetter: true, RedeliversUnacked: false,
	}
}

// queueLocked returns the named queue, creating it; t.mu must be held.
func (t *Transport) queueLocked(name string) *queue {
	q, ok := t.queues[name]
	if !ok {
		q = &queue{changed: make(chan struct{})}
		t.queues[name] = q
	}
	return q
}

// pushLocked adds an entry at the back (or the front) of a queue and wakes its consumers.
func (t *Transport) pushLocked(name string, e entry, front bool) {
	q := t.queueLocked(name)
	if front {
		q.entries = append([]entry{e}, q.entries...)
	} else {
		q.entries = append(q.entries, e)
	}
	close(q.changed)
	q.changed = make(chan struct{})
}

func (t *Transport) Publish(ctx context.Context, queueName string, messages []transport.Message) error {
	if err := transport.ValidateQueueName(queueName); err != nil {
		return err
	}
	for _, m := range messages {
		if len(m.Body) > MaxPayloadBytes {
			return fmt.Errorf("[thrun:memory] a body of %d bytes exceeds %d: %w", len(m.Body), MaxPayloadBytes, transport.ErrPayloadTooLarge)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("[thrun:memory] publish: %w", transport.ErrClosed)
	}
	now := time.Now()
	for _, m := range messages {
		t.pushLocked(queueName, entry{body: append([]byte(nil), m.Body...), key: m.Key, attempt: 1, dueAt: now.Add(m.Delay)}, false)
	}
	return nil
}

// take removes the first due entry; it returns the wait until the next one is due otherwise.
func (t *Transport) take(name string) (e entry, ok bool, changed <-chan struct{}, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queueLocked(name)
	now := time.Now()
	wait = time.Hour
	for i, candidate := range q.entries {
		if !candidate.dueAt.After(now) {
			q.entries = append(q.entries[:i:i], q.entries[i+1:]...)
			return candidate, true, q.changed, 0
		}
		wait = min(wait, candidate.dueAt.Sub(now))
	}
	return entry{}, false, q.changed, wait
}

// Peek lists up to limit waiting messages of a queue, oldest first.
func (t *Transport) Peek(_ context.Context, name string, limit int) ([]transport.QueuedMessage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []transport.QueuedMessage
	for _, e := range t.queueLocked(name).entries {
		if len(out) >= limit {
			break
		}
		out = append(out, transport.QueuedMessage{Body: e.body, Key: e.key, Headers: e.headers})
	}
	return out, nil
}

func (t *Transport) Consume(ctx context.Context, queueName string, handler transport.Handler, opts transport.ConsumeOptions) (transport.Subscription, error) {
	if err := transport.ValidateQueueName(queueName); err != nil {
		return nil, err
	}
	concurrency := max(opts.Concurrency, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("[thrun:memory] consume: %w", transport.ErrClosed)
	}
	fetchCtx, stopFetching := context.WithCancel(context.Background())
	s := &subscription{transport: t, queue: queueName, handler: handler, slots: make(chan struct{}, concurrency), stopFetching: stopFetching, held: map[*delivery]struct{}{}, fetcherDone: make(chan struct{})}
	t.subs[s] = struct{}{}
	go s.fetch(fetchCtx)
	// Cancelling ctx stops the consumer, like Close (drain bounded as Transport.Close's default).
	context.AfterFunc(ctx, func() {
		drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(drain)
	})
	return s, nil
}

// Close stops every consumer, drains them until ctx is done and releases what is left.
func (t *Transport) Close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	subs := make([]*subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { _ = s.Close(ctx) })
	}
	wg.Wait()
	return nil
}

type subscription struct {
	transport    *Transport
	queue        string
	handler      transport.Handler
	slots        chan struct{}
	stopFetching context.CancelFunc
	fetcherDone  chan struct{}
	handlers     sync.WaitGroup

	mu      sync.Mutex
	held    map[*delivery]struct{}
	closing bool
	once    sync.Once
}

func (s *subscription) fetch(ctx context.Context) {
	defer close(s.fetcherDone)
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		e, ok, changed, wait := s.transport.take(s.queue)
		for !ok {
			timer := time.NewTimer(wait)
			select {
			case <-changed:
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				<-s.slots
				return
			}
			timer.Stop()
			e, ok, changed, wait = s.transport.take(s.queue)
		}
		d := &delivery{sub: s, entry: e}
		s.mu.Lock()
		s.held[d] = struct{}{}
		s.mu.Unlock()
		s.handlers.Go(func() { s.run(d) })
	}
}

// run calls the handler; a delivery it left unsettled is retried at once, or released when closing.
func (s *subscription) run(d *delivery) {
	defer func() { <-s.slots }()
	func() {
		defer func() { _ = recover() }() // a panicking handler leaves its delivery unsettled
		_ = s.handler(context.Background(), d)
	}()
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if d.settle() {
		s.transport.mu.Lock()
		s.transport.pushLocked(s.queue, d.next(), closing)
		s.transport.mu.Unlock()
	}
}

func (s *subscription) Close(ctx context.Context) error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.stopFetching()
		<-s.fetcherDone
		drained := make(chan struct{})
		go func() { s.handlers.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-ctx.Done():
			// Past the deadline: put back what the running handlers hold, as their next attempt.
			s.mu.Lock()
			held := make([]*delivery, 0, len(s.held))
			for d := range s.held {
				held = append(held, d)
			}
			s.mu.Unlock()
			for _, d := range held {
				if d.settle() {
					s.transport.mu.Lock()
					s.transport.pushLocked(s.queue, d.next(), true)
					s.transport.mu.Unlock()
				}
			}
		}
		s.transport.mu.Lock()
		delete(s.transport.subs, s)
		s.transport.mu.Unlock()
	})
	return nil
}

type delivery struct {
	sub     *subscription
	entry   entry
	mu      sync.Mutex
	settled bool
}

var errNotHeld = errors.New("[thrun:memory] the delivery was already settled or released")

// settle marks the delivery settled; false when it already was.
func (d *delivery) settle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return false
	}
	d.settled = true
	d.sub.mu.Lock()
	delete(d.sub.held, d)
	d.sub.mu.Unlock()
	return true
}

// next is the entry delivered again as the next attempt.
func (d *delivery) next() entry {
	e := d.entry
	e.attempt++
	e.dueAt = time.Now()
	return e
}

func (d *delivery) Body() []byte               { return d.entry.body }
func (d *delivery) Queue() string              { return d.sub.queue }
func (d *delivery) Attempt() int               { return d.entry.attempt }
func (d *delivery) Key() string                { return d.entry.key }
func (d *delivery) Headers() map[string]string { return d.entry.headers }

func (d *delivery) Ack(context.Context) error {
	if !d.settle() {
		return errNotHeld
	}
	return nil
}

func (d *delivery) Retry(_ context.Context, delay time.Duration) error {
	if !d.settle() {
		return errNotHeld
	}
	e := d.next()
	e.dueAt = e.dueAt.Add(delay)
	t := d.sub.transport
	t.mu.Lock()
	t.pushLocked(d.sub.queue, e, false)
	t.mu.Unlock()
	return nil
}

func (d *delivery) DeadLetter(_ context.Context, reason transport.DeadLetterReason) error {
	if !d.settle() {
		return errNotHeld
	}
	description := transport.NewDeadLetterDescription(d.sub.queue, reason, d.entry.attempt, time.Now())
	t := d.sub.transport
	t.mu.Lock()
	t.pushLocked(transport.DeadLetterQueueName(d.sub.queue), entry{body: d.entry.body, key: d.entry.key, headers: description.Headers(), attempt: 1, dueAt: time.Now()}, false)
	t.mu.Unlock()
	return nil
}
