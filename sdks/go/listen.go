package thrun

import (
	"context"
	"encoding/json"
	"fmt"
)

// Message is one delivered event as a listener sees it.
type Message struct {
	// Envelope is the decoded, validated envelope; Envelope.Payload holds the payload's bytes.
	Envelope Envelope
	// Body is the exact bytes that were delivered (unknown meta keys included).
	Body []byte
	// Queue is the queue it came from.
	Queue string
	// Attempt is 1 on first delivery, +1 on every redelivery.
	Attempt int
	// Key is the message key, where the transport keeps it.
	Key string

	thrun *Thrun
}

// Dispatch sends an event caused by this one: meta.causation_id is this event's id and
// meta.correlation_id is carried over (or started from this event's id).
func (m *Message) Dispatch(ctx context.Context, event string, payload any, opts ...DispatchOption) (string, error) {
	var caused []DispatchOption
	if meta := m.Envelope.Meta; meta != nil {
		correlation := meta.CorrelationID
		if correlation == "" {
			correlation = meta.EventID
		}
		caused = append(caused, WithCausationID(meta.EventID), WithCorrelationID(correlation))
	}
	return m.thrun.Dispatch(ctx, event, payload, append(caused, opts...)...)
}

// Decode unmarshals a message's payload into a T: `order, err := thrun.Decode[Order](msg)`.
// A payload that does not fit T is a permanent error (retrying cannot change the bytes).
func Decode[T any](m *Message) (T, error) {
	var value T
	if err := json.Unmarshal(m.Envelope.Payload, &value); err != nil {
		return value, Permanent(fmt.Errorf("[thrun:go] payload of %s does not decode into %T: %w", m.Envelope.Event, value, err))
	}
	return value, nil
}

// HandlerFunc handles one event. Returning nil acknowledges it; an error retries it with backoff
// (or dead-letters it when marked with Permanent, or after MaxAttempts). A panic counts as an error.
// ctx is cancelled when a stop's drain deadline passes.
type HandlerFunc func(ctx context.Context, m *Message) error

type listener struct {
	pattern string
	handle  HandlerFunc
}

// Listen registers a handler for an exact event name or a pattern with segment wildcards ('*' one
// segment, '#' any number). Register listeners before Run: the worker consumes the queues that the
// listeners' events are routed to.
func (t *Thrun) Listen(pattern string, handle HandlerFunc) error {
	if !IsEventPattern(pattern) {
		return fmt.Errorf("[thrun:go] invalid event pattern %q: segments are event names, '*' (one segment) or '#' (any number)", pattern)
	}
	if handle == nil {
		return fmt.Errorf("[thrun:go] Listen(%q) needs a handler", pattern)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listeners = append(t.listeners, &listener{pattern: pattern, handle: handle})
	return nil
}

// listenersFor returns the listeners whose pattern matches event, in registration order.
func (t *Thrun) listenersFor(event string) []*listener {
	t.mu.Lock()
	defer t.mu.Unlock()
	var matched []*listener
	for _, l := range t.listeners {
		if MatchEventPattern(l.pattern, event) {
			matched = append(matched, l)
		}
	}
	return matched
}

// listenedQueues lists every queue a listener's events may be routed to.
func (t *Thrun) listenedQueues() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var queues []string
	seen := map[string]bool{}
	for _, l := range t.listeners {
		for _, q := range t.router.queuesFor(l.pattern) {
			if !seen[q] {
				seen[q] = true
				queues = append(queues, q)
			}
		}
	}
	return queues
}
