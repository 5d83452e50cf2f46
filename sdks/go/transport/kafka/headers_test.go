package kafka

import (
	"maps"
	"testing"

	"github.com/thrun-dev/thrun/sdks/go/internal/wire"
)

// The names are constants here, so a typo is a compile-time error; this keeps them equal to the file
// every runtime reads (protocol/headers.json), both ways: a name added there needs a constant here.
func TestHeaderNamesAreThoseOfTheProtocol(t *testing.T) {
	got := map[string]string{
		"attempt":     headerAttempt,
		"group":       headerGroup,
		"dueAt":       headerDueAt,
		"failedGroup": headerFailedGroup,
	}
	if want := wire.HeaderNames("kafka"); !maps.Equal(got, want) {
		t.Fatalf("header names differ from protocol/headers.json (kafka):\n got %v\nwant %v", got, want)
	}
}
