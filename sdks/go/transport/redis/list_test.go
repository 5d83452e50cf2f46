package redis

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// Lists mode: read-ahead (Prefetch) and the recovery of a fetch whose reply was lost.

func publishNumbered(t *testing.T, tr *Transport, q string, n int) {
	t.Helper()
	messages := make([]transport.Message, n)
	for i := range messages {
		messages[i] = transport.Message{Body: fmt.Appendf(nil, "m%02d", i)}
	}
	if err := tr.Publish(context.Background(), q, messages); err != nil {
		t.Fatal(err)
	}
}

// processingLength is the length of the queue's one processing list (the test's only consumer).
func processingLength(t *testing.T, raw *redis.Client, q string) int64 {
	t.Helper()
	keys, err := raw.Keys(context.Background(), "{"+q+"}:processing:*").Result()
	if err != nil || len(keys) > 1 {
		t.Fatalf("processing lists %v, %v", keys, err)
	}
	if len(keys) == 0 {
		return 0
	}
	return raw.LLen(context.Background(), keys[0]).Val()
}

func eventually(t *testing.T, what string, condition func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !condition(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collectAll takes n deliveries and checks each body came once, at the given attempt.
func collectAll(t *testing.T, got <-chan received, n int, attempt func(body string) int) {
	t.Helper()
	seen := map[string]bool{}
	for range n {
		r := next(t, got)
		if seen[r.body] || r.attempt != attempt(r.body) {
			t.Fatalf("%q: attempt %d, seen before %v", r.body, r.attempt, seen[r.body])
		}
		seen[r.body] = true
	}
}

func TestListsPrefetchReadsAheadAndDeliversEveryMessage(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	tr := open(t, ModeList, Options{Prefetch: 10})
	publishNumbered(t, tr, q, 30)
	gate := make(chan struct{})
	got := collect(t, tr, q, 1, func(d transport.Delivery) error {
		<-gate
		return d.Ack(context.Background())
	})
	// One handler runs; the consumer holds Prefetch messages, the rest wait in the queue.
	eventually(t, "10 messages read ahead", func() bool { return processingLength(t, raw, q) == 10 })
	if n := raw.LLen(context.Background(), q).Val(); n != 20 {
		t.Fatalf("%d left in the queue, want 20", n)
	}
	close(gate)
	collectAll(t, got, 30, func(string) int { return 1 })
	eventually(t, "every message acknowledged", func() bool { return processingLength(t, raw, q) == 0 })
	if n := raw.HLen(context.Background(), "{"+q+"}:attempts").Val(); n != 0 {
		t.Fatalf("%d attempts recorded, want none", n)
	}
}

// At Close the message whose handler started goes back as its next attempt; those read ahead and
// never handed to a handler go back as they were: their next delivery is still attempt 1.
func TestListsCloseReturnsReadAheadMessagesWithoutAnAttempt(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	ctx := context.Background()
	tr := open(t, ModeList, Options{Prefetch: 5})
	publishNumbered(t, tr, q, 10)
	gate := make(chan struct{})
	defer close(gate)
	var started atomic.Value
	sub, err := tr.Consume(ctx, q, func(ctx context.Context, d transport.Delivery) error {
		started.Store(string(d.Body()))
		<-gate // outlives the drain below; returns unsettled
		return nil
	}, transport.ConsumeOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "5 messages read ahead, one running", func() bool {
		return processingLength(t, raw, q) == 5 && started.Load() != nil
	})
	drain, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := sub.Close(drain); err != nil {
		t.Fatal(err)
	}
	if n := raw.LLen(ctx, q).Val(); n != 10 {
		t.Fatalf("%d messages back in the queue, want 10", n)
	}
	if n := raw.HLen(ctx, "{"+q+"}:attempts").Val(); n != 1 {
		t.Fatalf("%d attempts recorded, want 1 (the started message)", n)
	}
	running := started.Load().(string)
	other := open(t, ModeList, Options{})
	collectAll(t, collect(t, other, q, 1, ack), 10, func(body string) int {
		if body == running {
			return 2
		}
		return 1
	})
}

// loseFetchReply makes Redis run the first list-fetch that takes messages, then drops its reply, as
// a connection lost mid-reply would.
type loseFetchReply struct{ lost atomic.Bool }

func (*loseFetchReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (*loseFetchReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *loseFetchReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		args := cmd.Args()
		isFetch := len(args) > 1 && (args[1] == listFetchScript.Hash() || args[1] == listFetchScript.source)
		if reply, ok := cmd.(*redis.Cmd); ok && isFetch && err == nil {
			if taken, _, _ := parseFetch(reply.Val()); len(taken) > 0 && h.lost.CompareAndSwap(false, true) {
				err = errors.New("read: connection reset by peer (the reply is lost)")
				cmd.SetErr(err)
			}
		}
		return err
	}
}

// The messages a lost reply left in the processing list are found and delivered by the live
// consumer, at once and as attempt 1: not after its lease, which it keeps renewing, nor at Close.
func TestListsLostFetchReplyIsRecovered(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	opts, _ := redis.ParseURL(redisURL())
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	hook := &loseFetchReply{}
	client.AddHook(hook)
	tr := open(t, ModeList, Options{Client: client, Prefetch: 4, VisibilityTimeout: time.Minute})
	publishNumbered(t, tr, q, 6)
	collectAll(t, collect(t, tr, q, 2, ack), 6, func(string) int { return 1 })
	if !hook.lost.Load() {
		t.Fatal("no fetch reply was lost")
	}
	eventually(t, "every message acknowledged", func() bool { return processingLength(t, raw, q) == 0 })
}

// A large first attempt is acknowledged by a bare LREM, so no script copies its body; one that came
// back has an attempts field, and list-ack removes the field with it.
func TestListsLargeFirstAttemptIsAcknowledgedByABareLrem(t *testing.T) {
	raw := rawClient(t)
	q := testQueue(t, raw)
	lines := monitorLines(t)
	// What MONITOR saw of this queue's acks: bare LREMs sent as commands (scripts run LREM too, under
	// the source "lua"), and list-ack calls, each by the tag of the body it carried.
	var plain, scripted []string
	watch := func() {
		for {
			select {
			case line := <-lines:
				if !strings.Contains(line, q) {
					continue
				}
				tag := ""
				for _, candidate := range []string{"once", "again"} {
					if strings.Contains(line, `"`+candidate+`:x`) {
						tag = candidate
					}
				}
				switch {
				case strings.Contains(line, `"lrem"`) && !strings.Contains(line, " lua]"):
					plain = append(plain, tag)
				case strings.Contains(line, "list-ack: removes") || strings.Contains(line, listAckScript.Hash()):
					scripted = append(scripted, tag)
				}
			default:
				return
			}
		}
	}

	tr := open(t, ModeList, Options{})
	large := func(tag string) []byte { return append([]byte(tag+":"), bytes.Repeat([]byte("x"), 32*1024)...) }
	if err := tr.Publish(context.Background(), q, []transport.Message{{Body: large("once")}, {Body: large("again")}}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, tr, q, 1, func(d transport.Delivery) error {
		if strings.HasPrefix(string(d.Body()), "again:") && d.Attempt() == 1 {
			return d.Retry(context.Background(), 0)
		}
		return ack(d)
	})
	var deliveries []string
	for range 3 {
		r := next(t, got)
		deliveries = append(deliveries, fmt.Sprintf("%s#%d", strings.SplitN(r.body, ":", 2)[0], r.attempt))
	}
	if want := "once#1 again#1 again#2"; strings.Join(deliveries, " ") != want {
		t.Fatalf("deliveries %v, want %s", deliveries, want)
	}
	eventually(t, "both acknowledged", func() bool {
		watch()
		return len(plain) == 1 && len(scripted) == 1
	})
	if plain[0] != "once" || scripted[0] != "again" {
		t.Fatalf("bare LREM acks %v, list-ack calls %v: want [once] and [again]", plain, scripted)
	}
	if n := raw.HLen(context.Background(), "{"+q+"}:attempts").Val(); n != 0 {
		t.Fatalf("%d attempts fields left, want none", n)
	}
	if n := processingLength(t, raw, q) + raw.LLen(context.Background(), q).Val(); n != 0 {
		t.Fatalf("%d messages left, want none", n)
	}
}

// monitorLines streams what Redis's MONITOR prints, a line per command, on a connection of its own
// (go-redis's pool takes back a connection that keeps receiving), until the test ends.
func monitorLines(t *testing.T) <-chan string {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", opts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	reader := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	if ok, err := reader.ReadString('\n'); err != nil || ok != "+OK\r\n" {
		t.Fatalf("MONITOR answered %q, %v", ok, err)
	}
	lines := make(chan string, 10_000)
	go func() {
		for {
			line, err := reader.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case lines <- line:
			default: // the test stopped reading; MONITOR must not stall on it
			}
		}
	}()
	return lines
}
