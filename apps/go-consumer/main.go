// Command go-consumer is a small Go service that speaks Thrun's wire contract over Redis lists, as
// a plain Go producer does (`rdb.LPush(ctx, "events", data)`), validating every envelope against the
// repository's JSON Schema.
//
//	go-consumer validate                                        < envelope.json
//	go-consumer produce --redis URL --event NAME --payload JSON [--queue events]
//	go-consumer consume --redis URL --count N [--queue events] [--timeout 30s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	"github.com/thrun-dev/thrun/sdks/go/transport"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: go-consumer validate | produce | consume (see --help of each)")
		return 2
	}
	validator, err := thrun.NewValidator()
	if err != nil {
		fmt.Fprintln(stderr, "cannot compile the envelope schema:", err)
		return 2
	}
	switch args[0] {
	case "validate":
		return validate(validator, stdin, stderr)
	case "produce":
		return produce(validator, args[1:], stdout, stderr)
	case "consume":
		return consume(validator, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n", args[0])
		return 2
	}
}

func validate(v *thrun.Validator, stdin io.Reader, stderr io.Writer) int {
	data, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "cannot read stdin:", err)
		return 1
	}
	// The safe codec: size, UTF-8, strict JSON (no duplicate or __proto__ keys, safe integers), then the schema.
	if _, err := v.Decode(data); err != nil {
		fmt.Fprintln(stderr, "invalid envelope:", err)
		return 1
	}
	return 0
}

// redisClient connects from a URL (redis://, rediss://, with credentials) and fails fast when Redis is down.
func redisClient(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("invalid --redis URL")
	}
	rdb := redis.NewClient(opts)
	ping, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ping).Err(); err != nil {
		_ = rdb.Close()
		// The error names the address, never the credentials.
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", opts.Addr, err)
	}
	return rdb, nil
}

func produce(v *thrun.Validator, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	event := fs.String("event", "", "event name")
	payload := fs.String("payload", "{}", "payload, a JSON object")
	queue := fs.String("queue", "events", "list to LPUSH to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	env := thrun.NewEnvelope(*event, json.RawMessage(*payload), "go", time.Now())
	data, err := json.Marshal(env)
	if err != nil {
		fmt.Fprintln(stderr, "payload is not JSON:", err)
		return 1
	}
	if err := v.Validate(data); err != nil {
		fmt.Fprintln(stderr, "refusing to produce an invalid envelope:", err)
		return 1
	}
	ctx := context.Background()
	rdb, err := redisClient(ctx, *url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer rdb.Close()
	// The plain format: the envelope bytes, LPUSHed to the queue's list.
	if err := rdb.LPush(ctx, *queue, data).Err(); err != nil {
		fmt.Fprintln(stderr, "LPUSH failed:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(data))
	return 0
}

func consume(v *thrun.Validator, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	count := fs.Int("count", 1, "valid envelopes to print before exiting")
	queue := fs.String("queue", "events", "list to pop from (the right end: oldest first)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when nothing arrives for this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	rdb, err := redisClient(ctx, *url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer rdb.Close()
	for printed := 0; printed < *count; {
		popped, err := rdb.BRPop(ctx, *timeout, *queue).Result()
		if errors.Is(err, redis.Nil) {
			fmt.Fprintf(stderr, "no message on %q within %s (%d of %d)\n", *queue, *timeout, printed, *count)
			return 1
		}
		if err != nil {
			fmt.Fprintln(stderr, "BRPOP failed:", err)
			return 1
		}
		data := []byte(popped[1])
		if _, err := v.Decode(data); err != nil {
			// A bad message never stops the consumer, and is not lost: it goes to <queue>.dead as a
			// dead letter (schemas/dead-letter.schema.json), the original bytes unchanged.
			fmt.Fprintln(stderr, "dead-lettering invalid envelope:", err)
			frame := deadLetterFrame(*queue, data, err, time.Now())
			if err := rdb.LPush(ctx, *queue+".dead", frame).Err(); err != nil {
				fmt.Fprintln(stderr, "LPUSH to the dead-letter queue failed:", err)
				return 1
			}
			continue
		}
		var line bytes.Buffer
		if err := json.Compact(&line, data); err != nil {
			return 1 // unreachable: Decode accepted it as JSON
		}
		fmt.Fprintln(stdout, line.String())
		printed++
	}
	return 0
}

// deadLetterFrame is a dead letter in the frame form that Redis holds: the description as one line
// of JSON, a line feed, then the original bytes unchanged (never escaped, so it never outgrows them).
func deadLetterFrame(queue string, data []byte, reason error, now time.Time) []byte {
	code := "schema_violation"
	var codecErr *thrun.CodecError
	if errors.As(reason, &codecErr) {
		code = codecErr.Code
	}
	description := transport.NewDeadLetterDescription(queue, transport.DeadLetterReason{Code: code, Message: reason.Error()}, 1, now)
	return description.Frame(data)
}
