// Command conformance-worker is the Go runtime's worker under test for Thrun's behavioural
// conformance harness (protocol/conformance.md): it reads its settings from the THRUN_CONFORMANCE_*
// variables, handles the scenario events on the Go worker, writes the ready line once it consumes,
// and drains on SIGTERM.
//
//	npx thrun-conformance --transport redis --worker "go run ./cmd/conformance-worker"
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/kafka"
	"github.com/thrun-dev/thrun/sdks/go/transport/rabbitmq"
	"github.com/thrun-dev/thrun/sdks/go/transport/redis"
)

// readyLine tells the harness that a message published from now on reaches this worker.
const readyLine = "thrun-conformance ready"

// settings are the THRUN_CONFORMANCE_* variables (protocol/conformance.md §1).
type settings struct {
	transport, url, queue, replyQueue, group, workerID string
	concurrency, maxAttempts, maxPayloadBytes          int
	backoff, maxBackoff, drainTimeout, lease           time.Duration
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("conformance worker failed", "error", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	s, err := readSettings()
	if err != nil {
		return err
	}
	t, err := newTransport(s)
	if err != nil {
		return err
	}
	defer t.Close(context.Background())
	app, err := thrun.New(t, thrun.Options{
		Source:          "conformance-go",
		Queue:           s.queue,
		Group:           s.group,
		Concurrency:     s.concurrency,
		Retry:           &thrun.Retry{MaxAttempts: s.maxAttempts, Backoff: s.backoff, MaxBackoff: s.maxBackoff},
		DrainTimeout:    s.drainTimeout,
		MaxPayloadBytes: s.maxPayloadBytes,
		Logger:          logger,
		Ready:           func() { fmt.Println(readyLine) },
	})
	if err != nil {
		return err
	}
	listen(app, s.workerID, s.replyQueue)
	// Run returns after SIGTERM, once in-flight handlers finished and their deliveries are settled.
	return app.Run(context.Background())
}

// scenarioPayload holds the payload members the scenario events use; others are ignored.
type scenarioPayload struct {
	ID       any `json:"id"`
	Failures int `json:"failures"`
	MS       int `json:"ms"`
}

func listen(app *thrun.Thrun, workerID, replyQueue string) {
	// reply dispatches a reply to the reply queue and returns once the broker accepted it.
	reply := func(ctx context.Context, m *thrun.Message, event string, id any, extra map[string]any) error {
		payload := map[string]any{"id": id, "worker": workerID, "attempt": m.Attempt}
		for k, v := range extra {
			payload[k] = v
		}
		_, err := m.Dispatch(ctx, event, payload, thrun.WithQueue(replyQueue))
		return err
	}
	app.Listen("conformance.echo", func(ctx context.Context, m *thrun.Message) error {
		p, err := thrun.Decode[scenarioPayload](m)
		if err != nil {
			return err
		}
		received, err := receivedEnvelope(m.Body)
		if err != nil {
			return err
		}
		return reply(ctx, m, "conformance.echoed", p.ID, map[string]any{"received": received})
	})
	app.Listen("conformance.fail", func(ctx context.Context, m *thrun.Message) error {
		p, err := thrun.Decode[scenarioPayload](m)
		if err != nil {
			return err
		}
		failing := m.Attempt <= p.Failures
		outcome := "succeeded"
		if failing {
			outcome = "failed"
		}
		if err := reply(ctx, m, "conformance.attempted", p.ID, map[string]any{"outcome": outcome}); err != nil {
			return err
		}
		if failing {
			return fmt.Errorf("failing on purpose, attempt %d of %d failures", m.Attempt, p.Failures)
		}
		return nil
	})
	app.Listen("conformance.permanent", func(ctx context.Context, m *thrun.Message) error {
		p, err := thrun.Decode[scenarioPayload](m)
		if err != nil {
			return err
		}
		if err := reply(ctx, m, "conformance.attempted", p.ID, map[string]any{"outcome": "permanent"}); err != nil {
			return err
		}
		return thrun.Permanentf("failing permanently on purpose")
	})
	app.Listen("conformance.sleep", func(ctx context.Context, m *thrun.Message) error {
		p, err := thrun.Decode[scenarioPayload](m)
		if err != nil {
			return err
		}
		if err := reply(ctx, m, "conformance.started", p.ID, nil); err != nil {
			return err
		}
		// Not cut short by SIGTERM: the worker's drain lets this finish.
		time.Sleep(time.Duration(p.MS) * time.Millisecond)
		return reply(ctx, m, "conformance.slept", p.ID, nil)
	})
}

// receivedEnvelope is the envelope as delivered, every member kept (numbers as their JSON text):
// event, payload, and meta when the message had one.
func receivedEnvelope(body []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	var envelope map[string]any
	if err := decoder.Decode(&envelope); err != nil {
		return nil, err
	}
	received := map[string]any{"event": envelope["event"], "payload": envelope["payload"]}
	if meta, ok := envelope["meta"]; ok {
		received["meta"] = meta
	}
	return received, nil
}

func newTransport(s settings) (transport.Transport, error) {
	switch s.transport {
	case "redis", "redis-streams":
		mode := redis.ModeList
		if s.transport == "redis-streams" {
			mode = redis.ModeStream
		}
		return redis.New(redis.Options{URL: s.url, Mode: mode, VisibilityTimeout: s.lease})
	case "rabbitmq":
		return rabbitmq.New(rabbitmq.Options{URL: s.url, DrainTimeout: s.drainTimeout})
	case "kafka":
		return kafka.New(kafka.Options{Brokers: strings.Split(s.url, ","), SessionTimeout: s.lease, DrainTimeout: s.drainTimeout})
	}
	return nil, fmt.Errorf("THRUN_CONFORMANCE_TRANSPORT must be redis, redis-streams, rabbitmq or kafka, not %q", s.transport)
}

func readSettings() (settings, error) {
	var s settings
	var missing []string
	text := func(name string) string {
		value := os.Getenv("THRUN_CONFORMANCE_" + name)
		if value == "" {
			missing = append(missing, "THRUN_CONFORMANCE_"+name)
		}
		return value
	}
	integer := func(name string) int {
		value := text(name)
		n, err := strconv.Atoi(value)
		if value != "" && (err != nil || n < 0) {
			missing = append(missing, "THRUN_CONFORMANCE_"+name+" (a non-negative integer)")
		}
		return n
	}
	ms := func(name string) time.Duration { return time.Duration(integer(name)) * time.Millisecond }
	s = settings{
		transport: text("TRANSPORT"), url: text("URL"), queue: text("QUEUE"), replyQueue: text("REPLY_QUEUE"),
		group: text("GROUP"), workerID: text("WORKER_ID"),
		concurrency: integer("CONCURRENCY"), maxAttempts: integer("MAX_ATTEMPTS"), maxPayloadBytes: integer("MAX_PAYLOAD_BYTES"),
		backoff: ms("BACKOFF_MS"), maxBackoff: ms("MAX_BACKOFF_MS"), drainTimeout: ms("DRAIN_TIMEOUT_MS"), lease: ms("LEASE_MS"),
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("missing or invalid: %s", strings.Join(missing, ", "))
	}
	return s, nil
}
