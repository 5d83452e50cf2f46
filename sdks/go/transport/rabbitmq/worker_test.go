package rabbitmq

import (
	"testing"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/workertest"
)

var broker = workertest.Broker{
	New: func(t *testing.T) transport.Transport { return newTransport(t, Options{}) },
	DeadLetters: func(t *testing.T, queue string, n int) []transport.QueuedMessage {
		var out []transport.QueuedMessage
		for range n {
			message, ok := rawGet(t, deadQueueName(queue))
			if !ok {
				t.Fatalf("%d of %d dead letters in %s", len(out), n, deadQueueName(queue))
			}
			_, key, headers := readMessage(message.Headers, false)
			out = append(out, transport.QueuedMessage{Body: message.Body, Key: key, Headers: headers})
		}
		return out
	},
}

func TestGoWorkerOverRabbitMQ(t *testing.T) { workertest.Run(t, broker) }
