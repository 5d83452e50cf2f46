package thrun

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/schemas"
	"github.com/thrun-dev/thrun/sdks/go/transport"
)

type vectorGroup struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

// Every envelope vector file, the same files every runtime's tests run.
func TestEnvelopeVectors(t *testing.T) {
	envelopeFiles, _ := fs.Glob(schemas.Vectors, "vectors/envelope/*.json")
	batchFiles, _ := fs.Glob(schemas.Vectors, "vectors/batch/*.json")
	if len(envelopeFiles) == 0 || len(batchFiles) == 0 {
		t.Fatal("no vector files in schemas/vectors/envelope or batch")
	}
	files := append(envelopeFiles, batchFiles...)
	cases := 0
	for _, file := range files {
		raw, err := fs.ReadFile(schemas.Vectors, file)
		if err != nil {
			t.Fatal(err)
		}
		var groups []vectorGroup
		if err := json.Unmarshal(raw, &groups); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for gi, group := range groups {
			compiler, err := NewCompiler()
			if err != nil {
				t.Fatal(err)
			}
			schemaDoc, err := unmarshal(group.Schema)
			if err != nil {
				t.Fatalf("%s: schema: %v", file, err)
			}
			url := "https://thrun.dev/vectors/" + path.Base(file) + "/" + itoa(gi)
			if err := compiler.AddResource(url, schemaDoc); err != nil {
				t.Fatal(err)
			}
			schema, err := compiler.Compile(url)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, test := range group.Tests {
				cases++
				name := path.Base(file) + "/" + group.Description + "/" + test.Description
				t.Run(name, func(t *testing.T) {
					doc, err := unmarshal(test.Data)
					if err != nil {
						t.Fatal(err)
					}
					err = schema.Validate(doc)
					if test.Valid && err != nil {
						t.Errorf("want valid, got: %v", err)
					}
					if !test.Valid && err == nil {
						t.Errorf("want invalid, got valid: %s", test.Data)
					}
				})
			}
		}
	}
	t.Logf("%d vector cases from %d files", cases, len(files))
}

func TestProducedEnvelopesAreValid(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnvelope("order_created", json.RawMessage(`{"order_id":123}`), "go", time.Now())
	data, _ := json.Marshal(env)
	if err := v.Validate(data); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if env.Meta.Source != "go" {
		t.Fatalf("source %q", env.Meta.Source)
	}
	// A bare message, without meta.
	if err := v.Validate([]byte(`{"event":"go_message","payload":{"text":"hello"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate([]byte(`{"event":"go_message","payload":{},"meta":{"event_id":"nope","timestamp":"2026-01-01T00:00:00Z","source":"go"}}`)); err == nil {
		t.Fatal("a bad event_id passed")
	}
}

func unmarshal(raw json.RawMessage) (any, error) {
	return unmarshalReader(bytes.NewReader(raw))
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// The dead-letter description this runtime writes validates against schemas/dead-letter.schema.json.
func TestDeadLetterDescriptionMatchesTheSchema(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(schemaBaseURL + "dead-letter.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	reason := transport.DeadLetterReason{Code: "max_attempts", Message: strings.Repeat("ü", 700)}
	frame := transport.NewDeadLetterDescription("orders", reason, 5, time.Now()).Frame([]byte(`{"event":"a","payload":{}}`))
	line, _, _ := bytes.Cut(frame, []byte("\n"))
	doc, err := unmarshal(line)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}
