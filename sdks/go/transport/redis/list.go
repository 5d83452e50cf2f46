package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// listSource is Lists mode (protocol/redis.md, "A consumer, step by step"): each consumer moves
// messages into its own processing list under a lease, with list-fetch (BLMOVE when idle) and
// removes them when settled.
type listSource struct {
	client, blocking *redis.Client
	settler          *settler // ack, retry and dead-letter, pipelined
	keys             queueKeys
	consumerID       string
	lease            time.Duration
	blockTimeout     time.Duration

	mu      sync.Mutex
	drained bool      // the last fetch left the queue empty: the next one blocks at once
	dueAt   time.Time // when the next delayed message is due (zero: none)
	resync  bool      // a fetch failed: its reply may have been lost after Redis ran it
}

func (s *listSource) processing() string { return s.keys.processing(s.consumerID) }
func (s *listSource) landing() string    { return s.keys.landing(s.consumerID) }

func (s *listSource) fetchKeys() []string {
	return []string{s.keys.queue, s.processing(), s.keys.attempts, s.keys.delayed, s.keys.consumers, s.landing()}
}

func (s *listSource) fetchArgs(limit int) []any {
	return []any{limit, s.consumerID, s.lease.Milliseconds()}
}

// parseFetch reads list-fetch's reply: { {body, attempt, …}, ms until the next delayed one or -1 }.
func parseFetch(reply any) ([]fetched, int64, error) {
	parts, ok := reply.([]any)
	if !ok || len(parts) != 2 {
		return nil, 0, fmt.Errorf("unexpected list-fetch reply %T", reply)
	}
	flat, _ := parts[0].([]any)
	var out []fetched
	for i := 0; i+1 < len(flat); i += 2 {
		body, _ := flat[i].(string)
		attempt, _ := flat[i+1].(int64)
		out = append(out, fetched{body: []byte(body), attempt: int(attempt)})
	}
	nextDue, _ := parts[1].(int64)
	return out, nextDue, nil
}

func (s *listSource) take(ctx context.Context, max int) ([]fetched, int64, error) {
	reply, err := listFetchScript.Run(ctx, s.client, s.fetchKeys(), s.fetchArgs(max)...).Result()
	if err != nil {
		return nil, 0, err
	}
	return parseFetch(reply)
}

// wait blocks on the consumer's own connection: BLMOVE into the landing list, with list-fetch
// pipelined behind it, so the message that ends the wait arrives in the same round trip.
func (s *listSource) wait(ctx context.Context, max int, block time.Duration) ([]fetched, int64, error) {
	pipe := s.blocking.Pipeline()
	// Sent with Do: go-redis's BLMove rounds a wait below a second up to one, Redis takes fractions.
	pipe.Do(ctx, "BLMOVE", s.keys.queue, s.landing(), "RIGHT", "LEFT", strconv.FormatFloat(block.Seconds(), 'f', 3, 64))
	fetch := pipe.EvalSha(ctx, listFetchScript.Hash(), s.fetchKeys(), s.fetchArgs(max)...)
	_, _ = pipe.Exec(ctx)
	if err := fetch.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if !strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return nil, 0, err
		}
		// Not loaded yet (first use, a restarted Redis): the next list-fetch, sent the ordinary way,
		// drains the landing list.
		return s.take(ctx, max)
	}
	return parseFetch(fetch.Val())
}

// blockFor bounds a blocking read by the next due delayed message and the block timeout.
func (s *listSource) blockFor(nextDueMs int64) time.Duration {
	if nextDueMs < 0 {
		return s.blockTimeout
	}
	return max(10*time.Millisecond, min(time.Duration(nextDueMs)*time.Millisecond, s.blockTimeout))
}

// recover finds the messages of this consumer's processing list that it does not hold: those a
// list-fetch moved there before its reply was lost. They were never handed to a handler, so their
// attempt is what list-fetch would have said. Without this they would stay there, under a lease this
// live consumer keeps renewing, until it closes.
func (s *listSource) recover(ctx context.Context, held []fetched) ([]fetched, error) {
	inList, err := s.client.LRange(ctx, s.processing(), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	known := make(map[string]int, len(held))
	for _, m := range held {
		known[string(m.body)]++
	}
	var orphans []string
	for i := len(inList) - 1; i >= 0; i-- { // oldest first: the list's right end was taken first
		if body := inList[i]; known[body] > 0 {
			known[body]--
		} else {
			orphans = append(orphans, body)
		}
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	fields := make([]string, len(orphans))
	for i, body := range orphans {
		sum := sha1.Sum([]byte(body))
		fields[i] = hex.EncodeToString(sum[:])
	}
	seen, err := s.client.HMGet(ctx, s.keys.attempts, fields...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]fetched, len(orphans))
	for i, body := range orphans {
		count, _ := seen[i].(string)
		before, _ := strconv.Atoi(count)
		out[i] = fetched{body: []byte(body), attempt: before + 1}
	}
	return out, nil
}

func (s *listSource) fetch(ctx context.Context, max int, held func() []fetched) ([]fetched, error) {
	s.mu.Lock()
	drained, dueAt, resync := s.drained, s.dueAt, s.resync
	s.mu.Unlock()
	if resync {
		// held is read before the list: only this loop adds to it, so nothing held is missed.
		recovered, err := s.recover(ctx, held())
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.resync = false
		if len(recovered) > 0 {
			s.drained = false
		}
		s.mu.Unlock()
		if len(recovered) > 0 {
			return recovered, nil
		}
	}
	var messages []fetched
	var nextDue int64
	var err error
	// A delayed message already due is moved by a plain list-fetch, not after a blocking read.
	if drained && (dueAt.IsZero() || dueAt.After(time.Now())) {
		dueMs := int64(-1)
		if !dueAt.IsZero() {
			dueMs = time.Until(dueAt).Milliseconds()
		}
		messages, nextDue, err = s.wait(ctx, max, s.blockFor(dueMs))
	} else {
		messages, nextDue, err = s.take(ctx, max)
		if err == nil && len(messages) == 0 {
			messages, nextDue, err = s.wait(ctx, max, s.blockFor(nextDue))
		}
	}
	if err != nil {
		s.mu.Lock()
		s.drained = false
		s.resync = true
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Lock()
	s.drained = len(messages) < max
	s.dueAt = time.Time{}
	if nextDue >= 0 {
		s.dueAt = time.Now().Add(time.Duration(nextDue) * time.Millisecond)
	}
	s.mu.Unlock()
	return messages, nil
}

// run runs a settlement script. Its 0 reply (instead of 1) means an expired lease had already
// returned the message to the queue, where it is delivered again: nothing more to do here.
func (s *listSource) run(ctx context.Context, script luaScript, keys []string, args ...any) error {
	return script.Run(ctx, s.client, keys, args...).Err()
}

// plainAckBytes: from this size up a first attempt is acknowledged by a bare LREM, which
// protocol/redis.md allows (it has no attempts field yet): a script copies each argument into Lua,
// about 1.4 ms of Redis's time a megabyte, where LREM only compares. Smaller acks share list-ack calls.
const plainAckBytes = 16 * 1024

func (s *listSource) ack(ctx context.Context, m fetched) error {
	if m.attempt == 1 && len(m.body) >= plainAckBytes {
		return s.client.LRem(ctx, s.processing(), -1, m.body).Err()
	}
	return s.settler.run(ctx, listAckScript, []string{s.processing(), s.keys.attempts}, m.body)
}

func (s *listSource) retry(ctx context.Context, m fetched, delay time.Duration) (*fetched, error) {
	return nil, s.settler.run(ctx, listRetryScript, []string{s.processing(), s.keys.attempts, s.keys.queue, s.keys.delayed}, m.body, delay.Milliseconds(), randomID())
}

func (s *listSource) deadLetter(ctx context.Context, m fetched, frame []byte) error {
	return s.settler.run(ctx, listDeadLetterScript, []string{s.processing(), s.keys.attempts, s.keys.dead}, m.body, frame)
}

// release: the waiting messages are in the processing list too, which list-release returns whole.
func (s *listSource) release(ctx context.Context, started, _ []fetched) error {
	args := []any{s.consumerID}
	for _, m := range started {
		args = append(args, m.body)
	}
	return s.run(ctx, listReleaseScript, []string{s.processing(), s.keys.queue, s.keys.attempts, s.keys.consumers, s.landing()}, args...)
}

// tick renews this consumer's lease and returns the messages of consumers whose lease expired.
func (s *listSource) tick(ctx context.Context, _ []fetched) error {
	return s.run(ctx, listReapScript, []string{s.keys.queue, s.keys.consumers, s.keys.attempts}, s.keys.processingPrefix, s.consumerID, s.lease.Milliseconds(), s.keys.landingPrefix)
}

func (s *listSource) tickInterval() time.Duration { return max(100*time.Millisecond, s.lease/3) }

func (s *listSource) dispose() {
	s.settler.stop()
	_ = s.blocking.Close()
}

// isReplyError tells Redis's answer (a refused write, WRONGTYPE) from a lost connection.
func isReplyError(err error) bool {
	var reply redis.Error
	if errors.As(err, &reply) && !errors.Is(err, redis.Nil) {
		message := reply.Error()
		return !strings.HasPrefix(message, "LOADING") && !strings.HasPrefix(message, "MASTERDOWN")
	}
	return false
}
