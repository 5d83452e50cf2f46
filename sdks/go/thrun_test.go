package thrun

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/memory"
)

var fastRetry = &Retry{MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Jitter: true}

func newClient(t *testing.T, tr transport.Transport, opts Options) *Thrun {
	t.Helper()
	off := false
	opts.HandleSignals = &off
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retry == nil {
		opts.Retry = fastRetry
	}
	c, err := New(tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runWorker runs c.Run until the test ends; it returns a stop function that waits for Run to return.
func runWorker(t *testing.T, c *Thrun) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	time.Sleep(20 * time.Millisecond) // let the consumers subscribe
	return stop
}

func waitFor[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out")
		var zero T
		return zero
	}
}

// deadLetters waits until the queue's dead queue holds n messages and returns them.
func deadLetters(t *testing.T, tr *memory.Transport, queue string, n int) []transport.QueuedMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := tr.Peek(context.Background(), transport.DeadLetterQueueName(queue), 100)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters in %s.dead, want %d", len(got), queue, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type order struct {
	OrderID int `json:"order_id"`
}

func TestDispatchFillsMetaAndListenerDecodes(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{Source: "billing"})
	got := make(chan *Message, 1)
	_ = c.Listen("order_created", func(_ context.Context, m *Message) error { got <- m; return nil })
	runWorker(t, c)
	id, err := c.Dispatch(context.Background(), "order_created", order{OrderID: 123})
	if err != nil {
		t.Fatal(err)
	}
	m := waitFor(t, got)
	if m.Envelope.Meta == nil || m.Envelope.Meta.EventID != id || m.Envelope.Meta.Source != "billing" || m.Attempt != 1 || m.Queue != "events" {
		t.Fatalf("unexpected message %+v meta %+v", m, m.Envelope.Meta)
	}
	if _, err := time.Parse(time.RFC3339, m.Envelope.Meta.Timestamp); err != nil || !strings.HasSuffix(m.Envelope.Meta.Timestamp, "Z") {
		t.Fatalf("timestamp %q", m.Envelope.Meta.Timestamp)
	}
	o, err := Decode[order](m)
	if err != nil || o.OrderID != 123 {
		t.Fatalf("Decode = %+v, %v", o, err)
	}
	if _, err := Decode[[]int](m); !IsPermanent(err) {
		t.Fatalf("a payload that does not fit is permanent, got %v", err)
	}
}

func TestDispatchRefusesInvalidEvents(t *testing.T) {
	c := newClient(t, memory.New(), Options{})
	ctx := context.Background()
	var codecErr *CodecError
	if _, err := c.Dispatch(ctx, "Order Created", nil); !errors.As(err, &codecErr) || codecErr.Code != "invalid_event_name" {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Dispatch(ctx, "a", []int{1}); !errors.As(err, &codecErr) || codecErr.Code != "invalid_payload" {
		t.Fatalf("got %v", err)
	}
}

func TestWildcardListenersAndRoutes(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{Routes: []Route{{Pattern: "billing.#", Queue: "billing"}}})
	seen := make(chan string, 10)
	record := func(label string) HandlerFunc {
		return func(_ context.Context, m *Message) error {
			seen <- label + ":" + m.Envelope.Event + "@" + m.Queue
			return nil
		}
	}
	_ = c.Listen("order.*", record("star"))
	_ = c.Listen("billing.#", record("hash"))
	runWorker(t, c)
	ctx := context.Background()
	if _, err := c.DispatchMany(ctx, []Event{{Name: "order.paid"}, {Name: "billing.invoice.paid"}, {Name: "billing"}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 3 {
		got[waitFor(t, seen)] = true
	}
	for _, want := range []string{"star:order.paid@events", "hash:billing.invoice.paid@billing", "hash:billing@billing"} {
		if !got[want] {
			t.Fatalf("missing %s in %v", want, got)
		}
	}
	if c.QueueFor("order.paid") != "events" || c.QueueFor("billing.x") != "billing" {
		t.Fatal("routes")
	}
}

func TestRetriesCountAttemptsThenDeadLetter(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	attempts := make(chan int, 10)
	_ = c.Listen("flaky", func(_ context.Context, m *Message) error {
		attempts <- m.Attempt
		return errors.New("boom")
	})
	runWorker(t, c)
	if _, err := c.Dispatch(context.Background(), "flaky", nil); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 3; want++ {
		if got := waitFor(t, attempts); got != want {
			t.Fatalf("attempt %d, want %d", got, want)
		}
	}
	dead := deadLetters(t, tr, "events", 1)[0]
	if dead.Headers[transport.HeaderDeadErrorCode] != "max_attempts" || dead.Headers[transport.HeaderDeadAttempts] != "3" || dead.Headers[transport.HeaderDeadQueue] != "events" {
		t.Fatalf("dead letter headers %v", dead.Headers)
	}
	if !strings.Contains(dead.Headers[transport.HeaderDeadErrorMessage], "failed on attempt 3 of 3: boom") {
		t.Fatalf("message %q", dead.Headers[transport.HeaderDeadErrorMessage])
	}
	var envelope Envelope
	if err := json.Unmarshal(dead.Body, &envelope); err != nil || envelope.Event != "flaky" {
		t.Fatalf("dead letter body %q", dead.Body)
	}
}

func TestRetrySucceeds(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	done := make(chan int, 1)
	_ = c.Listen("flaky", func(_ context.Context, m *Message) error {
		if m.Attempt < 2 {
			return errors.New("not yet")
		}
		done <- m.Attempt
		return nil
	})
	runWorker(t, c)
	_, _ = c.Dispatch(context.Background(), "flaky", nil)
	if got := waitFor(t, done); got != 2 {
		t.Fatalf("succeeded on attempt %d", got)
	}
}

func TestPermanentErrorGoesStraightToTheDeadQueue(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	calls := 0
	_ = c.Listen("doomed", func(context.Context, *Message) error { calls++; return Permanentf("order %d does not exist", 7) })
	runWorker(t, c)
	_, _ = c.Dispatch(context.Background(), "doomed", nil)
	dead := deadLetters(t, tr, "events", 1)[0]
	if dead.Headers[transport.HeaderDeadErrorCode] != "non_retryable" || dead.Headers[transport.HeaderDeadAttempts] != "1" || dead.Headers[transport.HeaderDeadErrorMessage] != "order 7 does not exist" || calls != 1 {
		t.Fatalf("dead letter %v after %d calls", dead.Headers, calls)
	}
}

func TestBadInputIsDeadLetteredAndTheNextMessageHandled(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	handled := make(chan string, 1)
	_ = c.Listen("good", func(_ context.Context, m *Message) error { handled <- m.Envelope.Event; return nil })
	runWorker(t, c)
	ctx := context.Background()
	bad := [][]byte{[]byte("{not json"), []byte(`{"event":"good","payload":{},"payload":{}}`), []byte(`{"event":"good"}`), {0xff}}
	for _, b := range bad {
		_ = tr.Publish(ctx, "events", []transport.Message{{Body: b}})
	}
	_, _ = c.Dispatch(ctx, "good", nil)
	waitFor(t, handled)
	dead := deadLetters(t, tr, "events", len(bad))
	want := map[string]string{string(bad[0]): "invalid_json", string(bad[1]): "duplicate_key", string(bad[2]): "schema_violation", string(bad[3]): "invalid_utf8"}
	for _, d := range dead {
		if code, ok := want[string(d.Body)]; !ok || d.Headers[transport.HeaderDeadErrorCode] != code {
			t.Fatalf("dead letter %v %q", d.Headers, d.Body)
		}
		delete(want, string(d.Body))
	}
}

func TestUnknownEventPolicies(t *testing.T) {
	ctx := context.Background()
	tr := memory.New()
	c := newClient(t, tr, Options{})
	_ = c.Listen("known", func(context.Context, *Message) error { return nil })
	runWorker(t, c)
	_, _ = c.Dispatch(ctx, "unknown", nil)
	if code := deadLetters(t, tr, "events", 1)[0].Headers[transport.HeaderDeadErrorCode]; code != "unknown_event" {
		t.Fatalf("default policy dead-letters with unknown_event, got %s", code)
	}

	tr2 := memory.New()
	c2 := newClient(t, tr2, Options{UnknownEvents: UnknownEventsDrop})
	handled := make(chan struct{}, 1)
	_ = c2.Listen("known", func(context.Context, *Message) error { handled <- struct{}{}; return nil })
	runWorker(t, c2)
	_, _ = c2.DispatchMany(ctx, []Event{{Name: "unknown"}, {Name: "known"}})
	waitFor(t, handled)
	if left, _ := tr2.Peek(ctx, "events.dead", 10); len(left) != 0 {
		t.Fatalf("drop dead-lettered %d", len(left))
	}
}

func TestStopDrainsInFlightHandlers(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	started, finished := make(chan struct{}), make(chan struct{}, 1)
	_ = c.Listen("slow", func(ctx context.Context, _ *Message) error {
		close(started)
		select {
		case <-time.After(200 * time.Millisecond):
			finished <- struct{}{}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	stop := runWorker(t, c)
	_, _ = c.Dispatch(context.Background(), "slow", nil)
	waitFor(t, started)
	stop()
	select {
	case <-finished:
	default:
		t.Fatal("Run returned before the in-flight handler finished")
	}
	if left, _ := tr.Peek(context.Background(), "events", 10); len(left) != 0 {
		t.Fatal("a handled message was left in the queue")
	}
}

func TestDrainDeadlineReleasesTheMessage(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{DrainTimeout: 50 * time.Millisecond})
	started := make(chan struct{})
	_ = c.Listen("stuck", func(ctx context.Context, _ *Message) error {
		close(started)
		<-ctx.Done() // cancelled at the drain deadline
		return ctx.Err()
	})
	stop := runWorker(t, c)
	_, _ = c.Dispatch(context.Background(), "stuck", nil)
	waitFor(t, started)
	begun := time.Now()
	stop()
	if elapsed := time.Since(begun); elapsed > time.Second {
		t.Fatalf("stop took %s past a 50ms drain deadline", elapsed)
	}
	time.Sleep(10 * time.Millisecond)
	if left, _ := tr.Peek(context.Background(), "events", 10); len(left) != 1 {
		t.Fatalf("want the message released back to the queue, found %d", len(left))
	}
}

func TestDelayedDispatch(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	got := make(chan time.Time, 1)
	_ = c.Listen("later", func(context.Context, *Message) error { got <- time.Now(); return nil })
	runWorker(t, c)
	sent := time.Now()
	_, _ = c.Dispatch(context.Background(), "later", nil, WithDelay(150*time.Millisecond))
	if at := waitFor(t, got); at.Sub(sent) < 150*time.Millisecond {
		t.Fatalf("delivered after %s", at.Sub(sent))
	}
}

func TestCausationFromAHandler(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	first := make(chan string, 1)
	second := make(chan *Message, 1)
	_ = c.Listen("first", func(ctx context.Context, m *Message) error {
		first <- m.Envelope.Meta.EventID
		_, err := m.Dispatch(ctx, "second", nil)
		return err
	})
	_ = c.Listen("second", func(_ context.Context, m *Message) error { second <- m; return nil })
	runWorker(t, c)
	_, _ = c.Dispatch(context.Background(), "first", nil)
	id := waitFor(t, first)
	m := waitFor(t, second)
	if m.Envelope.Meta.CausationID != id || m.Envelope.Meta.CorrelationID != id {
		t.Fatalf("meta %+v, want causation and correlation %s", m.Envelope.Meta, id)
	}
}

func TestRetryDelayMatchesTypeScript(t *testing.T) {
	r := Retry{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Minute, Jitter: true}
	lowest := func() float64 { return 0 }
	highest := func() float64 { return 1 }
	cases := []struct {
		attempt   int
		low, high time.Duration
	}{{1, time.Second, 2 * time.Second}, {3, 4 * time.Second, 8 * time.Second}, {7, time.Minute, time.Minute}}
	for _, c := range cases {
		if got := r.retryDelay(c.attempt, lowest); got != c.low {
			t.Errorf("attempt %d lowest: %s, want %s", c.attempt, got, c.low)
		}
		if got := r.retryDelay(c.attempt, highest); got != c.high {
			t.Errorf("attempt %d highest: %s, want %s", c.attempt, got, c.high)
		}
	}
	r.Jitter = false
	if got := r.RetryDelay(2); got != 2*time.Second {
		t.Errorf("no jitter: %s", got)
	}
}

func TestMatchEventPattern(t *testing.T) {
	cases := []struct {
		pattern, name string
		match         bool
	}{
		{"order.*", "order.paid", true}, {"order.*", "order", false}, {"order.*", "order.a.b", false},
		{"order.#", "order", true}, {"order.#", "order.a.b", true}, {"#", "anything.at.all", true},
		{"*.paid", "order.paid", true}, {"a.#.z", "a.z", true}, {"a.#.z", "a.b.c.z", true}, {"a.#.z", "a.b", false},
		{"order_created", "order_created", true}, {"order_created", "order_updated", false},
	}
	for _, c := range cases {
		if got := MatchEventPattern(c.pattern, c.name); got != c.match {
			t.Errorf("MatchEventPattern(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
	if IsEventPattern("order.**") || IsEventPattern("") || !IsEventPattern("a.*.#") {
		t.Error("IsEventPattern")
	}
}

func TestBatchStepsAreReported(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{Routes: []Route{{Pattern: "step.*", Queue: "steps"}}})
	_ = c.Listen("step.ok", func(context.Context, *Message) error { return nil })
	_ = c.Listen("step.bad", func(context.Context, *Message) error { return Permanentf("declined") })
	runWorker(t, c)
	ctx := context.Background()
	batchID := "0b7c6f1e-3c2a-4f7e-9d1a-2b3c4d5e6f70"
	// Both steps name the engine's report queue, as a Thrun engine that accepts reports does.
	for i, name := range []string{"step.ok", "step.bad"} {
		body := []byte(`{"event":"` + name + `","payload":{},"meta":{"event_id":"0b7c6f1e-3c2a-4f7e-9d1a-2b3c4d5e6f7` + string(rune('1'+i)) + `","timestamp":"2026-01-01T00:00:00Z","source":"node","batch":{"id":"` + batchID + `","index":` + string(rune('0'+i)) + `,"total":2,"mode":"parallel","report_to":"batch-reports"}}}`)
		if err := tr.Publish(ctx, "steps", []transport.Message{{Body: body}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	var reports []transport.QueuedMessage
	for len(reports) < 2 && time.Now().Before(deadline) {
		reports, _ = tr.Peek(ctx, "batch-reports", 10)
		time.Sleep(5 * time.Millisecond)
	}
	got := map[string]string{}
	for _, r := range reports {
		var e struct {
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		_ = json.Unmarshal(r.Body, &e)
		got[e.Event] = string(e.Payload)
	}
	if got[StepSucceededEvent] != `{"batch_id":"`+batchID+`","index":0}` || got[StepFailedEvent] != `{"batch_id":"`+batchID+`","index":1,"error":{"code":"non_retryable","message":"declined"}}` {
		t.Fatalf("reports %v", got)
	}
	if dead := deadLetters(t, tr, "steps", 1); len(dead) != 1 {
		t.Fatal("the failed step is dead-lettered too")
	}
}

func TestSIGTERMDrainsAndStops(t *testing.T) {
	tr := memory.New()
	on := true
	c, err := New(tr, Options{HandleSignals: &on, Logger: slog.New(slog.DiscardHandler), Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	started, finished := make(chan struct{}), make(chan struct{}, 1)
	_ = c.Listen("slow", func(context.Context, *Message) error {
		close(started)
		time.Sleep(200 * time.Millisecond)
		finished <- struct{}{}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	_, _ = c.Dispatch(context.Background(), "slow", nil)
	waitFor(t, started) // Run has registered its signal handler by now
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("Run returned before the handler finished")
	}
	if left, _ := tr.Peek(context.Background(), "events", 10); len(left) != 0 {
		t.Fatal("the handled message is still queued")
	}
}

func TestRetryRunsOnlyTheListenersThatFailed(t *testing.T) {
	tr := memory.New()
	c := newClient(t, tr, Options{})
	var mu sync.Mutex
	calls := map[string]int{}
	done := make(chan struct{}, 1)
	_ = c.Listen("order.paid", func(context.Context, *Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls["steady"]++
		return nil
	})
	_ = c.Listen("order.*", func(_ context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls["flaky"]++
		if m.Attempt == 1 {
			return errors.New("once")
		}
		done <- struct{}{}
		return nil
	})
	runWorker(t, c)
	_, _ = c.Dispatch(context.Background(), "order.paid", nil)
	waitFor(t, done)
	mu.Lock()
	defer mu.Unlock()
	if calls["steady"] != 1 || calls["flaky"] != 2 {
		t.Fatalf("calls %v: the listener that succeeded ran again", calls)
	}
}

func TestMaxPayloadBytesLimitsConsumedMessagesAndReadyIsCalled(t *testing.T) {
	tr := memory.New()
	ready := make(chan struct{})
	c := newClient(t, tr, Options{MaxPayloadBytes: 100, Ready: func() { close(ready) }})
	handled := make(chan string, 1)
	_ = c.Listen("good", func(_ context.Context, m *Message) error { handled <- string(m.Body); return nil })
	runWorker(t, c)
	waitFor(t, ready)
	ctx := context.Background()
	within := []byte(`{"event":"good","payload":{"filler":"` + strings.Repeat("x", 100-40) + `"}}`)
	if len(within) != 100 {
		t.Fatalf("within-limit body has %d bytes", len(within))
	}
	oversized := []byte(`{"event":"good","payload":{"filler":"` + strings.Repeat("x", 101-40) + `"}}`)
	_ = tr.Publish(ctx, "events", []transport.Message{{Body: oversized}, {Body: within}})
	if got := waitFor(t, handled); got != string(within) {
		t.Fatalf("handled %q", got)
	}
	dead := deadLetters(t, tr, "events", 1)
	if string(dead[0].Body) != string(oversized) || dead[0].Headers[transport.HeaderDeadErrorCode] != "payload_too_large" {
		t.Fatalf("dead letter %v %q", dead[0].Headers, dead[0].Body)
	}
}
