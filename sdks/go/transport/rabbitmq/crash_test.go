package rabbitmq

import (
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/workertest"
)

// TestCrashConsumer is the consumer process that the SIGKILL test kills.
func TestCrashConsumer(t *testing.T) {
	if !workertest.CrashConsumer(t, func(t *testing.T) transport.Transport { return newTransport(t, Options{}) }) {
		return // it is only the child process of TestSIGKILLMidHandlerRedeliversAsALaterAttempt
	}
}

// A consumer killed with SIGKILL mid-handler loses nothing: the quorum queue redelivers the
// message to the next consumer, and x-delivery-count makes it attempt 2.
func TestSIGKILLMidHandlerRedeliversAsALaterAttempt(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-sigkill")
	workertest.KillMidHandler(t, tr, queue, []byte(`{"event":"crash","payload":{}}`))
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	if r := brokertest.Next(t, got, 10*time.Second); r.Attempt != 2 || r.Body != `{"event":"crash","payload":{}}` {
		t.Fatalf("after the kill: %+v", r)
	}
}
