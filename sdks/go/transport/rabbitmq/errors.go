package rabbitmq

import (
	"net/url"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokerkit"
)

// TransportError is a failure of the broker or the connection (brokerkit.Error: Code, Message,
// and the transport package's sentinel it matches).
type TransportError = brokerkit.Error

const transportName = "rabbitmq"

// ErrClosed is returned by every call after Close; it matches transport.ErrClosed.
var ErrClosed = &TransportError{Transport: transportName, Code: "closed", Message: "transport is closed", Kind: transport.ErrClosed}

// redactURLText returns the URL without its password, for messages.
func redactURLText(raw string) string {
	parsed, err := url.Parse(raw)
	if err != nil {
		return "the broker"
	}
	parsed.User = nil
	return parsed.Redacted()
}
