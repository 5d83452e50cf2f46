package transport

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Header names of a dead letter's headers form (protocol/headers.json, deadLetter.headers).
const (
	HeaderDeadQueue        = "thrun-dead-queue"
	HeaderDeadErrorCode    = "thrun-dead-error-code"
	HeaderDeadErrorMessage = "thrun-dead-error-message"
	HeaderDeadAttempts     = "thrun-dead-attempts"
	HeaderDeadFailedAt     = "thrun-dead-failed-at"
)

// Reason limits in UTF-8 bytes (protocol/headers.json, deadLetter.reasonLimits).
const (
	MaxReasonCodeBytes    = 255
	MaxReasonMessageBytes = 1024
)

// DeadLetterDescription is what describes a dead letter on every transport
// (schemas/dead-letter.schema.json): in thrun-dead-* headers, or as the JSON line of a frame.
type DeadLetterDescription struct {
	// Queue is the queue the message was taken from, where a replay sends it back.
	Queue string `json:"queue"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	// Attempts is the attempt number of the dead-lettered delivery.
	Attempts int `json:"attempts"`
	// FailedAt is RFC 3339 UTC with milliseconds, as TypeScript's toISOString writes it.
	FailedAt string `json:"failed_at"`
}

// NewDeadLetterDescription builds a description with the reason cut to its limits.
func NewDeadLetterDescription(queue string, reason DeadLetterReason, attempts int, failedAt time.Time) DeadLetterDescription {
	var d DeadLetterDescription
	d.Queue = queue
	d.Error.Code = TruncateUTF8(reason.Code, MaxReasonCodeBytes)
	d.Error.Message = TruncateUTF8(reason.Message, MaxReasonMessageBytes)
	d.Attempts = attempts
	d.FailedAt = FormatTimestamp(failedAt)
	return d
}

// FormatTimestamp writes t as JavaScript's Date.toISOString does: UTC, milliseconds, Z.
func FormatTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Headers is the headers form of the description.
func (d DeadLetterDescription) Headers() map[string]string {
	return map[string]string{
		HeaderDeadQueue:        d.Queue,
		HeaderDeadErrorCode:    d.Error.Code,
		HeaderDeadErrorMessage: d.Error.Message,
		HeaderDeadAttempts:     strconv.Itoa(d.Attempts),
		HeaderDeadFailedAt:     d.FailedAt,
	}
}

// Frame is the frame form for transports without headers: the description's JSON line, a line
// feed, then the original bytes unchanged.
func (d DeadLetterDescription) Frame(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(256 + len(body))
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false) // as JSON.stringify writes it
	_ = encoder.Encode(d)        // strings and an int: cannot fail; Encode ends the line with '\n'
	buf.Write(body)
	return buf.Bytes()
}

// TruncateUTF8 cuts text to at most maxBytes UTF-8 bytes at a character boundary; a cut text keeps
// its longest prefix fitting maxBytes-3 and ends in "…".
func TruncateUTF8(text string, maxBytes int) string {
	if len(text) <= maxBytes {
		return text
	}
	budget := maxBytes - len("…")
	end := 0
	for i, r := range text {
		size := utf8.RuneLen(r)
		if size < 0 {
			size = 3 // an invalid byte becomes U+FFFD when written
		}
		if i+size > budget {
			break
		}
		end = i + size
	}
	return text[:end] + "…"
}
