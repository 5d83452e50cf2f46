// Package brokerkit holds what the Go broker transports (RabbitMQ, Kafka) share: the settle state
// machine of a delivery, the error type, the pace after refused settlements, option defaults.
package brokerkit

import (
	"context"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"
)

// Error is a failure of a broker or its connection. Code is machine-readable (connection_failed,
// publish_failed, unroutable, broker_error, closed, payload_too_large, invalid_option, …); Kind,
// when set, is the transport package's sentinel it matches (errors.Is(err, transport.ErrClosed)).
// Messages never hold credentials.
type Error struct {
	Transport string
	Code      string
	Message   string
	Kind      error
	Err       error
}

func (e *Error) Error() string {
	text := "[thrun:" + e.Transport + "] " + e.Message
	if e.Err != nil {
		text += ": " + urlPassword.ReplaceAllString(e.Err.Error(), "${1}***@")
	}
	return text
}

func (e *Error) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// urlPassword finds the password of a URL a library may have quoted in an error.
var urlPassword = regexp.MustCompile(`([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@`)

// State is where a delivery stands.
type State int

const (
	// Pending: nobody settled it yet (or a settlement was refused).
	Pending State = iota
	// Settling: an ack, retry or dead-letter is under way.
	Settling
	// Settled: done, for good.
	Settled
	// Released: handed back at close; whatever its handler does later is ignored.
	Released
)

// Settlement is the settle state machine of one delivery: settled at most once; a second
// settlement while one is under way waits for it and returns its result; one the broker refuses
// leaves the delivery pending (so the handler may try again) and marks it refused.
type Settlement struct {
	mu      sync.Mutex
	state   State
	refused bool
	running chan struct{}
	result  error
}

// Settle runs action as the delivery's settlement, ending in final (Settled or Released).
func (s *Settlement) Settle(action func() error, final State) error {
	s.mu.Lock()
	switch s.state {
	case Settling:
		running := s.running
		s.mu.Unlock()
		<-running
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.result
	case Settled, Released:
		s.mu.Unlock()
		return nil
	}
	s.state = Settling
	s.running = make(chan struct{})
	s.mu.Unlock()
	err := action()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.result = err
	if err != nil {
		s.state = Pending
		s.refused = true
	} else {
		s.state = final
	}
	close(s.running)
	return err
}

// State is the current state.
func (s *Settlement) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Refused reports whether a settlement was refused since the last Again.
func (s *Settlement) Refused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Again readies a delivery left pending after a refusal to run once more; false when it is no
// longer pending.
func (s *Settlement) Again() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Pending {
		return false
	}
	s.refused = false
	return true
}

// Release marks a pending delivery released, running give (which hands it back to the broker);
// false when it was not pending.
func (s *Settlement) Release(give func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Pending {
		return false
	}
	s.state = Released
	give()
	return true
}

// Backoff paces reconnections and the tries of a settlement the broker refused: 100 ms doubling
// to 5 s, drawn from the upper half (the contract's REFUSED_SETTLEMENT_BACKOFF).
func Backoff(attempt int) time.Duration {
	delay := 100 * time.Millisecond
	for i := 1; i < attempt && delay < 5*time.Second; i++ {
		delay *= 2
	}
	delay = min(delay, 5*time.Second)
	return delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
}

// OrDefault is value, or fallback when value is the zero value.
func OrDefault[T comparable](value, fallback T) T {
	var zero T
	if value == zero {
		return fallback
	}
	return value
}

// DrainContext is ctx, bounded by drainTimeout when it has no deadline of its own.
func DrainContext(ctx context.Context, drainTimeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, drainTimeout)
}

// Consumers tracks a transport's open consumers and whether the transport was closed.
type Consumers struct {
	mu     sync.Mutex
	open   map[any]func(context.Context)
	closed bool
}

// Add registers a consumer and the function that closes it; false once the transport is closed.
func (c *Consumers) Add(key any, close func(context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.open == nil {
		c.open = map[any]func(context.Context){}
	}
	c.open[key] = close
	return true
}

// Remove forgets a consumer that closed.
func (c *Consumers) Remove(key any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.open, key)
}

// Closed reports whether CloseAll was called.
func (c *Consumers) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// CloseAll marks the transport closed and closes every open consumer at once, each draining until
// ctx is done; false when it was closed already.
func (c *Consumers) CloseAll(ctx context.Context) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	closes := make([]func(context.Context), 0, len(c.open))
	for _, close := range c.open {
		closes = append(closes, close)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, close := range closes {
		wg.Go(func() { close(ctx) })
	}
	wg.Wait()
	return true
}
