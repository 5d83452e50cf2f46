package thrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// DispatchOption changes one dispatch.
type DispatchOption func(*dispatchSettings)

type dispatchSettings struct {
	delay         time.Duration
	key           string
	queue         string
	correlationID string
	causationID   string
	batch         *BatchMeta
}

// WithDelay delivers the event no earlier than d from now (the transport needs the delay capability).
func WithDelay(d time.Duration) DispatchOption { return func(s *dispatchSettings) { s.delay = d } }

// WithKey sets the ordering or partition key.
func WithKey(key string) DispatchOption { return func(s *dispatchSettings) { s.key = key } }

// WithQueue sends the event to queue instead of the routed one.
func WithQueue(queue string) DispatchOption { return func(s *dispatchSettings) { s.queue = queue } }

// WithCorrelationID sets meta.correlation_id.
func WithCorrelationID(id string) DispatchOption {
	return func(s *dispatchSettings) { s.correlationID = id }
}

// WithCausationID sets meta.causation_id: the event_id of the event whose handler dispatches this one.
func WithCausationID(id string) DispatchOption {
	return func(s *dispatchSettings) { s.causationID = id }
}

// Event is one event of a bulk dispatch.
type Event struct {
	Name    string
	Payload any
	Options []DispatchOption
}

// Dispatch sends one event and returns its meta.event_id once the transport accepted it (the broker
// durably took it). The payload is any value that marshals to a JSON object; the envelope is
// validated against the schema before anything is sent.
func (t *Thrun) Dispatch(ctx context.Context, event string, payload any, opts ...DispatchOption) (string, error) {
	ids, err := t.DispatchMany(ctx, []Event{{Name: event, Payload: payload, Options: opts}})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// DispatchMany sends several events, one publish per queue and delay, in order; it returns their
// event ids once every one was accepted. It validates every event before sending any. Publishing is
// not atomic: on an error, events before the failing one may have been accepted.
func (t *Thrun) DispatchMany(ctx context.Context, events []Event) ([]string, error) {
	type group struct {
		queue    string
		messages []transport.Message
	}
	var groups []*group
	ids := make([]string, len(events))
	for i, e := range events {
		settings := dispatchSettings{}
		for _, opt := range e.Options {
			opt(&settings)
		}
		body, id, err := t.encode(e.Name, e.Payload, settings)
		if err != nil {
			return nil, err
		}
		ids[i] = id
		queue := settings.queue
		if queue == "" {
			queue = t.router.queueFor(e.Name)
		}
		message := transport.Message{Body: body, Key: settings.key, Delay: settings.delay}
		// Consecutive events for one queue share a publish; order across queues is kept too.
		if n := len(groups); n > 0 && groups[n-1].queue == queue {
			groups[n-1].messages = append(groups[n-1].messages, message)
		} else {
			groups = append(groups, &group{queue: queue, messages: []transport.Message{message}})
		}
	}
	for _, g := range groups {
		if err := t.transport.Publish(ctx, g.queue, g.messages); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Encode returns the bytes Dispatch would send for an event (meta filled, validated), without
// sending them: for a producer that publishes through a transport of its own, or logs what it sent.
func (t *Thrun) Encode(event string, payload any, opts ...DispatchOption) ([]byte, error) {
	settings := dispatchSettings{}
	for _, opt := range opts {
		opt(&settings)
	}
	body, _, err := t.encode(event, payload, settings)
	return body, err
}

// encode builds the validated envelope bytes of an event, with meta filled.
func (t *Thrun) encode(event string, payload any, s dispatchSettings) ([]byte, string, error) {
	if !IsEventName(event) {
		return nil, "", &CodecError{"invalid_event_name", fmt.Sprintf("invalid event name %q: use lowercase a-z, 0-9 joined by '.', '_' or '-'", event)}
	}
	raw, err := marshalPayload(payload)
	if err != nil {
		return nil, "", err
	}
	envelope := NewEnvelope(event, raw, t.opts.Source, time.Now())
	envelope.Meta.CorrelationID = s.correlationID
	envelope.Meta.CausationID = s.causationID
	envelope.Meta.Batch = s.batch
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(envelope); err != nil {
		return nil, "", &CodecError{"invalid_payload", err.Error()}
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	// The same safe codec a consumer runs: what we send, every runtime accepts.
	if _, err := t.validator.Decode(body); err != nil {
		return nil, "", err
	}
	return body, envelope.Meta.EventID, nil
}

// marshalPayload turns a payload into a JSON object's bytes (nil is the empty object).
func marshalPayload(payload any) (json.RawMessage, error) {
	if payload == nil {
		return json.RawMessage(`{}`), nil
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, &CodecError{"invalid_payload", "payload does not marshal to JSON: " + err.Error()}
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &CodecError{"invalid_payload", "payload must be a JSON object"}
	}
	return raw, nil
}
