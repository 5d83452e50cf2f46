package thrun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/thrun-dev/thrun/sdks/go/internal/wire"
	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// EnvelopeSchemaID is the schema's $id: vectors reference the schema by it.
const EnvelopeSchemaID = "https://thrun.dev/schemas/envelope.schema.json"

// SpecVersion is the envelope specification this runtime follows, written to meta.spec_version.
const SpecVersion = "1.0"

// Envelope is the wire contract every Thrun runtime speaks. Payload stays raw, so that validated
// bytes are handed over unchanged in meaning.
type Envelope struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Meta    *Meta           `json:"meta,omitempty"`
}

// Meta is what a producer fills on dispatch. Unknown meta keys are tolerated on decoding (and not
// kept here; the delivery's bytes still hold them).
type Meta struct {
	// EventID is a UUID, unique per dispatch (a retry keeps it).
	EventID string `json:"event_id"`
	// Timestamp is the RFC 3339 time of the dispatch.
	Timestamp string `json:"timestamp"`
	// Source is the producing runtime or service.
	Source string `json:"source"`
	// Attempt is the 1-based delivery attempt, when the producer knows it.
	Attempt int `json:"attempt,omitempty"`
	// CorrelationID groups every event of one business flow.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the event_id of the event whose handler dispatched this one.
	CausationID string `json:"causation_id,omitempty"`
	// Traceparent is the W3C Trace Context traceparent.
	Traceparent string `json:"traceparent,omitempty"`
	// Batch is present on batch steps (schemas/batch-meta.schema.json).
	Batch *BatchMeta `json:"batch,omitempty"`
	// SpecVersion is the envelope specification version the producer followed.
	SpecVersion string `json:"spec_version,omitempty"`
}

// BatchMeta is meta.batch on a batch step's envelope.
type BatchMeta struct {
	// ID is the batch's id (UUID).
	ID string `json:"id"`
	// Index is the zero-based position of this step in the batch.
	Index int `json:"index"`
	// Total is the number of steps in the batch.
	Total int `json:"total"`
	// Mode is sequential or parallel.
	Mode string `json:"mode,omitempty"`
	// ReportTo is the queue where the step's outcome is reported, when the engine that dispatched
	// the step named one; otherwise the report goes to the step's own queue.
	ReportTo string `json:"report_to,omitempty"`
}

// NewCompiler returns a compiler that knows the envelope schema under its $id, with format
// assertion on. `date-time` is asserted with the contract's own rule rather than the library's: RFC 3339
// syntax and field ranges, but not the calendar (the vectors say `2026-02-30T00:00:00Z` passes, so that
// every runtime agrees; the library would also check the calendar).
func NewCompiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: validateDateTime})
	// Every schema of schemas/, under its $id (https://thrun.dev/schemas/<file>), so that references
	// between them (dead letters and batch payloads use the envelope's definitions) resolve.
	entries, err := wire.Schemas.ReadDir(".")
	if err != nil {
		return nil, err
	}
	for _, entry := range entries {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(wire.Schema(entry.Name())))
		if err != nil {
			return nil, fmt.Errorf("embedded schema %s is not JSON: %w", entry.Name(), err)
		}
		if err := c.AddResource(schemaBaseURL+entry.Name(), doc); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// schemaBaseURL is where every schema's $id lives.
const schemaBaseURL = "https://thrun.dev/schemas/"

// Validator checks documents against the envelope schema.
type Validator struct{ schema *jsonschema.Schema }

// NewValidator compiles the embedded envelope schema.
func NewValidator() (*Validator, error) {
	c, err := NewCompiler()
	if err != nil {
		return nil, err
	}
	s, err := c.Compile(EnvelopeSchemaID)
	if err != nil {
		return nil, err
	}
	return &Validator{schema: s}, nil
}

// unmarshalReader parses JSON the way the validator expects it (numbers as json.Number).
func unmarshalReader(r *bytes.Reader) (any, error) { return jsonschema.UnmarshalJSON(r) }

// Validate parses one JSON document and checks it. The error says why it is not an envelope.
func (v *Validator) Validate(data []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := v.schema.Validate(doc); err != nil {
		return err
	}
	return nil
}

// NewEnvelope builds an envelope with meta filled: a v4 event id, the time in UTC with
// milliseconds (as every Thrun runtime writes it), and the given source.
func NewEnvelope(event string, payload json.RawMessage, source string, now time.Time) Envelope {
	return Envelope{
		Event:   event,
		Payload: payload,
		Meta: &Meta{
			EventID:     uuid.NewString(),
			Timestamp:   transport.FormatTimestamp(now),
			Source:      source,
			SpecVersion: SpecVersion,
		},
	}
}

// The schema's `dateTime` pattern, the contract's definition of an RFC 3339 date-time.
var dateTimePattern = regexp.MustCompile(`^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$`)

func validateDateTime(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil // formats apply to strings only
	}
	if !dateTimePattern.MatchString(s) {
		return fmt.Errorf("not an RFC 3339 date-time with Z or an offset")
	}
	return nil
}
