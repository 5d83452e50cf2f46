package rabbitmq

import (
	"net/url"
	"regexp"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// TransportError is a failure of the broker or the connection. Code is machine-readable
// (connection_failed, publish_failed, unroutable, closed, payload_too_large, invalid_option).
// Kind, when set, is the transport package's sentinel it matches (errors.Is(err, transport.ErrClosed)).
type TransportError struct {
	Code    string
	Message string
	Kind    error
	Err     error
}

func (e *TransportError) Error() string {
	if e.Err != nil {
		return "[thrun:rabbitmq] " + e.Message + ": " + redactErrorText(e.Err.Error())
	}
	return "[thrun:rabbitmq] " + e.Message
}

func (e *TransportError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// ErrClosed is returned by every call after Close; it matches transport.ErrClosed.
var ErrClosed = &TransportError{Code: "closed", Message: "transport is closed", Kind: transport.ErrClosed}

// redactURLText returns the URL without its password, for messages.
func redactURLText(raw string) string {
	parsed, err := url.Parse(raw)
	if err != nil {
		return "the broker"
	}
	parsed.User = nil
	return parsed.Redacted()
}

var urlPassword = regexp.MustCompile(`(amqps?://[^:/@\s]*:)[^@\s]*@`)

// redactErrorText removes a password from any AMQP URL quoted in an error's text.
func redactErrorText(text string) string { return urlPassword.ReplaceAllString(text, "${1}***@") }
