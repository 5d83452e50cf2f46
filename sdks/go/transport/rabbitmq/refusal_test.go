package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/brokertest"
)

// rabbitmqctl runs rabbitmqctl against the test node (scripts/brokers/rabbitmq.sh ctl).
func rabbitmqctl(t *testing.T, args ...string) error {
	t.Helper()
	_, err := rabbitmqctlOutput(t, args...)
	return err
}

// rabbitmqctlOutput is rabbitmqctl, with what it printed.
func rabbitmqctlOutput(t *testing.T, args ...string) (string, error) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "scripts", "brokers", "rabbitmq.sh")
	cmd := exec.Command("bash", append([]string{script, "ctl"}, args...)...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl %v: %w\n%s", args, err, out)
	}
	return string(out), nil
}

// The broker dropping a channel is told apart from the broker refusing, with the errors a real broker
// gives: Consume subscribes again after the first and fails at once on the second.
func TestADroppedChannelIsToldApartFromARefusal(t *testing.T) {
	url := brokerURL(t)
	queue := brokertest.UniqueQueue("go-rmq-dropped")
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	admin, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.QueueDelete(queue, false, false, false) })

	// Refused: the queue exists with other arguments (406 PRECONDITION_FAILED).
	refusing, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	_, refused := refusing.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	if refused == nil || isDroppedChannel(refused) {
		t.Fatalf("a redeclaration with other arguments: %v, counted as dropped: %v", refused, isDroppedChannel(refused))
	}

	// Dropped: the broker closes the connection under an open channel (320 CONNECTION_FORCED).
	name := "thrun-go-test-" + queue
	doomed, err := amqp.DialConfig(url, amqp.Config{Properties: amqp.Table{"connection_name": name}})
	if err != nil {
		t.Fatal(err)
	}
	channel, err := doomed.Channel()
	if err != nil {
		t.Fatal(err)
	}
	closed := doomed.NotifyClose(make(chan *amqp.Error, 1))
	out, err := rabbitmqctlOutput(t, "list_connections", "--no-table-headers", "--silent", "pid", "client_properties")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("cannot list the test node's connections: %v", err)
	}
	pid := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, name) {
			pid = strings.SplitN(line, "\t", 2)[0]
		}
	}
	if pid == "" {
		t.Fatalf("connection %s not listed:\n%s", name, out)
	}
	if err := rabbitmqctl(t, "close_connection", pid, "dropped by the test"); err != nil {
		t.Fatal(err)
	}
	<-closed
	_, dropped := channel.QueueDeclarePassive(queue, true, false, false, false, nil)
	if dropped == nil || !isDroppedChannel(dropped) {
		t.Fatalf("a channel whose connection the broker closed: %v, counted as dropped: %v", dropped, isDroppedChannel(dropped))
	}
}

// A dead letter the broker refuses (its queue is full and rejects publishes) leaves the delivery
// pending and unacked: the handler sees the error, and the message runs again here as the next
// attempt after a backoff, never as a loop of copies. Once the broker accepts, it is dead-lettered.
func TestARefusedSettlementRunsAgainAsTheNextAttempt(t *testing.T) {
	tr := newTransport(t, Options{})
	queue := brokertest.UniqueQueue("go-rmq-refused")
	policy := queue + "-full"
	if err := rabbitmqctl(t, "set_policy", "--apply-to", "queues", policy, "^"+queue+`\.dead$`, `{"max-length":0,"overflow":"reject-publish"}`); err != nil {
		// rabbitmqctl reaches the node of scripts/brokers/rabbitmq.sh (its THRUN_RABBITMQ_* settings).
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("cannot set a policy on the test node: %v", err)
	}
	cleared := false
	t.Cleanup(func() {
		if !cleared {
			_ = rabbitmqctl(t, "clear_policy", policy)
		}
	})
	type seen struct {
		attempt int
		err     error
		at      time.Time
	}
	runs := make(chan seen, 10)
	_ = brokertest.Collect(t, tr, queue, transport.ConsumeOptions{}, func(d transport.Delivery) error {
		err := d.DeadLetter(context.Background(), transport.DeadLetterReason{Code: "bad", Message: "bad"})
		if d.Attempt() == 2 {
			if err := rabbitmqctl(t, "clear_policy", policy); err != nil {
				t.Error(err)
			}
			cleared = true
		}
		runs <- seen{d.Attempt(), err, time.Now()}
		return nil
	})
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: []byte("refused")}}); err != nil {
		t.Fatal(err)
	}
	first, second, third := brokertest.Next(t, runs, 10*time.Second), brokertest.Next(t, runs, 10*time.Second), brokertest.Next(t, runs, 10*time.Second)
	if first.attempt != 1 || first.err == nil || second.attempt != 2 || second.err == nil || third.attempt != 3 || third.err != nil {
		t.Fatalf("runs %+v %+v %+v", first, second, third)
	}
	if gap := second.at.Sub(first.at); gap < 50*time.Millisecond {
		t.Fatalf("ran again after %s, without a backoff", gap)
	}
	brokertest.Nothing(t, runs, 300*time.Millisecond)
	dead, ok := rawGet(t, queue+".dead")
	if !ok || string(dead.Body) != "refused" || dead.Headers["thrun-dead-attempts"] != "3" {
		t.Fatalf("dead letter %q %v", dead.Body, dead.Headers)
	}
	if waiting := messageCount(t, queue); waiting != 0 {
		t.Fatalf("a refusal left %d copies behind", waiting)
	}
}

func messageCount(t *testing.T, queue string) int {
	t.Helper()
	conn, err := amqp.Dial(brokerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	state, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return state.Messages
}
