package kafka

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The names of protocol/kafka.md. A Thrun queue q uses three topics:
//
//	q        messages, and the copies groups write back for themselves (thrun-group)
//	q.retry  copies held back until thrun-due-at: delayed publishes and delayed retries
//	q.dead   dead letters: the original key and value, described by the thrun-dead-* headers
//
// and a Thrun group g is the Kafka consumer group <prefix>.q.g (thrun.orders.default).
const (
	// DefaultGroup is Thrun's default consumer group.
	DefaultGroup = "default"

	headerAttempt     = "thrun-attempt"
	headerGroup       = "thrun-group"
	headerDueAt       = "thrun-due-at"
	headerFailedGroup = "thrun-failed-group"

	maxQueueNameLength = 249 - len(".dead.retry")
)

func retryTopic(queue string) string { return queue + ".retry" }
func deadTopic(queue string) string  { return queue + ".dead" }

// header is the first value of a record header, as text.
func header(record *kgo.Record, name string) (string, bool) {
	for _, h := range record.Headers {
		if h.Key == name {
			return string(h.Value), true
		}
	}
	return "", false
}

// positiveHeader reads a positive integer header; absent or malformed (foreign producers set
// anything) reads as fallback.
func positiveHeader(record *kgo.Record, name string, fallback int) int {
	text, ok := header(record, name)
	if !ok {
		return fallback
	}
	n, err := strconv.Atoi(text)
	if err != nil || n <= 0 {
		return fallback
	}
	return n
}

// withHeaders is headers with each of set replacing any header of its name, and without drop.
func withHeaders(headers []kgo.RecordHeader, set map[string]string, drop ...string) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(headers)+len(set))
	for _, h := range headers {
		if _, replaced := set[h.Key]; replaced || contains(drop, h.Key) {
			continue
		}
		out = append(out, h)
	}
	for _, name := range []string{headerGroup, headerAttempt, headerDueAt} { // a stable order
		if value, ok := set[name]; ok {
			out = append(out, kgo.RecordHeader{Key: name, Value: []byte(value)})
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

// textHeaders is every header as text (the first value of a repeated one), nil when none.
func textHeaders(record *kgo.Record) map[string]string {
	if len(record.Headers) == 0 {
		return nil
	}
	out := make(map[string]string, len(record.Headers))
	for _, h := range record.Headers {
		if _, seen := out[h.Key]; !seen {
			out[h.Key] = string(h.Value)
		}
	}
	return out
}
