package transport

import "fmt"

// MaxNameLength bounds event and queue names (schemas/envelope.schema.json#/$defs/eventName).
const MaxNameLength = 255

// IsName reports whether s is a valid event or queue name: lowercase a-z and 0-9 words joined by
// '.', '_' or '-', at most MaxNameLength characters.
func IsName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLength {
		return false
	}
	previousWasSeparator := true // no leading separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'):
			previousWasSeparator = false
		case c == '.' || c == '_' || c == '-':
			if previousWasSeparator {
				return false
			}
			previousWasSeparator = true
		default:
			return false
		}
	}
	return !previousWasSeparator // no trailing separator
}

// ValidateQueueName returns an error wrapping ErrInvalidQueue unless name follows the event-name
// rule, so "<queue>.dead" and broker key prefixes stay valid everywhere.
func ValidateQueueName(name string) error {
	if IsName(name) {
		return nil
	}
	return fmt.Errorf("[thrun] invalid queue name %q: use lowercase a-z, 0-9 joined by '.', '_' or '-': %w", truncate(name), ErrInvalidQueue)
}

// DeadLetterQueueName is the dead-letter queue of a queue.
func DeadLetterQueueName(queue string) string { return queue + ".dead" }

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
