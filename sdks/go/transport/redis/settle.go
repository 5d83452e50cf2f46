package redis

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// settler sends the settlement scripts of one consumer's handlers in pipelines: while one pipeline
// is on the wire, the settlements that come meanwhile queue up and leave together in the next, so
// fifty handlers settling at once cost a few round trips, not fifty (and hold a few pooled
// connections, not fifty). The acks of one pipeline are one list-ack call (merge); every other
// script runs alone and atomically in Redis, and each caller gets its call's reply; a lone
// settlement leaves at once.
type settler struct {
	client  *redis.Client
	calls   chan *settlement // unbuffered: a call taken by a flusher is always answered
	stopped chan struct{}
}

type settlement struct {
	script luaScript
	keys   []string
	args   []any
	done   chan error
}

// maxSettlePipelines bounds the pipelines of settlements one consumer keeps on the wire at once
// (each holds a pooled connection meanwhile): a handler whose settlement waits for a free pipeline
// keeps its slot, so a few pipelines in flight serve fifty handlers better than one.
const maxSettlePipelines = 8

// maxSettleBatch bounds one pipeline.
const maxSettleBatch = 128

// newSettler: one pipeline per handler, up to maxSettlePipelines.
func newSettler(client *redis.Client, concurrency int) *settler {
	s := &settler{client: client, calls: make(chan *settlement), stopped: make(chan struct{})}
	for range min(max(concurrency, 1), maxSettlePipelines) {
		go s.flush()
	}
	return s
}

// run runs one settlement script and returns its error, as luaScript.Run(…).Err() would.
func (s *settler) run(ctx context.Context, script luaScript, keys []string, args ...any) error {
	call := &settlement{script: script, keys: keys, args: args, done: make(chan error, 1)}
	select {
	case s.calls <- call:
	case <-s.stopped:
		return script.Run(ctx, s.client, keys, args...).Err() // after close: one on its own
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-call.done
}

func (s *settler) flush() {
	batch := make([]*settlement, 0, maxSettleBatch)
	for {
		select {
		case call := <-s.calls:
			batch = append(batch[:0], call)
		case <-s.stopped:
			return
		}
	gather:
		for len(batch) < maxSettleBatch {
			select {
			case call := <-s.calls:
				batch = append(batch, call)
			default:
				break gather
			}
		}
		s.send(batch)
		clear(batch)
	}
}

// command is one script call on the wire: one settlement, or the settlements merged into it.
type command struct {
	script luaScript
	keys   []string
	args   []any
	calls  []*settlement
}

// merge turns a batch into script calls: the calls of a script that takes many (the acks of one
// consumer) become one, so fifty acks run one script, not fifty; every other call stays its own.
func merge(batch []*settlement) []*command {
	commands := make([]*command, 0, len(batch))
	merged := map[string]*command{} // by script and keys
	for _, call := range batch {
		var id string
		if call.script.many {
			id = call.script.Hash() + "\x00" + strings.Join(call.keys, "\x00")
			if c, ok := merged[id]; ok {
				c.args = append(c.args, call.args...)
				c.calls = append(c.calls, call)
				continue
			}
		}
		c := &command{script: call.script, keys: call.keys, args: call.args, calls: []*settlement{call}}
		if call.script.many {
			c.args = append([]any(nil), call.args...) // grown by later calls: not the caller's slice
			merged[id] = c
		}
		commands = append(commands, c)
	}
	return commands
}

// answer gives every settlement of the command the command's reply.
func (c *command) answer(err error) {
	for _, call := range c.calls {
		call.done <- err
	}
}

func (s *settler) send(batch []*settlement) {
	ctx := context.Background() // bounded by the client's read and write timeouts
	commands := merge(batch)
	if len(commands) == 1 {
		c := commands[0]
		c.answer(c.script.Run(ctx, s.client, c.keys, c.args...).Err())
		return
	}
	pipe := s.client.Pipeline()
	replies := make([]*redis.Cmd, len(commands))
	for i, c := range commands {
		replies[i] = pipe.EvalSha(ctx, c.script.Hash(), c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range commands {
		err := replies[i].Err()
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			// Not loaded yet (first use, a restarted Redis): Run sends it with EVAL.
			err = c.script.Run(ctx, s.client, c.keys, c.args...).Err()
		}
		c.answer(err)
	}
}

func (s *settler) stop() { close(s.stopped) }
