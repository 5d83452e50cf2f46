package kafka

import (
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/workertest"
)

// The broker's minimum session: the next member gets a dead member's partitions after it.
const crashSession = 6 * time.Second

// TestCrashConsumer is the consumer process that the SIGKILL test kills.
func TestCrashConsumer(t *testing.T) {
	if !workertest.CrashConsumer(t, func(t *testing.T) transport.Transport { return newTransport(t, Options{SessionTimeout: crashSession}) }) {
		return // it is only the child process of TestSIGKILLMidHandlerRedeliversToTheNextMember
	}
}

// A consumer killed with SIGKILL mid-handler committed nothing past the record: the next member of
// the group runs it again. Kafka keeps no delivery count, so it arrives with the attempt its
// header says (protocol/kafka.md): the cut-short delivery is not counted.
func TestSIGKILLMidHandlerRedeliversToTheNextMember(t *testing.T) {
	tr := newTransport(t, Options{SessionTimeout: crashSession})
	queue := brokertest.UniqueQueue("go-kafka-sigkill")
	workertest.KillMidHandler(t, tr, queue, []byte(`{"event":"crash","payload":{}}`))
	got := brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, brokertest.Ack)
	if r := brokertest.Next(t, got, 30*time.Second); r.Attempt != 1 || r.Body != `{"event":"crash","payload":{}}` {
		t.Fatalf("after the kill: %+v", r)
	}
}
