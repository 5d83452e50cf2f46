package rabbitmq

import (
	"errors"
	"net/url"
	"strings"
)

// TransportError is a failure of the broker or the connection. Code is machine-readable
// (connection_failed, publish_failed, unroutable, closed, payload_too_large, invalid_option).
type TransportError struct {
	Code    string
	Message string
	Err     error
}

func (e *TransportError) Error() string { return "[thrun:rabbitmq] " + e.Message }
func (e *TransportError) Unwrap() error { return e.Err }

// ErrClosed is returned by every call after Close.
var ErrClosed = &TransportError{Code: "closed", Message: "transport is closed"}

// redactURLText returns the URL without its password, for messages.
func redactURLText(raw string) string {
	parsed, err := url.Parse(raw)
	if err != nil {
		return "the broker"
	}
	parsed.User = nil
	return parsed.Redacted()
}

// redactError is err's text with the URL's password removed, should the library have quoted it.
func redactError(err error, raw string) string {
	text := err.Error()
	if parsed, perr := url.Parse(raw); perr == nil && parsed.User != nil {
		if password, ok := parsed.User.Password(); ok && password != "" {
			text = strings.ReplaceAll(text, password, "***")
		}
	}
	return text
}

var errRefused = errors.New("refused")
