import { isDeepStrictEqual } from 'node:util';
import {
  bytesOf,
  check,
  envelopeBytes,
  expectDeadLetter,
  expectExactly,
  harnessMeta,
  newId,
  QUIET_MS,
  type Scenario,
  type ScenarioContext,
  ScenarioFailure,
  sleep,
  waitForReply,
} from './scenario.js';

/** The scenarios that share the main worker `w1` on the main queue (protocol/conformance.md §4). */
export const MAIN_SCENARIOS: readonly Scenario[] = [
  {
    name: 'handled-once',
    async run(context) {
      const id = newId();
      const body = envelopeBytes('conformance.echo', { id }, harnessMeta());
      await context.publish(context.settings.queue, body);
      const reply = await waitForReply(context, id, 'conformance.echoed');
      check(reply.attempt === 1, `handled as attempt ${reply.attempt}, expected 1`);
      await expectExactly(context.observer, id, 'conformance.echoed', 1);
      check(context.observer.deadLettersOf(body).length === 0, 'it was also dead-lettered');
    },
  },
  {
    name: 'envelope-intact',
    async run(context) {
      const id = newId();
      const sent = {
        event: 'conformance.echo',
        payload: {
          id,
          text: 'naïve café, 東京, emoji 🚀, quote " and backslash \\',
          nested: { list: [1, -2.5, 2.5e-7, true, false, null, 'x'], empty: {}, none: [] },
          count: 9_007_199_254_740_991,
        },
        meta: harnessMeta({
          correlation_id: 'conformance-correlation',
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          x_conformance: { kept: true },
        }),
      };
      await context.publish(context.settings.queue, bytesOf(JSON.stringify(sent)));
      const reply = await waitForReply(context, id, 'conformance.echoed');
      const received = reply.envelope.payload.received as Record<string, unknown> | undefined;
      check(received !== undefined, 'the reply has no `received`');
      for (const member of ['event', 'payload', 'meta'] as const) {
        check(
          isDeepStrictEqual(plain(received[member]), sent[member]),
          `received.${member} differs: ${JSON.stringify(received[member])} ≠ ${JSON.stringify(sent[member])}`,
        );
      }
    },
  },
  {
    name: 'bare-envelope',
    async run(context) {
      const id = newId();
      await context.publish(context.settings.queue, envelopeBytes('conformance.echo', { id }));
      const reply = await waitForReply(context, id, 'conformance.echoed');
      const received = reply.envelope.payload.received as Record<string, unknown> | undefined;
      check(received !== undefined, 'the reply has no `received`');
      check(
        !('meta' in received),
        `received has a meta the message did not have: ${JSON.stringify(received.meta)}`,
      );
    },
  },
  {
    name: 'reply-valid',
    async run(context) {
      const id = newId();
      await context.publish(context.settings.queue, envelopeBytes('conformance.echo', { id }, harnessMeta()));
      await waitForReply(context, id, 'conformance.echoed').catch(() => undefined);
      // Judged on every reply of the run: a reply that is no valid envelope, or lacks its meta, lands here.
      await context.othersFinished();
      const invalid = context.observer.invalidReplies;
      check(invalid.length === 0, `invalid replies: ${invalid.slice(0, 3).join(' | ')}`);
      check(
        context.observer.repliesFor(id, 'conformance.echoed').length > 0,
        `no conformance.echoed for ${id}`,
      );
    },
  },
  {
    name: 'retry-attempts',
    async run(context) {
      const id = newId();
      const body = envelopeBytes('conformance.fail', { id, failures: 2 }, harnessMeta());
      await context.publish(context.settings.queue, body);
      await waitForReply(context, id, 'conformance.attempted', retryWaitMs(context, 3), isSucceeded);
      const attempts = await expectExactly(context.observer, id, 'conformance.attempted', 3);
      const seen = attempts.map((reply) => `${reply.attempt}:${reply.envelope.payload.outcome}`).sort();
      check(
        isDeepStrictEqual(seen, ['1:failed', '2:failed', '3:succeeded']),
        `attempts seen ${seen.join(', ')}, expected 1:failed, 2:failed, 3:succeeded`,
      );
      check(context.observer.deadLettersOf(body).length === 0, 'it was dead-lettered although it succeeded');
    },
  },
  {
    name: 'retry-backoff',
    async run(context) {
      const { backoffMs, maxBackoffMs } = context.settings;
      const id = newId();
      await context.publish(context.settings.queue, envelopeBytes('conformance.fail', { id, failures: 2 }));
      await waitForReply(context, id, 'conformance.attempted', retryWaitMs(context, 3), isSucceeded);
      const byAttempt = new Map(
        context.observer.repliesFor(id, 'conformance.attempted').map((r) => [r.attempt, r]),
      );
      for (const attempt of [1, 2]) {
        const before = byAttempt.get(attempt);
        const after = byAttempt.get(attempt + 1);
        check(before !== undefined && after !== undefined, `attempt ${attempt} or ${attempt + 1} is missing`);
        const delay = Math.min(backoffMs * 2 ** (attempt - 1), maxBackoffMs);
        const gap = after.at - before.at;
        check(
          gap >= delay - 50,
          `attempt ${attempt + 1} came ${gap} ms after attempt ${attempt}, before ${delay} ms`,
        );
        const bound = Math.min(2 * delay, maxBackoffMs) + 3_000;
        check(
          gap <= bound,
          `attempt ${attempt + 1} came ${gap} ms after attempt ${attempt}, later than ${bound} ms`,
        );
      }
    },
  },
  {
    name: 'max-attempts',
    async run(context) {
      const { maxAttempts } = context.settings;
      const id = newId();
      const body = envelopeBytes('conformance.fail', { id, failures: 1000 }, harnessMeta());
      await context.publish(context.settings.queue, body);
      await expectDeadLetter(
        context,
        body,
        { code: 'max_attempts', attempts: maxAttempts },
        retryWaitMs(context, maxAttempts),
      );
      const attempts = await expectExactly(context.observer, id, 'conformance.attempted', maxAttempts);
      const numbers = attempts.map((reply) => reply.attempt).sort((a, b) => (a ?? 0) - (b ?? 0));
      check(
        isDeepStrictEqual(
          numbers,
          Array.from({ length: maxAttempts }, (_, index) => index + 1),
        ),
        `attempts seen ${numbers.join(', ')}`,
      );
      check(context.observer.deadLettersOf(body).length === 1, 'dead-lettered more than once');
    },
  },
  {
    name: 'permanent-error',
    async run(context) {
      const id = newId();
      const body = envelopeBytes('conformance.permanent', { id }, harnessMeta());
      await context.publish(context.settings.queue, body);
      await expectDeadLetter(context, body, { code: 'non_retryable', attempts: 1 });
      const attempts = await expectExactly(context.observer, id, 'conformance.attempted', 1);
      check(attempts[0]?.attempt === 1, `attempted as attempt ${attempts[0]?.attempt}`);
    },
  },
  {
    name: 'unknown-event',
    async run(context) {
      const body = envelopeBytes('conformance.unknown', { id: newId() }, harnessMeta());
      await context.publish(context.settings.queue, body);
      await expectDeadLetter(context, body, { code: 'unknown_event', attempts: 1 });
    },
  },
  hostile('malformed-json', 'invalid_json', (id) =>
    bytesOf(`{"event":"conformance.echo","payload":{"id":"${id}"`),
  ),
  hostile('invalid-utf8', 'invalid_utf8', (id) =>
    Buffer.concat([
      Buffer.from(`{"event":"conformance.echo","payload":{"id":"${id}","text":"`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}}'),
    ]),
  ),
  hostile('duplicate-key', 'duplicate_key', (id) =>
    bytesOf(`{"event":"conformance.echo","payload":{"id":"${id}","id":"${id}-again"}}`),
  ),
  hostile('proto-key', 'forbidden_key', (id) =>
    bytesOf(`{"event":"conformance.echo","payload":{"id":"${id}","__proto__":{"polluted":true}}}`),
  ),
  hostile('deep-nesting', 'too_deep', (id) =>
    bytesOf(
      `{"event":"conformance.echo","payload":{"id":"${id}","deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`,
    ),
  ),
  hostile('oversized', 'payload_too_large', (id, context) =>
    envelopeBytes('conformance.echo', { id, filler: 'x'.repeat(context.settings.maxPayloadBytes + 1_024) }),
  ),
  hostile('unsafe-integer', 'unsafe_integer', (id) =>
    bytesOf(`{"event":"conformance.echo","payload":{"id":"${id}","count":9007199254740993}}`),
  ),
  hostile('schema-violation', 'schema_violation', (id) =>
    bytesOf(`{"event":"Conformance Echo!","payload":["${id}"]}`),
  ),
  {
    name: 'within-limit',
    async run(context) {
      // Exactly the limit: the worker must not count it as too large. Its reply is small, unlike an echo.
      const id = newId();
      const empty = envelopeBytes('conformance.fail', { id, failures: 0, filler: '' }).byteLength;
      const filler = 'x'.repeat(context.settings.maxPayloadBytes - empty);
      const body = envelopeBytes('conformance.fail', { id, failures: 0, filler });
      check(body.byteLength === context.settings.maxPayloadBytes, `built ${body.byteLength} bytes`);
      await context.publish(context.settings.queue, body);
      await waitForReply(context, id, 'conformance.attempted', 0, isSucceeded).catch((error: Error) => {
        const dead = context.observer.deadLettersOf(body)[0]?.letter;
        throw dead
          ? new ScenarioFailure(`dead-lettered with ${dead.error.code} at exactly the limit`)
          : error;
      });
    },
  },
  {
    name: 'concurrency-bound',
    async run(context) {
      const { concurrency, queue, workerId } = context.settings;
      const ids = Array.from({ length: 3 * concurrency }, newId);
      await Promise.all(
        ids.map((id) =>
          context.publish(queue, envelopeBytes('conformance.sleep', { id, ms: 400 }, harnessMeta()), id),
        ),
      );
      await Promise.all(ids.map((id) => waitForReply(context, id, 'conformance.slept', 3 * 400)));
      await sleep(QUIET_MS);
      const marks: { at: number; change: number }[] = [];
      for (const id of ids) {
        const started = context.observer.repliesFor(id, 'conformance.started');
        const slept = context.observer.repliesFor(id, 'conformance.slept');
        check(
          started.length === 1 && slept.length === 1,
          `${id} started ${started.length}, slept ${slept.length} times`,
        );
        check(started[0]!.worker === workerId, `${id} was handled by ${started[0]!.worker}, not ${workerId}`);
        marks.push({ at: started[0]!.at, change: 1 }, { at: slept[0]!.at, change: -1 });
      }
      // Ends before starts at the same millisecond: a slot freed and taken again is not an overlap.
      marks.sort((a, b) => a.at - b.at || a.change - b.change);
      let running = 0;
      let most = 0;
      for (const mark of marks) {
        running += mark.change;
        most = Math.max(most, running);
      }
      check(most <= concurrency, `${most} handlers ran at once, more than the concurrency of ${concurrency}`);
      check(
        concurrency < 2 || most >= 2,
        `the handlers ran one at a time, at a concurrency of ${concurrency}`,
      );
    },
  },
];

const isSucceeded = (reply: { envelope: { payload: Record<string, unknown> } }) =>
  reply.envelope.payload.outcome === 'succeeded';

/** What attempt `attempts` may take beyond the usual wait: every backoff before it at its longest. */
function retryWaitMs(context: ScenarioContext, attempts: number): number {
  const { backoffMs, maxBackoffMs } = context.settings;
  let total = 0;
  for (let attempt = 1; attempt < attempts; attempt++)
    total += Math.min(2 * backoffMs * 2 ** (attempt - 1), maxBackoffMs);
  return total;
}

/**
 * A hostile message is dead-lettered at once with the codec's reason and its bytes unchanged, and the
 * worker goes on: an echo published right after it is handled.
 */
function hostile(
  name: string,
  code: string,
  make: (id: string, context: ScenarioContext) => Uint8Array,
): Scenario {
  return {
    name,
    async run(context) {
      const body = make(newId(), context);
      const next = newId();
      await context.publish(context.settings.queue, body);
      await context.publish(
        context.settings.queue,
        envelopeBytes('conformance.echo', { id: next }, harnessMeta()),
      );
      await expectDeadLetter(context, body, { code, attempts: 1 });
      await waitForReply(context, next, 'conformance.echoed');
    },
  };
}

/** A decoded value as plain JSON data (a runtime's decoder may build objects without prototypes). */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
