package kafka

import (
	"testing"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/workertest"
)

var broker = workertest.Broker{
	New: func(t *testing.T) transport.Transport { return newTransport(t, Options{}) },
	DeadLetters: func(t *testing.T, queue string, n int) []transport.QueuedMessage {
		var out []transport.QueuedMessage
		for _, record := range readTopic(t, deadTopic(queue), n) {
			out = append(out, transport.QueuedMessage{Body: record.Value, Key: string(record.Key), Headers: textHeaders(record)})
		}
		return out
	},
}

func TestGoWorkerOverKafka(t *testing.T) { workertest.Run(t, broker) }
