// Package thrun is the Go runtime of Thrun: dispatch events over a transport, listen to them by
// name or pattern, and run them in a worker with retries, dead-lettering and graceful shutdown,
// speaking the same wire protocol as every other Thrun runtime.
package thrun

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// UnknownEventPolicy says what the worker does with an event no listener matches.
type UnknownEventPolicy string

const (
	// UnknownEventsDeadLetter moves it to "<queue>.dead" with the reason unknown_event (the default:
	// nothing is lost).
	UnknownEventsDeadLetter UnknownEventPolicy = "dead-letter"
	// UnknownEventsDrop acknowledges it.
	UnknownEventsDrop UnknownEventPolicy = "drop"
	// UnknownEventsLeave puts it back for a consumer that knows it, after the retry base delay.
	UnknownEventsLeave UnknownEventPolicy = "leave"
)

// Retry is the retry policy: attempt n failing waits Backoff·2^(n-1), capped at MaxBackoff; with
// Jitter the wait is drawn from [delay, min(2·delay, MaxBackoff)]. After MaxAttempts attempts the
// message is dead-lettered with the reason max_attempts.
type Retry struct {
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	Jitter      bool
}

// DefaultRetry is TypeScript's default: 5 attempts, 1 s doubling to 60 s, jittered.
var DefaultRetry = Retry{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Minute, Jitter: true}

// Options configure a Thrun client and its worker. Zero values take the defaults.
type Options struct {
	// Source is written to meta.source on dispatch. Default "go".
	Source string
	// Queue is the default queue. Default "events".
	Queue string
	// Routes send events matching a pattern to another queue; the first match wins.
	Routes []Route
	// Group is the consumer group. Default "default".
	Group string
	// Concurrency is the number of handlers running at once per queue. Default 10.
	Concurrency int
	// Retry is the retry policy. Default DefaultRetry.
	Retry *Retry
	// UnknownEvents is the unknown-event policy. Default UnknownEventsDeadLetter.
	UnknownEvents UnknownEventPolicy
	// DrainTimeout is how long Run lets in-flight handlers finish after a stop. Default 10 s.
	DrainTimeout time.Duration
	// HandleSignals makes Run stop on SIGTERM and SIGINT as on a cancelled context. Default true.
	HandleSignals *bool
	// Logger receives the worker's logs (never message contents or credentials). Default slog.Default().
	Logger *slog.Logger
	// MaxPayloadBytes is the largest consumed message the worker decodes; a larger one is
	// dead-lettered with payload_too_large. Default DefaultMaxBytes (1 MiB), the codec's limit.
	MaxPayloadBytes int
	// Ready, when set, is called once Run consumes every queue: a message published from then on
	// reaches this worker.
	Ready func()
}

// Thrun dispatches events and runs listeners over one transport. Safe for concurrent use.
type Thrun struct {
	transport transport.Transport
	validator *Validator
	router    *router
	opts      Options
	retry     Retry

	mu        sync.Mutex
	listeners []*listener
	running   bool
}

// New returns a client on t. It fails on a transport of an unknown contract version and on
// invalid options.
func New(t transport.Transport, opts Options) (*Thrun, error) {
	if t == nil {
		return nil, errors.New("[thrun:go] a transport is required")
	}
	if v := t.SpecificationVersion(); v != transport.SpecificationVersion {
		return nil, fmt.Errorf("[thrun:go] unsupported_transport_version: transport %s implements %q, this runtime knows %q", t.Name(), v, transport.SpecificationVersion)
	}
	if opts.Source == "" {
		opts.Source = "go"
	}
	if opts.Queue == "" {
		opts.Queue = "events"
	}
	if opts.Group == "" {
		opts.Group = "default"
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = DefaultMaxBytes
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	switch opts.UnknownEvents {
	case "":
		opts.UnknownEvents = UnknownEventsDeadLetter
	case UnknownEventsDeadLetter, UnknownEventsDrop, UnknownEventsLeave:
	default:
		return nil, fmt.Errorf("[thrun:go] UnknownEvents must be dead-letter, drop or leave, not %q", opts.UnknownEvents)
	}
	retry := DefaultRetry
	if opts.Retry != nil {
		retry = *opts.Retry
		if retry.MaxAttempts < 1 {
			return nil, errors.New("[thrun:go] Retry.MaxAttempts must be at least 1")
		}
	}
	r, err := newRouter(opts.Queue, opts.Routes)
	if err != nil {
		return nil, err
	}
	v, err := NewValidator()
	if err != nil {
		return nil, err
	}
	return &Thrun{transport: t, validator: v, router: r, opts: opts, retry: retry}, nil
}

// Transport is the client's transport.
func (t *Thrun) Transport() transport.Transport { return t.transport }

// QueueFor is the queue an event named event is dispatched to.
func (t *Thrun) QueueFor(event string) string { return t.router.queueFor(event) }
