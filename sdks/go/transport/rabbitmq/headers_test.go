package rabbitmq

import (
	"testing"

	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
)

// The names are constants here, so a typo is a compile-time error; this keeps them equal to the file
// every runtime reads (protocol/headers.json), both ways: a name added there needs a constant here.
func TestHeaderNamesAreThoseOfTheProtocol(t *testing.T) {
	brokertest.HeaderNames(t, "rabbitmq", map[string]string{
		"attempts":      headerAttempts,
		"key":           headerKey,
		"deliveryCount": headerDeliveryCount,
	})
}
