package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// streamSource is Streams mode (protocol/redis.md): a stream read through consumer groups.
type streamSource struct {
	client, blocking *redis.Client
	keys             queueKeys
	group            string
	consumerID       string
	idle             time.Duration
	blockTimeout     time.Duration
	trimInterval     time.Duration

	mu       sync.Mutex
	lastTrim time.Time
}

// The entry fields Thrun writes (protocol/headers.json, "redis").
const (
	fieldBody = "b"
	fieldKey  = "k"
)

// entryBody finds the body (field b, else the only field: a foreign producer's entry) and key (k).
func entryBody(values map[string]any) ([]byte, string) {
	key, _ := values[fieldKey].(string)
	if b, ok := values[fieldBody].(string); ok {
		return []byte(b), key
	}
	for _, v := range values {
		if s, ok := v.(string); ok {
			return []byte(s), key
		}
	}
	return nil, key
}

// parseFields reads a Lua reply's flat field list [name, value, …].
func parseFields(flat any) map[string]any {
	list, _ := flat.([]any)
	values := make(map[string]any, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		name, _ := list[i].(string)
		if _, seen := values[name]; !seen {
			values[name] = list[i+1]
		}
	}
	return values
}

func claimedEntry(id, fields, attempt any) (fetched, bool) {
	idText, _ := id.(string)
	n, _ := attempt.(int64)
	body, key := entryBody(parseFields(fields))
	if body == nil {
		return fetched{}, false
	}
	return fetched{id: idText, body: body, key: key, attempt: int(n)}, true
}

// fetch: an entry whose reply was lost stays pending in the group, claimed again once idle.
func (s *streamSource) fetch(ctx context.Context, limit int, _ func() []fetched) ([]fetched, error) {
	reply, err := streamClaimScript.Run(ctx, s.client, []string{s.keys.queue, s.keys.retry(s.group), s.keys.delayed}, s.group, s.consumerID, limit, s.idle.Milliseconds()).Result()
	if err != nil {
		return nil, err
	}
	parts, ok := reply.([]any)
	if !ok || len(parts) != 2 {
		return nil, fmt.Errorf("unexpected stream-claim reply %T", reply)
	}
	flat, _ := parts[0].([]any)
	nextDue, _ := parts[1].(int64)
	var out []fetched
	for i := 0; i+2 < len(flat); i += 3 {
		if m, ok := claimedEntry(flat[i], flat[i+1], flat[i+2]); ok {
			out = append(out, m)
		}
	}
	if len(out) >= limit {
		return out, nil
	}
	args := &redis.XReadGroupArgs{Group: s.group, Consumer: s.consumerID, Streams: []string{s.keys.queue, ">"}, Count: int64(limit - len(out)), Block: -1}
	if len(out) == 0 {
		args.Block = s.blockTimeout
		if nextDue >= 0 {
			args.Block = max(10*time.Millisecond, min(time.Duration(nextDue)*time.Millisecond, s.blockTimeout))
		}
	}
	streams, err := s.blocking.XReadGroup(ctx, args).Result()
	if err != nil && err != redis.Nil {
		if len(out) > 0 {
			return out, nil
		}
		return nil, err
	}
	for _, stream := range streams {
		for _, e := range stream.Messages {
			body, key := entryBody(e.Values)
			if body != nil {
				out = append(out, fetched{id: e.ID, body: body, key: key, attempt: 1}) // a fresh entry
			}
		}
	}
	return out, nil
}

func (s *streamSource) ack(ctx context.Context, m fetched) error {
	return s.client.XAck(ctx, s.keys.queue, s.group, m.id).Err()
}

func (s *streamSource) retry(ctx context.Context, m fetched, delay time.Duration) (*fetched, error) {
	if delay > 0 {
		return nil, streamRetryScript.Run(ctx, s.client, []string{s.keys.retry(s.group)}, m.id, delay.Milliseconds()).Err()
	}
	// Claimed again by this consumer at once: the broker counts the delivery.
	reply, err := streamReclaimScript.Run(ctx, s.client, []string{s.keys.queue}, s.group, s.consumerID, m.id).Result()
	if err != nil && err != redis.Nil {
		return nil, err
	}
	if flat, ok := reply.([]any); ok && len(flat) == 3 {
		if again, ok := claimedEntry(flat[0], flat[1], flat[2]); ok {
			return &again, nil
		}
	}
	return nil, nil
}

func (s *streamSource) deadLetter(ctx context.Context, m fetched, frame []byte) error {
	return streamDeadLetterScript.Run(ctx, s.client, []string{s.keys.queue, s.keys.dead}, s.group, m.id, frame).Err()
}

func (s *streamSource) release(ctx context.Context, started, waiting []fetched) error {
	started = append(started, waiting...) // read entries are delivered ones in a group, started or not
	if len(started) == 0 {
		return nil
	}
	// Marks them idle for a whole visibility timeout: the next claim, by any consumer, takes them.
	args := []any{"XCLAIM", s.keys.queue, s.group, s.consumerID, 0}
	for _, m := range started {
		args = append(args, m.id)
	}
	args = append(args, "IDLE", s.idle.Milliseconds(), "JUSTID")
	return s.client.Do(ctx, args...).Err()
}

func (s *streamSource) tick(ctx context.Context, held []fetched) error {
	if len(held) > 0 {
		// Resets the idle time of what this consumer holds, so a live consumer's work is not claimed.
		args := []any{"XCLAIM", s.keys.queue, s.group, s.consumerID, 0}
		for _, m := range held {
			args = append(args, m.id)
		}
		if err := s.client.Do(ctx, append(args, "JUSTID")...).Err(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	due := time.Since(s.lastTrim) >= s.trimInterval
	if due {
		s.lastTrim = time.Now()
	}
	s.mu.Unlock()
	if due {
		return streamTrimScript.Run(ctx, s.client, []string{s.keys.queue}).Err()
	}
	return nil
}

func (s *streamSource) tickInterval() time.Duration {
	return max(100*time.Millisecond, min(s.idle/3, s.trimInterval))
}

func (s *streamSource) dispose() { _ = s.blocking.Close() }
