// Command go-consumer is a small Go service on the Thrun Go module (sdks/go): it produces and
// consumes Thrun events over Redis Lists, sharing queues with any other Thrun runtime.
//
//	go-consumer validate                                        < envelope.json
//	go-consumer produce --redis URL --event NAME --payload JSON [--queue events]
//	go-consumer consume --redis URL --count N [--queue events] [--timeout 30s]
//	                    [--listen PATTERN]… [--route PATTERN=QUEUE]…
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	thrunTransport "github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/redis"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: go-consumer validate | produce | consume (see --help of each)")
		return 2
	}
	switch args[0] {
	case "validate":
		return validate(stdin, stderr)
	case "produce":
		return produce(args[1:], stdout, stderr)
	case "consume":
		return consume(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n", args[0])
		return 2
	}
}

// validate runs the safe codec: size, UTF-8, strict JSON (no duplicate or __proto__ keys, safe
// integers), then the envelope schema.
func validate(stdin io.Reader, stderr io.Writer) int {
	data, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "cannot read stdin:", err)
		return 1
	}
	validator, err := thrun.NewValidator()
	if err != nil {
		fmt.Fprintln(stderr, "cannot compile the envelope schema:", err)
		return 2
	}
	if _, err := validator.Decode(data); err != nil {
		fmt.Fprintln(stderr, "invalid envelope:", err)
		return 1
	}
	return 0
}

// client opens a Thrun client on Redis Lists; logs go to stderr.
func client(url, queue string, stderr io.Writer, routes ...thrun.Route) (*thrun.Thrun, *redis.Transport, error) {
	transport, err := redis.New(redis.Options{URL: url})
	if err != nil {
		return nil, nil, err
	}
	off := false
	c, err := thrun.New(transport, thrun.Options{
		Queue:         queue,
		Routes:        routes,
		Concurrency:   1, // prints in queue order
		HandleSignals: &off,
		Logger:        slog.New(slog.NewTextHandler(stderr, nil)),
	})
	return c, transport, err
}

func produce(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	event := fs.String("event", "", "event name")
	payload := fs.String("payload", "{}", "payload, a JSON object")
	queue := fs.String("queue", "events", "queue to dispatch to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, transport, err := client(*url, *queue, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx := context.Background()
	defer transport.Close(ctx)
	// Encode then publish, rather than Dispatch, to print the exact bytes sent.
	body, err := c.Encode(*event, json.RawMessage(*payload))
	if err != nil {
		fmt.Fprintln(stderr, "refusing to produce an invalid envelope:", err)
		return 1
	}
	if err := transport.Publish(ctx, c.QueueFor(*event), []thrunTransport.Message{{Body: body}}); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, string(body))
	return 0
}

// consume prints each envelope on one line until --count were handled; a message that is not a
// valid envelope is dead-lettered by the worker (to <queue>.dead, with the codec's reason).
func consume(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	count := fs.Int("count", 1, "envelopes to print before exiting")
	queue := fs.String("queue", "events", "queue to consume")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when nothing arrives for this long")
	var patterns repeated
	fs.Var(&patterns, "listen", "an event pattern to handle (repeat it; default #, every event)")
	var routeFlags repeated
	fs.Var(&routeFlags, "route", "PATTERN=QUEUE: dispatch events matching PATTERN (such as batch step reports) to QUEUE (repeat it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(patterns) == 0 {
		patterns = repeated{"#"}
	}
	var routes []thrun.Route
	for _, flag := range routeFlags {
		pattern, queue, ok := strings.Cut(flag, "=")
		if !ok {
			fmt.Fprintf(stderr, "--route %q: expected PATTERN=QUEUE\n", flag)
			return 2
		}
		routes = append(routes, thrun.Route{Pattern: pattern, Queue: queue})
	}
	c, transport, err := client(*url, *queue, stderr, routes...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer transport.Close(context.Background())
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	idle := time.AfterFunc(*timeout, stop)
	var mu sync.Mutex
	printed := 0
	printEnvelope := func(_ context.Context, m *thrun.Message) error {
		mu.Lock()
		defer mu.Unlock()
		var line bytes.Buffer
		_ = json.Compact(&line, m.Body) // the codec accepted it as JSON
		fmt.Fprintln(stdout, line.String())
		idle.Reset(*timeout)
		if printed++; printed == *count {
			stop()
		}
		return nil
	}
	for _, pattern := range patterns {
		if err := c.Listen(pattern, printEnvelope); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if err := c.Run(ctx); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if printed < *count {
		fmt.Fprintf(stderr, "no message on %q within %s (%d of %d)\n", *queue, *timeout, printed, *count)
		return 1
	}
	return 0
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, ",") }

func (r *repeated) Set(value string) error {
	*r = append(*r, value)
	return nil
}
