// Package crossruntime proves that the Go runtime and the TypeScript one share queues on Redis,
// both ways: internal/tspeer runs the repository's built TypeScript packages.
package crossruntime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	"github.com/thrun-dev/thrun/sdks/go/internal/tspeer"
	"github.com/thrun-dev/thrun/sdks/go/transport/redis"
)

func redisURL() string {
	if url := os.Getenv("THRUN_REDIS_URL"); url != "" {
		return url
	}
	return "redis://127.0.0.1:6390"
}

// requireRedis fails (never skips) when Redis is not reachable.
func requireRedis(t *testing.T) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opts)
	if err := raw.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis is not reachable at %s: %v", opts.Addr, err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

func testQueue(t *testing.T, raw *goredis.Client) string {
	q := "go-cross-" + uuid.NewString()[:8]
	t.Cleanup(func() {
		ctx := context.Background()
		for _, pattern := range []string{q, q + ".dead", "{" + q + "}:*"} {
			if keys, _ := raw.Keys(ctx, pattern).Result(); len(keys) > 0 {
				raw.Del(ctx, keys...)
			}
		}
	})
	return q
}

// peerKind is the TypeScript peer's name of a Redis mode.
func peerKind(mode redis.Mode) string {
	if mode == redis.ModeStream {
		return tspeer.RedisStreams
	}
	return tspeer.RedisLists
}

func goClient(t *testing.T, mode redis.Mode, queue string, retry *thrun.Retry, routes ...thrun.Route) *thrun.Thrun {
	t.Helper()
	tr, err := redis.New(redis.Options{URL: redisURL(), Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return newClient(t, tr, queue, retry, routes...)
}

func goClientOn(t *testing.T, tr *redis.Transport, queue string) *thrun.Thrun {
	return newClient(t, tr, queue, nil)
}

func newClient(t *testing.T, tr *redis.Transport, queue string, retry *thrun.Retry, routes ...thrun.Route) *thrun.Thrun {
	t.Helper()
	off := false
	c, err := thrun.New(tr, thrun.Options{Queue: queue, Routes: routes, HandleSignals: &off, Retry: retry, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c *thrun.Thrun) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

var modes = []redis.Mode{redis.ModeList, redis.ModeStream}

type order struct {
	OrderID int `json:"order_id"`
}

// TypeScript dispatches; a Go worker handles it with payload and meta intact, retrying a failure
// with attempts counted on the shared keys.
func TestTypeScriptProducesGoConsumes(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := requireRedis(t)
			q := testQueue(t, raw)
			c := goClient(t, mode, q, &thrun.Retry{MaxAttempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			type seen struct {
				msg   *thrun.Message
				order order
			}
			got := make(chan seen, 10)
			_ = c.Listen("order.created", func(_ context.Context, m *thrun.Message) error {
				if m.Attempt == 1 {
					return errors.New("first attempt fails")
				}
				o, err := thrun.Decode[order](m)
				got <- seen{m, o}
				return err
			})
			run(t, c)
			if mode == redis.ModeStream {
				time.Sleep(100 * time.Millisecond) // the group exists before TypeScript publishes
			}
			p := tspeer.Start(t, peerKind(mode), "dispatch", q, "order.created", `{"order_id":42}`, "1")
			var produced struct {
				EventID string `json:"event_id"`
			}
			p.Next(t, &produced)
			p.Wait(t)
			var s seen
			select {
			case s = <-got:
			case <-time.After(15 * time.Second):
				t.Fatal("the Go worker did not handle the TypeScript event")
			}
			meta := s.msg.Envelope.Meta
			if s.order.OrderID != 42 || meta == nil || meta.EventID != produced.EventID || meta.Source != "node" || s.msg.Attempt != 2 {
				t.Fatalf("handled %+v attempt %d meta %+v", s.order, s.msg.Attempt, meta)
			}
		})
	}
}

// Go dispatches; a TypeScript worker handles it, its retry counting from the Go-written message.
func TestGoProducesTypeScriptConsumes(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := requireRedis(t)
			q := testQueue(t, raw)
			p := tspeer.Start(t, peerKind(mode), "handle", q, "order.created", "2", "1")
			var ready map[string]any
			p.Next(t, &ready)
			c := goClient(t, mode, q, nil)
			ids, err := c.DispatchMany(context.Background(), []thrun.Event{
				{Name: "order.created", Payload: order{OrderID: 1}},
				{Name: "order.created", Payload: order{OrderID: 2}},
			})
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]int{}
			for range 2 {
				var line struct {
					Payload order      `json:"payload"`
					Meta    thrun.Meta `json:"meta"`
					Attempt int        `json:"attempt"`
				}
				p.Next(t, &line)
				if line.Meta.Source != "go" || line.Attempt != 2 || line.Meta.SpecVersion != thrun.SpecVersion {
					t.Fatalf("TypeScript saw %+v", line)
				}
				byID[line.Meta.EventID] = line.Payload.OrderID
			}
			if byID[ids[0]] != 1 || byID[ids[1]] != 2 {
				t.Fatalf("event ids %v, handled %v", ids, byID)
			}
			p.Wait(t)
		})
	}
}

// A Go worker's dead letters are read by TypeScript's decodeDeadLetter, original bytes intact.
func TestGoDeadLettersReadByTypeScript(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			raw := requireRedis(t)
			q := testQueue(t, raw)
			c := goClient(t, mode, q, &thrun.Retry{MaxAttempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			_ = c.Listen("doomed", func(context.Context, *thrun.Message) error { return errors.New("always") })
			run(t, c)
			id, err := c.Dispatch(context.Background(), "doomed", map[string]string{"why": "test"})
			if err != nil {
				t.Fatal(err)
			}
			deadKey := q + ".dead"
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				n, _ := raw.Exists(context.Background(), deadKey).Result()
				if n == 1 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			letters := tspeer.DeadLetters(t, peerKind(mode), q, 1)
			if len(letters) != 1 {
				t.Fatalf("TypeScript read %d dead letters", len(letters))
			}
			letter := letters[0]
			if letter.Queue != q || letter.Attempts != 2 || letter.Form != "frame" || letter.Error.Code != "max_attempts" || !strings.Contains(letter.OriginalBody, id) {
				t.Fatalf("TypeScript read %+v", letter)
			}
		})
	}
}

// A batch created by TypeScript is executed by a Go worker step by step; the TypeScript batch
// engine records the Go worker's reports and fires then/catch and finally exactly once.
func TestGoWorkerRunsTypeScriptBatchSteps(t *testing.T) {
	cases := []struct {
		name, steps string
		ran         []string
		ending      string
	}{
		{"succeeds", "step.payment,step.order,step.email", []string{"step.payment", "step.order", "step.email"}, "order.success"},
		{"fails", "step.payment,step.refund,step.email", []string{"step.payment", "step.refund"}, "order.failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := requireRedis(t)
			q := testQueue(t, raw)
			stepsQueue := testQueue(t, raw)
			worker := goClient(t, redis.ModeList, q, &thrun.Retry{MaxAttempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
				thrun.Route{Pattern: "step.*", Queue: stepsQueue})
			ran := make(chan string, 10)
			_ = worker.Listen("step.*", func(_ context.Context, m *thrun.Message) error {
				if m.Envelope.Meta == nil || m.Envelope.Meta.Batch == nil {
					return thrun.Permanentf("not a batch step")
				}
				ran <- m.Envelope.Event
				if m.Envelope.Event == "step.refund" {
					return thrun.Permanentf("card declined")
				}
				return nil
			})
			// The Go worker consumes only the steps queue; its reports go to q, where TypeScript listens.
			run(t, worker)
			p := tspeer.Start(t, tspeer.RedisLists, "batch", q, stepsQueue, c.steps)
			var created struct {
				BatchID string `json:"batch_id"`
			}
			counts := map[string]int{}
			var progress []int
			for {
				var line struct {
					BatchID string         `json:"batch_id"`
					Event   string         `json:"event"`
					Payload map[string]any `json:"payload"`
				}
				select {
				case text, ok := <-p.Lines:
					if !ok {
						goto done
					}
					if err := json.Unmarshal([]byte(text), &line); err != nil {
						t.Fatalf("peer line %q", text)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the batch did not finish within 30s")
				}
				if line.Event == "" {
					created.BatchID = line.BatchID
					continue
				}
				if id, _ := line.Payload["batch_id"].(string); id != created.BatchID {
					t.Fatalf("lifecycle event of another batch: %+v", line)
				}
				counts[line.Event]++
				if line.Event == "order.progress" {
					completed, _ := line.Payload["completed"].(float64)
					progress = append(progress, int(completed))
				}
			}
		done:
			close(ran)
			var order []string
			for e := range ran {
				order = append(order, e)
			}
			if strings.Join(order, ",") != strings.Join(c.ran, ",") {
				t.Fatalf("Go ran %v, want %v", order, c.ran)
			}
			if counts[c.ending] != 1 || counts["order.finished"] != 1 || counts["order.success"]+counts["order.failed"] != 1 {
				t.Fatalf("lifecycle events %v, want one %s and one order.finished", counts, c.ending)
			}
			t.Logf("lifecycle %v, progress %v", counts, progress)
		})
	}
}

// TestMain lets the test binary run as a worker process of its own (for the SIGKILL test).
func TestMain(m *testing.M) {
	if queue := os.Getenv("THRUN_TEST_HANGING_WORKER"); queue != "" {
		hangingWorker(queue)
		return
	}
	os.Exit(m.Run())
}

// hangingWorker takes the queue's messages and never finishes them, printing "took <attempt>".
func hangingWorker(queue string) {
	tr, err := redis.New(redis.Options{URL: redisURL(), VisibilityTimeout: 500 * time.Millisecond})
	if err != nil {
		os.Exit(2)
	}
	c, err := thrun.New(tr, thrun.Options{Queue: queue, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		os.Exit(2)
	}
	_ = c.Listen("slow", func(ctx context.Context, m *thrun.Message) error {
		os.Stdout.WriteString("took " + strconv.Itoa(m.Attempt) + "\n")
		<-ctx.Done()
		return ctx.Err()
	})
	_ = c.Run(context.Background())
}

// A worker killed with SIGKILL mid-job loses nothing: the message comes back to another worker
// after the lease, as attempt 2.
func TestSIGKILLMidJobRedelivers(t *testing.T) {
	raw := requireRedis(t)
	q := testQueue(t, raw)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), "THRUN_TEST_HANGING_WORKER="+q)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	producer := goClient(t, redis.ModeList, q, nil)
	time.Sleep(300 * time.Millisecond) // the worker process subscribes
	if _, err := producer.Dispatch(context.Background(), "slow", nil); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "took 1\n" {
		t.Fatalf("worker process said %q (%v)", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	tr, err := redis.New(redis.Options{URL: redisURL(), VisibilityTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	off := false
	second, _ := thrun.New(tr, thrun.Options{Queue: q, HandleSignals: &off, Logger: slog.New(slog.DiscardHandler)})
	attempts := make(chan int, 1)
	_ = second.Listen("slow", func(_ context.Context, m *thrun.Message) error { attempts <- m.Attempt; return nil })
	run(t, second)
	select {
	case attempt := <-attempts:
		if attempt != 2 {
			t.Fatalf("redelivered as attempt %d, want 2", attempt)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the killed worker's message never came back")
	}
}
