package rabbitmq

import (
	"context"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

// consumer is one Consume call: a channel of its own with prefetch, at most concurrency handlers at
// once. When its channel or connection is lost it subscribes again with backoff; the broker
// redelivers what the lost channel held.
type consumer struct {
	transport  *Transport
	queue      string
	group      string
	groupQueue string
	handler    transport.Handler
	prefetch   int
	slots      chan struct{}

	tag       string
	closing   chan struct{}
	closeOnce sync.Once
	loopDone  chan struct{}

	mu      sync.Mutex
	ch      *amqp.Channel
	active  map[*delivery]struct{}
	running sync.WaitGroup
}

func (c *consumer) subscribe(ctx context.Context) (<-chan amqp.Delivery, error) {
	ch, _, err := c.transport.manager.channel(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (<-chan amqp.Delivery, error) {
		_ = ch.Close()
		if isPreconditionFailed(err) {
			return nil, &TransportError{Transport: transportName, Code: "invalid_option", Message: "queue " + c.groupQueue + " exists with different arguments; delete it or match QueueType", Err: err}
		}
		return nil, &TransportError{Transport: transportName, Code: "connection_failed", Message: "cannot subscribe to " + c.groupQueue, Err: err}
	}
	if err := ch.Qos(c.prefetch, 0, false); err != nil {
		return fail(err)
	}
	if err := declareGroup(ch, c.transport.queueTypeOf(c.queue), c.queue, c.groupQueue); err != nil {
		return fail(err)
	}
	deliveries, err := ch.Consume(c.groupQueue, c.tag, false, false, false, false, nil)
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	c.ch = ch
	c.mu.Unlock()
	return deliveries, nil
}

// loop hands deliveries to handlers as slots free up, and subscribes again after a lost channel.
func (c *consumer) loop(deliveries <-chan amqp.Delivery) {
	defer close(c.loopDone)
	for {
		c.mu.Lock()
		ch := c.ch
		c.mu.Unlock()
		for message := range deliveries {
			select {
			case c.slots <- struct{}{}:
			case <-c.closing:
				// Not started: back to the broker, untouched by any handler.
				_ = message.Nack(false, true)
				continue
			}
			select {
			case <-c.closing:
				<-c.slots
				_ = message.Nack(false, true)
				continue
			default:
			}
			c.start(ch, message)
		}
		for attempt := 1; ; attempt++ {
			select {
			case <-c.closing:
				return
			case <-time.After(brokerkit.Backoff(attempt)):
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.transport.connectTimeout)
			next, err := c.subscribe(ctx)
			cancel()
			if err == nil {
				deliveries = next
				break
			}
		}
	}
}

func (c *consumer) start(ch *amqp.Channel, message amqp.Delivery) {
	d := newDelivery(c, ch, message)
	c.mu.Lock()
	c.active[d] = struct{}{}
	c.mu.Unlock()
	c.running.Add(1)
	go func() {
		defer c.running.Done()
		defer func() { <-c.slots }()
		defer func() {
			c.mu.Lock()
			delete(c.active, d)
			c.mu.Unlock()
		}()
		c.run(d)
	}()
}

// run runs the handler; a delivery it leaves pending is retried at once, unless one of its
// settlements was refused: then it runs again here, as the next attempt, after a backoff (retrying
// at once would meet the same refusal in a loop).
func (c *consumer) run(d *delivery) {
	for refusals := 0; ; {
		err := c.invoke(d)
		if d.isPending() && !d.settlement.Refused() {
			err = d.Retry(d.ctx, 0)
		}
		_ = err
		if !d.isPending() {
			return
		}
		refusals++
		select {
		case <-c.closing:
			return // released at close
		case <-time.After(brokerkit.Backoff(refusals)):
		}
		if !d.again() {
			return
		}
	}
}

// invoke calls the handler, turning a panic into an error: a handler never crashes the consumer.
func (c *consumer) invoke(d *delivery) (err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			err = &TransportError{Transport: transportName, Code: "handler_panic", Message: "the handler panicked"}
		}
	}()
	return c.handler(d.ctx, d)
}

// close stops fetching, lets running handlers finish until ctx is done, then gives back to the
// broker whatever is still unsettled (redelivered as the next attempt).
func (c *consumer) close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.mu.Lock()
		ch := c.ch
		c.mu.Unlock()
		if ch != nil {
			_ = ch.Cancel(c.tag, false)
		}
		// Cancel gives up the consumer tag; closing the channel below requeues whatever it still held.
		finished := make(chan struct{})
		go func() { c.running.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-ctx.Done():
			c.mu.Lock()
			for d := range c.active {
				d.release()
			}
			c.mu.Unlock()
		}
		if ch != nil {
			_ = ch.Close()
		}
		<-c.loopDone
	})
	return nil
}
