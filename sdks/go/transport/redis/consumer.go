package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// fetched is a message taken from Redis and held by this process until settled or released.
type fetched struct {
	body    []byte
	attempt int
	id      string // stream entry id (Streams mode)
	key     string
}

// source is what each mode gives the shared consumer loop.
type source interface {
	// fetch takes up to max messages, waiting a bounded time (the block timeout) when there are none.
	// held lists what this consumer holds (a source may need it to recover after a lost reply).
	fetch(ctx context.Context, max int, held func() []fetched) ([]fetched, error)
	ack(ctx context.Context, m fetched) error
	// retry puts a message back as its next attempt; it may hand back a redelivery to run here.
	retry(ctx context.Context, m fetched, delay time.Duration) (*fetched, error)
	deadLetter(ctx context.Context, m fetched, frame []byte) error
	// release hands back what this consumer holds; started messages count an attempt, waiting
	// ones (read ahead, never handed to a handler) do not.
	release(ctx context.Context, started, waiting []fetched) error
	// tick is the periodic upkeep (leases, reaping, trimming); held is what this consumer holds.
	tick(ctx context.Context, held []fetched) error
	tickInterval() time.Duration
	dispose()
}

// consumer is the consume loop of both modes: it reads ahead into a bounded window of waiting
// messages (a deep queue costs one round trip per batch, not per message), runs at most concurrency
// handlers, settles each delivery once, and on Close drains, then hands back whatever is left.
type consumer struct {
	src         source
	handler     transport.Handler
	queue       string
	concurrency int
	prefetch    int           // messages held at most, running or waiting
	refillBelow int           // a fetch is sent once no more than this many are held
	settleFor   time.Duration // how long a settlement keeps trying through an outage
	onClosed    func()

	stop       context.CancelFunc
	stopCtx    context.Context
	wake       chan struct{}  // the loop waits on it for room in the window
	jobs       chan *delivery // to the handler goroutines; room for concurrency, so a send never blocks
	loopDone   chan struct{}
	tickerDone chan struct{}
	handlers   sync.WaitGroup

	mu      sync.Mutex
	waiting []fetched                 // fetched, not yet handed to a handler
	running int                       // handlers running
	held    map[*delivery]struct{}    // handed to a handler, not yet settled
	parked  map[*delivery]*time.Timer // refused a settlement, waiting out a backoff
	closing bool
	once    sync.Once
}

// newConsumer: prefetch below concurrency is raised to it.
func newConsumer(src source, handler transport.Handler, queue string, concurrency, prefetch int, settleFor time.Duration) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	prefetch = max(prefetch, concurrency)
	return &consumer{
		src: src, handler: handler, queue: queue, concurrency: concurrency, settleFor: settleFor,
		// Refill once a quarter of the window is free, so a deep queue is read in batches.
		prefetch: prefetch, refillBelow: prefetch - max(1, prefetch/4),
		stop: cancel, stopCtx: ctx, wake: make(chan struct{}, 1), jobs: make(chan *delivery, concurrency),
		loopDone: make(chan struct{}), tickerDone: make(chan struct{}),
		held: map[*delivery]struct{}{}, parked: map[*delivery]*time.Timer{},
	}
}

// start runs the fetch loop, the ticker, and concurrency long-lived handler goroutines (a fresh
// goroutine per message would grow its stack through decoding and validation every time).
func (c *consumer) start() {
	for range c.concurrency {
		go func() {
			for d := range c.jobs {
				c.run(d)
			}
		}()
	}
	go c.loop()
	go c.ticker()
}

// heldMessages is everything this consumer holds: running, waiting and parked.
func (c *consumer) heldMessages() []fetched {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]fetched, 0, len(c.held)+len(c.waiting)+len(c.parked))
	for d := range c.held {
		out = append(out, d.m)
	}
	for d := range c.parked {
		out = append(out, d.m)
	}
	return append(out, c.waiting...)
}

func (c *consumer) ticker() {
	defer close(c.tickerDone)
	timer := time.NewTicker(c.src.tickInterval())
	defer timer.Stop()
	for {
		select {
		case <-c.stopCtx.Done():
			return
		case <-timer.C:
			_ = c.src.tick(c.stopCtx, c.heldMessages()) // a failed tick is retried at the next one
		}
	}
}

// outageDelay paces the retries while Redis is unreachable: 100 ms doubling to 1 s, jittered.
func outageDelay(failures int) time.Duration {
	delay := min(time.Second, 100*time.Millisecond<<min(failures-1, 10))
	return delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
}

// room is how many messages the next fetch may take, or 0 while the window is full enough: it
// refills once a quarter of the window is free, or at once when every waiting message runs and a
// handler slot is free. Called with c.mu held.
func (c *consumer) room() int {
	held := len(c.waiting) + c.running + len(c.parked)
	if held >= c.prefetch {
		return 0
	}
	if held <= c.refillBelow || (len(c.waiting) == 0 && c.running < c.concurrency) {
		return c.prefetch - held
	}
	return 0
}

// signal wakes the loop if it waits for room; it never blocks.
func (c *consumer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *consumer) loop() {
	defer close(c.loopDone)
	failures := 0
	for {
		c.mu.Lock()
		limit := c.room()
		c.mu.Unlock()
		if limit == 0 {
			select {
			case <-c.wake:
				continue
			case <-c.stopCtx.Done():
				return
			}
		}
		messages, err := c.src.fetch(c.stopCtx, limit, c.heldMessages)
		if err != nil {
			if c.stopCtx.Err() != nil {
				return
			}
			failures++
			select {
			case <-time.After(outageDelay(failures)):
			case <-c.stopCtx.Done():
				return
			}
			continue
		}
		failures = 0
		c.mu.Lock()
		c.waiting = append(c.waiting, messages...)
		c.mu.Unlock()
		c.pump()
	}
}

// pump hands waiting messages to handlers while slots are free, then wakes the loop if the window
// has room.
func (c *consumer) pump() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closing && c.running < c.concurrency && len(c.waiting) > 0 {
		m := c.waiting[0]
		c.waiting[0] = fetched{}
		c.waiting = c.waiting[1:]
		c.deliverLocked(m)
	}
	if c.room() > 0 {
		c.signal()
	}
}

// deliverLocked hands a message to a handler goroutine; called with c.mu held, a slot free.
func (c *consumer) deliverLocked(m fetched) {
	d := &delivery{consumer: c, m: m}
	c.held[d] = struct{}{}
	c.running++
	c.handlers.Add(1)
	c.jobs <- d
}

// run runs the handler of a delivery, then frees its slot.
func (c *consumer) run(d *delivery) {
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
		c.handlers.Done()
		c.pump()
	}()
	func() {
		defer func() { _ = recover() }() // a panicking handler leaves its delivery unsettled
		_ = c.handler(context.Background(), d)
	}()
	if !d.isPending() {
		return
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return // held: released by Close, as its next attempt
	}
	// Returned without settling: retried at once. If Redis refuses even that, the message stays
	// in our processing list and is handed out here again after a backoff.
	if err := d.Retry(context.Background(), 0); err != nil {
		c.park(d, 1)
	}
}

// park delivers a message again, as its next attempt, after a backoff. Close counts a parked
// message as started.
func (c *consumer) park(d *delivery, refusals int) {
	// Parked in the same step as it leaves held: heldMessages always sees it in one or the other.
	if !d.release(func() { c.parked[d] = nil }) {
		return
	}
	delay := min(5*time.Second, 100*time.Millisecond<<min(refusals-1, 10))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return // Close takes it
	}
	c.parked[d] = time.AfterFunc(delay, func() {
		c.mu.Lock()
		if _, ok := c.parked[d]; !ok || c.closing {
			c.mu.Unlock()
			return // Close took it
		}
		delete(c.parked, d)
		m := d.m
		m.attempt++
		c.waiting = append(c.waiting, m)
		c.mu.Unlock()
		c.pump()
	})
}

// persist runs a settlement, trying again through a short outage (bounded by settleFor): a lost
// ack means a duplicate. A reply error is Redis's answer, not an outage, and is returned at once.
func (c *consumer) persist(ctx context.Context, operation func(context.Context) error) error {
	deadline := time.Now().Add(c.settleFor)
	for failures := 1; ; failures++ {
		err := operation(ctx)
		if err == nil {
			return nil
		}
		if isReplyError(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(outageDelay(failures)):
		case <-ctx.Done():
			return err
		}
	}
}

// Close stops fetching, waits for in-flight handlers until ctx is done, then releases what is
// still held (each started message counts an attempt; a waiting one does not).
func (c *consumer) Close(ctx context.Context) error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		close(c.jobs) // nothing is sent once closing: the handler goroutines end after their last
		c.mu.Unlock()
		c.stop()
		<-c.loopDone
		<-c.tickerDone
		drained := make(chan struct{})
		go func() { c.handlers.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-ctx.Done():
		}
		c.mu.Lock()
		held := make([]*delivery, 0, len(c.held))
		for d := range c.held {
			held = append(held, d)
		}
		var started []fetched
		for d, timer := range c.parked {
			if timer != nil {
				timer.Stop()
			}
			started = append(started, d.m)
		}
		clear(c.parked)
		waiting := c.waiting
		c.waiting = nil
		c.mu.Unlock()
		for _, d := range held {
			if d.release(nil) {
				started = append(started, d.m)
			}
		}
		// When Redis is unreachable now, the lease (or idle time) returns them later instead.
		releaseCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if releaseErr := c.src.release(releaseCtx, started, waiting); releaseErr != nil {
			err = fmt.Errorf("[thrun:redis] release at close: %w", releaseErr)
		}
		c.src.dispose()
		if c.onClosed != nil {
			c.onClosed()
		}
	})
	return err
}

const (
	statePending = iota
	stateSettling
	stateDone
)

// delivery is one message handed to a handler; settled at most once.
type delivery struct {
	consumer *consumer
	m        fetched
	mu       sync.Mutex
	state    int
}

var errSettled = errors.New("[thrun:redis] the delivery was already settled or released")

func (d *delivery) isPending() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == statePending
}

// release takes the delivery back from its handler (close, park); false if it was settled. then,
// when given, runs under the consumer's lock as the delivery leaves held.
func (d *delivery) release(then func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != statePending {
		return false
	}
	d.state = stateDone
	d.consumer.mu.Lock()
	delete(d.consumer.held, d)
	if then != nil {
		then()
	}
	d.consumer.mu.Unlock()
	return true
}

// settle runs one settlement; on failure the delivery stays pending, so it may be tried again.
func (d *delivery) settle(ctx context.Context, operation func(context.Context) error) error {
	d.mu.Lock()
	if d.state != statePending {
		d.mu.Unlock()
		return errSettled
	}
	d.state = stateSettling
	d.mu.Unlock()
	err := d.consumer.persist(ctx, operation)
	d.mu.Lock()
	if err != nil {
		d.state = statePending
		d.mu.Unlock()
		return fmt.Errorf("[thrun:redis] Redis refused a settlement: %w", err)
	}
	d.state = stateDone
	d.mu.Unlock()
	d.consumer.mu.Lock()
	delete(d.consumer.held, d)
	d.consumer.mu.Unlock()
	return nil
}

func (d *delivery) Body() []byte               { return d.m.body }
func (d *delivery) Queue() string              { return d.consumer.queue }
func (d *delivery) Attempt() int               { return d.m.attempt }
func (d *delivery) Key() string                { return d.m.key }
func (d *delivery) Headers() map[string]string { return nil }

func (d *delivery) Ack(ctx context.Context) error {
	return d.settle(ctx, func(ctx context.Context) error { return d.consumer.src.ack(ctx, d.m) })
}

func (d *delivery) Retry(ctx context.Context, delay time.Duration) error {
	var again *fetched
	err := d.settle(ctx, func(ctx context.Context) error {
		var err error
		again, err = d.consumer.src.retry(ctx, d.m, max(0, delay))
		return err
	})
	if err == nil && again != nil {
		// Claimed again at once (Streams): it waits here for a free slot.
		c := d.consumer
		c.mu.Lock()
		c.waiting = append(c.waiting, *again)
		c.mu.Unlock()
		c.pump()
	}
	return err
}

func (d *delivery) DeadLetter(ctx context.Context, reason transport.DeadLetterReason) error {
	frame := transport.NewDeadLetterDescription(d.consumer.queue, reason, d.m.attempt, time.Now()).Frame(d.m.body)
	return d.settle(ctx, func(ctx context.Context) error { return d.consumer.src.deadLetter(ctx, d.m, frame) })
}
