package workertest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

const crashQueueEnv = "THRUN_CRASH_CONSUMER_QUEUE"

// CrashConsumer, called first thing by a test named TestCrashConsumer, turns the test binary into a
// consumer of the queue its parent names: it prints "started" when a handler holds a delivery and
// never settles it, waiting to be killed. Without the parent's environment it returns false.
func CrashConsumer(t *testing.T, newTransport func(t *testing.T) transport.Transport) bool {
	queue := os.Getenv(crashQueueEnv)
	if queue == "" {
		return false
	}
	tr := newTransport(t)
	_, err := tr.Consume(context.Background(), queue, func(ctx context.Context, d transport.Delivery) error {
		os.Stdout.WriteString("started\n")
		select {} // held until SIGKILL
	}, transport.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {}
}

// KillMidHandler starts a consumer of queue in another process (the test binary running
// TestCrashConsumer), publishes body through tr, and SIGKILLs that process while its handler holds
// the message. Nothing was settled: the broker must give the message to the next consumer.
func KillMidHandler(t *testing.T, tr transport.Transport, queue string, body []byte) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashConsumer$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashQueueEnv+"="+queue)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if strings.TrimSpace(scanner.Text()) == "started" {
				close(started)
				return
			}
		}
	}()
	// Published after the child subscribed is not needed on transports whose new groups read
	// from the start; publishing right away works on every one.
	if err := tr.Publish(context.Background(), queue, []transport.Message{{Body: body}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the consumer process never started its handler")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}
