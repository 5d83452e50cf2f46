package rabbitmq

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// deadLetterHeaders is the headers form of a dead letter's description (protocol/headers.json,
// deadLetter), its reason cut to the protocol's limits.
func deadLetterHeaders(queue string, reason transport.DeadLetterReason, attempts int, at time.Time) map[string]string {
	return map[string]string{
		"thrun-dead-queue":         queue,
		"thrun-dead-error-code":    truncateUTF8(reason.Code, 255),
		"thrun-dead-error-message": truncateUTF8(reason.Message, 1024),
		"thrun-dead-attempts":      strconv.Itoa(attempts),
		"thrun-dead-failed-at":     at.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
}

// truncateUTF8 keeps text when it fits maxBytes, else its longest prefix of whole characters that
// fits in maxBytes-3, followed by "…".
func truncateUTF8(text string, maxBytes int) string {
	if len(text) <= maxBytes {
		return text
	}
	end := 0
	for index, r := range text {
		size := utf8.RuneLen(r)
		if size < 0 {
			size = 3 // an invalid byte becomes U+FFFD
		}
		if index+size > maxBytes-3 {
			break
		}
		end = index + size
	}
	return text[:end] + "…"
}
