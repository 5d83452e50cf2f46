package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The repository's schema, copied here by `go generate` because go:embed cannot reach outside the
// module. TestEmbeddedSchemaIsTheRepositorys fails whenever the copy differs from schemas/.
//
//go:generate cp ../../schemas/envelope.schema.json envelope.schema.json
//go:embed envelope.schema.json
var envelopeSchemaJSON []byte

// EnvelopeSchemaID is the schema's $id: vectors reference the schema by it.
const EnvelopeSchemaID = "https://thrun.dev/schemas/envelope.schema.json"

// Envelope is the wire contract every Thrun runtime speaks. Payload and Meta stay raw so that
// validated bytes are printed back unchanged in meaning (and unknown meta keys survive).
type Envelope struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Meta    *Meta           `json:"meta,omitempty"`
}

// Meta is what a producer fills on dispatch.
type Meta struct {
	EventID   string `json:"event_id"`
	Timestamp string `json:"timestamp"`
	Source    string `json:"source"`
}

// NewCompiler returns a compiler that knows the envelope schema under its $id, with format
// assertion on. `date-time` is asserted with the contract's own rule rather than the library's: RFC 3339
// syntax and field ranges, but not the calendar (the vectors say `2026-02-30T00:00:00Z` passes, so that
// every runtime agrees; the library would also check the calendar).
func NewCompiler() (*jsonschema.Compiler, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelopeSchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("embedded envelope schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: validateDateTime})
	if err := c.AddResource(EnvelopeSchemaID, doc); err != nil {
		return nil, err
	}
	return c, nil
}

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

// Validate parses one JSON document and checks it. The error says why it is not an envelope.
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

// NewEnvelope builds an envelope with meta filled: a v4 event id, the time in UTC, source `go`.
func NewEnvelope(event string, payload json.RawMessage, now time.Time) Envelope {
	return Envelope{
		Event:   event,
		Payload: payload,
		Meta: &Meta{
			EventID:   uuid.NewString(),
			Timestamp: now.UTC().Format(time.RFC3339Nano),
			Source:    "go",
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
