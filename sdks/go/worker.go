package thrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// Run consumes every queue the listeners' events are routed to until ctx is cancelled (or, unless
// Options.HandleSignals is false, SIGTERM or SIGINT arrives). Then it stops fetching, lets in-flight
// handlers finish for up to Options.DrainTimeout, cancels the contexts of those still running, and
// returns once the transport released what was left unsettled (redelivered later, as a new attempt).
// It returns nil after a stop, or the error that prevented consuming.
//
// Delivery is at-least-once: a handler may see a message again after a crash or a lost settlement.
func (t *Thrun) Run(ctx context.Context) error {
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return errors.New("[thrun:go] Run is already running")
	}
	t.running = true
	t.mu.Unlock()
	defer func() { t.mu.Lock(); t.running = false; t.mu.Unlock() }()

	queues := t.listenedQueues()
	if len(queues) == 0 {
		return errors.New("[thrun:go] Run needs at least one listener")
	}
	stop := ctx
	if t.opts.HandleSignals == nil || *t.opts.HandleSignals {
		var cancel context.CancelFunc
		stop, cancel = signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer cancel()
	}
	// Handlers outlive the stop signal until the drain deadline.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	w := &worker{thrun: t, handlerCtx: handlerCtx, logger: t.opts.Logger.With("component", "thrun")}

	var subscriptions []transport.Subscription
	closeAll := func(drain context.Context) {
		var wg sync.WaitGroup
		for _, s := range subscriptions {
			wg.Go(func() { _ = s.Close(drain) })
		}
		wg.Wait()
	}
	for _, queue := range queues {
		s, err := t.transport.Consume(context.WithoutCancel(ctx), queue, w.handle, transport.ConsumeOptions{Group: t.opts.Group, Concurrency: t.opts.Concurrency})
		if err != nil {
			w.stopping.Store(true)
			closeAll(context.Background())
			return fmt.Errorf("[thrun:go] cannot consume %s: %w", queue, err)
		}
		subscriptions = append(subscriptions, s)
	}
	if t.opts.Ready != nil {
		t.opts.Ready()
	}
	<-stop.Done()
	w.stopping.Store(true)
	drain, cancelDrain := context.WithTimeout(context.Background(), t.opts.DrainTimeout)
	defer cancelDrain()
	go func() { <-drain.Done(); cancelHandlers() }()
	closeAll(drain)
	return nil
}

type worker struct {
	thrun      *Thrun
	handlerCtx context.Context
	logger     *slog.Logger
	stopping   atomic.Bool

	// succeeded remembers, per event (queue and event_id), the listeners that already succeeded,
	// so that a retry runs only those that failed (bounded: the oldest entry goes first).
	mu        sync.Mutex
	succeeded map[string]map[*listener]bool
	order     []string
}

const maxRememberedEvents = 10_000

func memoryKey(m *Message) string {
	if m.Envelope.Meta == nil || m.Envelope.Meta.EventID == "" {
		return ""
	}
	return m.Queue + "\x00" + m.Envelope.Meta.EventID
}

func (w *worker) alreadySucceeded(key string, l *listener) bool {
	if key == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.succeeded[key][l]
}

func (w *worker) remember(key string, listeners []*listener) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.succeeded == nil {
		w.succeeded = map[string]map[*listener]bool{}
	}
	set, ok := w.succeeded[key]
	if !ok {
		if len(w.order) >= maxRememberedEvents {
			delete(w.succeeded, w.order[0])
			w.order = w.order[1:]
		}
		set = map[*listener]bool{}
		w.succeeded[key] = set
		w.order = append(w.order, key)
	}
	for _, l := range listeners {
		set[l] = true
	}
}

func (w *worker) forget(m *Message) {
	key := memoryKey(m)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.succeeded[key]; ok {
		delete(w.succeeded, key)
		for i, k := range w.order {
			if k == key {
				w.order = append(w.order[:i], w.order[i+1:]...)
				break
			}
		}
	}
}

// handle runs one delivery through its listeners and settles it; it never returns an error for a
// message's fault: every outcome is an explicit settlement.
func (w *worker) handle(_ context.Context, d transport.Delivery) error {
	t := w.thrun
	queue, attempt := d.Queue(), d.Attempt()
	envelope, err := t.decodeEnvelope(d.Body())
	if err != nil {
		reason := transport.DeadLetterReason{Code: "invalid_message", Message: err.Error()}
		var codecErr *CodecError
		if errors.As(err, &codecErr) {
			reason = transport.DeadLetterReason{Code: codecErr.Code, Message: "[thrun:go] " + codecErr.Message}
		}
		w.logger.Warn("dead-lettering an undecodable message", "queue", queue, "reason", reason.Code)
		return w.settle(d, "dead-letter", func(ctx context.Context) error { return d.DeadLetter(ctx, reason) })
	}
	listeners := t.listenersFor(envelope.Event)
	if len(listeners) == 0 {
		return w.unknownEvent(d, envelope)
	}
	if attempt > t.retry.MaxAttempts {
		return w.deadLetter(d, envelope, transport.DeadLetterReason{
			Code:    "max_attempts",
			Message: fmt.Sprintf("delivered as attempt %d, past maxAttempts (%d); not run again", attempt, t.retry.MaxAttempts),
		})
	}
	message := &Message{Envelope: envelope, Body: d.Body(), Queue: queue, Attempt: attempt, Key: d.Key(), thrun: t}
	failures := w.runListeners(listeners, message)
	if len(failures) > 0 && w.handlerCtx.Err() != nil {
		return nil // stopped mid-work: left unsettled, the transport releases it
	}
	if len(failures) == 0 {
		if !w.reportStep(d, envelope, nil) {
			return nil
		}
		w.forget(message)
		return w.settle(d, "ack", d.Ack)
	}
	if attempt >= t.retry.MaxAttempts || hasPermanent(failures) {
		w.forget(message)
	}
	joined := errors.Join(failures...)
	for _, failure := range failures {
		if IsPermanent(failure) {
			return w.failStep(d, envelope, transport.DeadLetterReason{Code: errorCode(failure), Message: failure.Error()})
		}
	}
	if attempt >= t.retry.MaxAttempts {
		return w.failStep(d, envelope, transport.DeadLetterReason{
			Code:    "max_attempts",
			Message: fmt.Sprintf("failed on attempt %d of %d: %s", attempt, t.retry.MaxAttempts, joinedMessage(failures)),
		})
	}
	delay := t.retry.RetryDelay(attempt)
	w.logger.Info("retrying", "event", envelope.Event, "queue", queue, "attempt", attempt, "delay", delay, "error", joined)
	return w.settle(d, "retry", func(ctx context.Context) error { return d.Retry(ctx, delay) })
}

// failStep dead-letters a message whose handlers failed for good, reporting it first when it is
// a batch step.
func (w *worker) failStep(d transport.Delivery, envelope Envelope, reason transport.DeadLetterReason) error {
	if !w.reportStep(d, envelope, &reason) {
		return nil
	}
	return w.deadLetter(d, envelope, reason)
}

// Step report events (schemas/batch.md, batch-step-report.schema.json).
const (
	StepSucceededEvent = "thrun.batch.step_succeeded"
	StepFailedEvent    = "thrun.batch.step_failed"
)

type stepReport struct {
	BatchID string       `json:"batch_id"`
	Index   int          `json:"index"`
	Error   *reportError `json:"error,omitempty"`
}

type reportError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// reportStep publishes a batch step's final outcome, before the step's message is settled, so the
// batch engine of a Thrun process records it and advances the batch (a report sent twice is
// harmless). The report goes to the queue the step names in meta.batch.report_to, which the engine
// that dispatched it consumes, or else to the step's own queue (schemas/batch.md). It returns false
// when the report could not be published: the delivery is then retried after a backoff, and
// reported again.
func (w *worker) reportStep(d transport.Delivery, envelope Envelope, failure *transport.DeadLetterReason) bool {
	if envelope.Meta == nil || envelope.Meta.Batch == nil {
		return true
	}
	step := envelope.Meta.Batch
	event, report := StepSucceededEvent, stepReport{BatchID: step.ID, Index: step.Index}
	if failure != nil {
		event = StepFailedEvent
		report.Error = &reportError{Code: failure.Code, Message: transport.TruncateUTF8(failure.Message, transport.MaxReasonMessageBytes)}
	}
	// A report_to that is no queue name would fail every publish and loop the step: ignore it.
	queue := step.ReportTo
	if !transport.IsName(queue) {
		queue = d.Queue()
	}
	opts := []DispatchOption{WithQueue(queue), WithCausationID(envelope.Meta.EventID)}
	if envelope.Meta.CorrelationID != "" {
		opts = append(opts, WithCorrelationID(envelope.Meta.CorrelationID))
	}
	_, err := w.thrun.Dispatch(w.handlerCtx, event, report, opts...)
	if err == nil {
		return true
	}
	delay := w.thrun.retry.RetryDelay(d.Attempt())
	w.logger.Error("could not report a batch step; retrying it", "event", envelope.Event, "batch", step.ID, "index", step.Index, "error", err)
	_ = w.settle(d, "retry", func(ctx context.Context) error { return d.Retry(ctx, delay) })
	return false
}

func hasPermanent(errs []error) bool {
	for _, err := range errs {
		if IsPermanent(err) {
			return true
		}
	}
	return false
}

func joinedMessage(errs []error) string {
	messages := make([]string, len(errs))
	for i, err := range errs {
		messages[i] = err.Error()
	}
	return strings.Join(messages, "; ")
}

// runListeners runs at once every listener that has not yet succeeded for this event, and returns
// their failures (a panic is one).
func (w *worker) runListeners(listeners []*listener, m *Message) []error {
	key := ""
	if len(listeners) > 1 {
		key = memoryKey(m)
	}
	errs := make([]error, len(listeners))
	ran := make([]bool, len(listeners))
	var wg sync.WaitGroup
	for i, l := range listeners {
		if w.alreadySucceeded(key, l) {
			continue
		}
		ran[i] = true
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("[thrun:go] listener %q panicked: %v", l.pattern, r)
				}
			}()
			errs[i] = l.handle(w.handlerCtx, m)
		})
	}
	wg.Wait()
	var failures []error
	var succeeded []*listener
	for i, err := range errs {
		if err != nil {
			failures = append(failures, err)
		} else if ran[i] {
			succeeded = append(succeeded, listeners[i])
		}
	}
	if key != "" && len(failures) > 0 && len(succeeded) > 0 {
		w.remember(key, succeeded)
	}
	return failures
}

func (w *worker) unknownEvent(d transport.Delivery, envelope Envelope) error {
	switch w.thrun.opts.UnknownEvents {
	case UnknownEventsDrop:
		return w.settle(d, "ack", d.Ack)
	case UnknownEventsLeave:
		// Back in the queue for a consumer that knows it; the delay stops this one spinning on it.
		return w.settle(d, "retry", func(ctx context.Context) error { return d.Retry(ctx, w.thrun.retry.Backoff) })
	default:
		return w.deadLetter(d, envelope, transport.DeadLetterReason{
			Code:    "unknown_event",
			Message: fmt.Sprintf("no listener for %q on queue %q", envelope.Event, d.Queue()),
		})
	}
}

func (w *worker) deadLetter(d transport.Delivery, envelope Envelope, reason transport.DeadLetterReason) error {
	w.logger.Warn("dead-lettering", "event", envelope.Event, "queue", d.Queue(), "attempt", d.Attempt(), "reason", reason.Code)
	return w.settle(d, "dead-letter", func(ctx context.Context) error { return d.DeadLetter(ctx, reason) })
}

// settle runs a settlement until the broker takes it. A refusal is tried again after a backoff with
// the message left where it is, unacknowledged: never copied, its listeners never run again
// meanwhile. Once stopping, or with the transport closed, the refusal is returned instead and the
// transport hands the delivery out again later.
func (w *worker) settle(d transport.Delivery, action string, run func(context.Context) error) error {
	for failures := 1; ; failures++ {
		err := run(w.handlerCtx)
		if err == nil {
			return nil
		}
		if w.stopping.Load() || errors.Is(err, transport.ErrClosed) {
			return err
		}
		wait := refusedSettlementDelay(failures)
		w.logger.Error("the broker refused a settlement; trying again", "queue", d.Queue(), "action", action, "attempt", d.Attempt(), "retryIn", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-w.handlerCtx.Done():
			return err
		}
	}
}

// decodeEnvelope runs the safe codec, then reads the validated document into an Envelope.
func (t *Thrun) decodeEnvelope(body []byte) (Envelope, error) {
	var envelope Envelope
	if _, err := t.validator.DecodeLimited(body, t.opts.MaxPayloadBytes); err != nil {
		return envelope, err
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return envelope, &CodecError{"schema_violation", err.Error()}
	}
	return envelope, nil
}
