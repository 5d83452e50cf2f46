import { expect } from 'vitest';
import { decodeDeadLetter } from '../dead-letter.js';
import { PayloadTooLargeError, TransportError, ValidationError } from '../errors.js';
import { deadLetterQueueName } from '../event-name.js';
import type {
  Delivery,
  OutgoingMessage,
  QueueStats,
  Transport,
  TransportCapabilities,
} from '../transport.js';
import type {
  CollectOptions,
  ConformanceCaseId,
  ConformanceContext,
  Received,
  ResolvedFeatures,
} from './context.js';
import { arbitraryBytes, roundTripBodies } from './vectors.js';

/**
 * One conformance case. `skipReason` reads the capabilities (and test-only features) and says why
 * the case cannot run; `title` may adapt to the capabilities, as the fan-out case does.
 */
export interface ConformanceCase {
  id: ConformanceCaseId;
  title: string | ((capabilities: TransportCapabilities) => string);
  skipReason?: (capabilities: TransportCapabilities, features: ResolvedFeatures) => string | undefined;
  /** Extra time the case needs beyond the kit's default per-test timeout. */
  extraTimeoutMs?: (features: ResolvedFeatures) => number;
  run: (context: ConformanceContext) => Promise<void>;
}

const utf8 = new TextEncoder();
const text = (value: string) => utf8.encode(value);
const messages = (bodies: readonly string[]): OutgoingMessage[] =>
  bodies.map((body) => ({ body: text(body) }));
const base64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** Counts how often each text was received, to prove exactly-once delivery. */
function counts(received: readonly Received[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const entry of received) seen.set(entry.text, (seen.get(entry.text) ?? 0) + 1);
  return seen;
}

function expectExactlyOnce(received: readonly Received[], expected: readonly string[], what: string): void {
  const seen = counts(received);
  const missing = expected.filter((body) => !seen.has(body));
  const duplicated = [...seen].filter(([, count]) => count > 1).map(([body, count]) => `${body} ×${count}`);
  const unexpected = [...seen.keys()].filter((body) => !expected.includes(body));
  expect({ what, missing, duplicated, unexpected }).toEqual({
    what,
    missing: [],
    duplicated: [],
    unexpected: [],
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('[thrun:conformance] expected a rejection, but the promise resolved');
}

function expectClosedError(error: unknown): void {
  expect(TransportError.isInstance(error), `expected a TransportError, got ${String(error)}`).toBe(true);
  expect((error as TransportError).code).toBe('closed');
}

/** A handler that never settles, as a consumer stuck or killed mid-job would. */
const never = () => new Promise<void>(() => {});

/**
 * Watches for a message that must not come back: a lost ack shows only once the broker's lease or
 * visibility timeout has run out, so the quiet period starts after that.
 */
const pastRedelivery = (ctx: ConformanceContext) =>
  ctx.quiet(ctx.features.redeliveryAfterMs + ctx.features.quietPeriodMs);

/**
 * A queue whose consumer settles with `settle`, and a collector on its dead-letter queue, subscribed
 * first: with fan-out, a group sees only the messages published after it subscribed.
 */
async function withDeadQueue(ctx: ConformanceContext, settle: NonNullable<CollectOptions['onDelivery']>) {
  const queue = ctx.queue();
  const [producer, consumer, inspector] = [
    await ctx.transport(),
    await ctx.transport(),
    await ctx.transport(),
  ];
  const dead = await ctx.collect(inspector, deadLetterQueueName(queue));
  const collector = await ctx.collect(consumer, queue, { onDelivery: settle });
  return { queue, producer, collector, dead };
}

const transportCases: ConformanceCase[] = [
  {
    id: 'contract',
    title: 'states specificationVersion v1, a name and well-formed capabilities, the same on every instance',
    async run(ctx) {
      const [a, b] = [await ctx.transport(), await ctx.transport()];
      for (const transport of [a, b]) {
        expect(transport.specificationVersion).toBe('v1');
        expect(typeof transport.name).toBe('string');
        expect(transport.name.length).toBeGreaterThan(0);
        expect(transport.capabilities).toEqual(ctx.capabilities);
      }
      const capabilities = a.capabilities;
      expect(['none', 'per-key', 'fifo']).toContain(capabilities.ordering);
      expect(Number.isSafeInteger(capabilities.maxPayloadBytes) && capabilities.maxPayloadBytes > 0).toBe(
        true,
      );
      for (const flag of ['delay', 'fanout', 'persistent', 'deadLetter', 'redeliversUnacked'] as const) {
        expect(typeof capabilities[flag], `capabilities.${flag}`).toBe('boolean');
      }
    },
  },

  {
    id: 'round-trip',
    title: (capabilities) => {
      const { bodies, tooLarge } = roundTripBodies(capabilities.maxPayloadBytes);
      const vectors = bodies.filter((entry) => !entry.description.startsWith('built-in:')).length;
      const left = tooLarge.length > 0 ? `, ${tooLarge.length} over maxPayloadBytes left out` : '';
      return `delivers byte-identical ${vectors} codec vector inputs and ${bodies.length - vectors} built-in edge cases${left}`;
    },
    async run(ctx) {
      const { bodies } = roundTripBodies(ctx.capabilities.maxPayloadBytes);
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const queue = ctx.queue();
      const collector = await ctx.collect(consumer, queue, { concurrency: 4 });
      // One publish per body: a batch of every vector could exceed a broker's frame or request size.
      for (const entry of bodies) await producer.publish(queue, [{ body: entry.body }]);
      await collector.waitForCount(bodies.length);
      await ctx.quiet();

      const expected = new Map<string, string[]>();
      for (const entry of bodies) {
        const key = base64(entry.body);
        expected.set(key, [...(expected.get(key) ?? []), entry.description]);
      }
      const got = new Map<string, number>();
      for (const entry of collector.received) {
        expect(entry.queue).toBe(queue);
        got.set(base64(entry.body), (got.get(base64(entry.body)) ?? 0) + 1);
      }
      const problems: string[] = [];
      for (const [key, descriptions] of expected) {
        const count = got.get(key) ?? 0;
        if (count !== descriptions.length)
          problems.push(`${descriptions.join(' / ')}: sent ${descriptions.length}, received ${count}`);
      }
      for (const [key, count] of got) {
        if (!expected.has(key))
          problems.push(`received ${count} unexpected body(ies) of ${key.length} base64 chars`);
      }
      expect(problems).toEqual([]);
    },
  },

  {
    id: 'concurrent-publishers',
    title: 'delivers 1,000 messages from 10 concurrent publishers exactly once when acked',
    extraTimeoutMs: (features) => features.deliveryTimeoutMs,
    async run(ctx) {
      const queue = ctx.queue();
      const consumer = await ctx.transport();
      const collector = await ctx.collect(consumer, queue, { concurrency: 10 });
      const publishers = await Promise.all(Array.from({ length: 10 }, () => ctx.transport()));
      const expected: string[] = [];
      await Promise.all(
        publishers.map((publisher, p) => {
          // 20 concurrent publish calls of 5 messages each, per publisher.
          const calls: Promise<void>[] = [];
          for (let call = 0; call < 20; call++) {
            const bodies = Array.from({ length: 5 }, (_, i) => `publisher-${p}-message-${call * 5 + i}`);
            expected.push(...bodies);
            calls.push(publisher.publish(queue, messages(bodies)));
          }
          return Promise.all(calls);
        }),
      );
      expect(expected.length).toBe(1000);
      await collector.waitForCount(1000, '1,000 deliveries', ctx.features.deliveryTimeoutMs * 2);
      await ctx.quiet();
      expectExactlyOnce(collector.received, expected, '1,000 messages from 10 publishers');
    },
  },

  {
    id: 'ack-removes',
    title:
      'ack removes the message: a later consumer of the group gets nothing, even after the redelivery time',
    extraTimeoutMs: (features) => features.redeliveryAfterMs,
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, first] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(first, queue, { group: 'workers' });
      await producer.publish(queue, messages(['acked once']));
      await collector.waitForCount(1);
      await first.close();
      const second = await ctx.collect(await ctx.transport(), queue, { group: 'workers' });
      await pastRedelivery(ctx);
      expect(collector.received.map((entry) => entry.text)).toEqual(['acked once']);
      expect(second.received.map((entry) => entry.text)).toEqual([]);
    },
  },

  {
    id: 'retry-attempt',
    title: 'retry() redelivers the same bytes as attempt + 1',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue, {
        onDelivery: (received, delivery) => (received.attempt < 3 ? delivery.retry() : delivery.ack()),
      });
      const body = new Uint8Array([0x7b, 0xff, 0x00, 0x7d]);
      await producer.publish(queue, [{ body }]);
      await collector.waitForCount(3);
      await ctx.quiet();
      expect(collector.received.map((entry) => entry.attempt)).toEqual([1, 2, 3]);
      for (const entry of collector.received) expect(base64(entry.body)).toBe(base64(body));
    },
  },

  {
    id: 'delayed-retry',
    title: 'retry(delayMs) is not redelivered before the delay and does not block the messages behind it',
    skipReason: (capabilities) => (capabilities.delay ? undefined : 'capabilities.delay is false'),
    async run(ctx) {
      const delayMs = 1_500;
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      let retriedAt = 0;
      const collector = await ctx.collect(consumer, queue, {
        onDelivery: (received, delivery) => {
          if (received.text === 'delayed' && received.attempt === 1) {
            retriedAt = Date.now();
            return delivery.retry(delayMs);
          }
          return delivery.ack();
        },
      });
      await producer.publish(queue, messages(['delayed']));
      await ctx.waitFor(() => retriedAt > 0, 'the first delivery');
      await producer.publish(queue, messages(['behind']));
      await collector.waitForCount(3);
      const [first, behind, again] = collector.received;
      expect([first?.text, behind?.text, again?.text]).toEqual(['delayed', 'behind', 'delayed']);
      expect(again?.attempt).toBe(2);
      // 10 ms of slack for clock granularity; anything earlier is an early delivery.
      expect(again!.at - retriedAt).toBeGreaterThanOrEqual(delayMs - 10);
    },
  },

  {
    id: 'delayed-publish',
    title: 'a message published with delayMs is not delivered before the delay',
    skipReason: (capabilities) => (capabilities.delay ? undefined : 'capabilities.delay is false'),
    async run(ctx) {
      const delayMs = 1_500;
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue);
      const publishedAt = Date.now();
      await producer.publish(queue, [{ body: text('later'), delayMs }, { body: text('now') }]);
      await collector.waitForCount(2);
      expect(collector.received.map((entry) => entry.text)).toEqual(['now', 'later']);
      expect(collector.received[1]!.at - publishedAt).toBeGreaterThanOrEqual(delayMs - 10);
      expect(collector.received[1]!.attempt).toBe(1);
    },
  },

  {
    id: 'dead-letter',
    title: 'deadLetter() moves the original bytes and the reason to <queue>.dead and removes the message',
    skipReason: (capabilities) => (capabilities.deadLetter ? undefined : 'capabilities.deadLetter is false'),
    async run(ctx) {
      const reason = { code: 'conformance_check', message: 'dead-lettered by the conformance kit: "é" 😀' };
      const { queue, producer, collector, dead } = await withDeadQueue(ctx, (received, delivery) =>
        received.attempt === 1 ? delivery.retry() : delivery.deadLetter(reason),
      );
      const bodies = [
        text('{"event":"order_created","payload":{"emoji":"😀"}}'),
        new Uint8Array([0xff, 0x00, 0xc0, 0x41]),
      ];
      const startedAt = Date.now();
      await producer.publish(
        queue,
        bodies.map((body) => ({ body })),
      );
      await dead.waitForCount(2, 'two dead-letter records');
      await ctx.quiet();

      expect(collector.received.map((entry) => entry.attempt).sort()).toEqual([1, 1, 2, 2]);
      expect(dead.received).toHaveLength(2);
      const records = dead.received.map((entry) =>
        decodeDeadLetter({ body: entry.body, headers: entry.delivery.headers }),
      );
      expect(records.map((record) => base64(record.originalBody)).sort()).toEqual(bodies.map(base64).sort());
      for (const record of records) {
        expect(record.queue).toBe(queue);
        expect(record.error).toEqual(reason);
        expect(record.attempts).toBe(2);
        const failedAt = Date.parse(record.failed_at);
        expect(failedAt).toBeGreaterThanOrEqual(startedAt - 1_000);
        expect(failedAt).toBeLessThanOrEqual(Date.now() + 1_000);
      }
    },
  },

  {
    id: 'dead-letter-fits',
    title:
      'a body of maxPayloadBytes that escaping would blow up (control bytes, invalid UTF-8) is dead-lettered once, unchanged',
    skipReason: (capabilities) => (capabilities.deadLetter ? undefined : 'capabilities.deadLetter is false'),
    async run(ctx) {
      // Longer than any reason a runtime writes: the description stays bounded whatever it is told.
      const reason = { code: 'conformance_too_big', message: 'x'.repeat(5_000) };
      const { queue, producer, collector, dead } = await withDeadQueue(ctx, (_received, delivery) =>
        delivery.deadLetter(reason),
      );
      const size = ctx.capabilities.maxPayloadBytes;
      const control = new Uint8Array(size).fill(0x01); // each byte would be `\u0001` in JSON
      const binary = new Uint8Array(size).map((_, index) => (index % 2 === 0 ? 0xff : 0x00));
      for (const body of [control, binary]) await producer.publish(queue, [{ body }]);
      await dead.waitForCount(2, 'two dead letters');
      await ctx.quiet();

      expect(collector.received.map((entry) => entry.attempt)).toEqual([1, 1]);
      expect(dead.received).toHaveLength(2);
      const letters = dead.received.map((entry) =>
        decodeDeadLetter({ body: entry.body, headers: entry.delivery.headers }),
      );
      expect(letters.map((letter) => base64(letter.originalBody)).sort()).toEqual(
        [control, binary].map(base64).sort(),
      );
      for (const letter of letters) {
        expect(letter.queue).toBe(queue);
        expect(letter.error.code).toBe(reason.code);
        expect(letter.error.message.length).toBeLessThan(reason.message.length);
      }
    },
  },

  {
    id: 'competing-consumers',
    title: 'competing consumers of one group never both get a message',
    async run(ctx) {
      const queue = ctx.queue();
      const producer = await ctx.transport();
      const workers = await Promise.all(
        [0, 1, 2].map(async () =>
          ctx.collect(await ctx.transport(), queue, { group: 'workers', concurrency: 2 }),
        ),
      );
      const expected = Array.from({ length: 150 }, (_, i) => `job-${i}`);
      for (let i = 0; i < expected.length; i += 10)
        await producer.publish(queue, messages(expected.slice(i, i + 10)));
      const all = () => workers.flatMap((worker) => worker.received);
      await ctx.waitFor(
        () => all().length >= expected.length,
        `${expected.length} deliveries across 3 consumers`,
      );
      await ctx.quiet();
      expectExactlyOnce(all(), expected, 'one group of three consumers');
    },
  },

  {
    id: 'fanout',
    title: (capabilities) =>
      capabilities.fanout
        ? 'fan-out: each consumer group receives its own copy of every message'
        : 'groups share one copy: each message goes to exactly one group (capabilities.fanout is false)',
    async run(ctx) {
      const queue = ctx.queue();
      const producer = await ctx.transport();
      const alpha = await Promise.all(
        [0, 1].map(async () => ctx.collect(await ctx.transport(), queue, { group: 'alpha' })),
      );
      const beta = await ctx.collect(await ctx.transport(), queue, { group: 'beta' });
      const expected = Array.from({ length: 30 }, (_, i) => `copy-${i}`);
      await producer.publish(queue, messages(expected));
      const alphaReceived = () => alpha.flatMap((member) => member.received);
      if (ctx.capabilities.fanout) {
        await ctx.waitFor(
          () => alphaReceived().length >= 30 && beta.received.length >= 30,
          '30 deliveries per group',
        );
        await ctx.quiet();
        expectExactlyOnce(alphaReceived(), expected, 'group alpha (two members)');
        expectExactlyOnce(beta.received, expected, 'group beta');
      } else {
        const all = () => [...alphaReceived(), ...beta.received];
        await ctx.waitFor(() => all().length >= 30, '30 deliveries across groups');
        await ctx.quiet();
        expectExactlyOnce(all(), expected, 'groups alpha and beta together');
      }
    },
  },

  {
    id: 'isolation',
    title: 'queues are isolated: a consumer receives only its own queue',
    async run(ctx) {
      const [first, second] = [ctx.queue('isolation-a'), ctx.queue('isolation-b')];
      const producer = await ctx.transport();
      const onFirst = await ctx.collect(await ctx.transport(), first);
      const onSecond = await ctx.collect(await ctx.transport(), second);
      await producer.publish(first, messages(['a-1', 'a-2', 'a-3']));
      await producer.publish(second, messages(['b-1', 'b-2']));
      await onFirst.waitForCount(3);
      await onSecond.waitForCount(2);
      await ctx.quiet();
      expectExactlyOnce(onFirst.received, ['a-1', 'a-2', 'a-3'], first);
      expectExactlyOnce(onSecond.received, ['b-1', 'b-2'], second);
      for (const entry of onFirst.received) expect(entry.queue).toBe(first);
      for (const entry of onSecond.received) expect(entry.queue).toBe(second);
    },
  },

  {
    id: 'invalid-queue',
    title: 'an invalid queue name is rejected with ValidationError invalid_queue_name',
    async run(ctx) {
      const transport = await ctx.transport();
      for (const queue of ['', 'Orders', 'orders queue', 'orders..dead', '../etc', 'x'.repeat(256)]) {
        for (const attempt of [
          transport.publish(queue, messages(['never sent'])),
          transport.consume(queue, (delivery) => delivery.ack()),
        ]) {
          const error = await rejection(attempt);
          expect(
            ValidationError.isInstance(error),
            `expected a ValidationError for ${JSON.stringify(queue)}`,
          ).toBe(true);
          expect((error as ValidationError).code).toBe('invalid_queue_name');
        }
      }
    },
  },

  {
    id: 'resubscribe',
    title: 'a closed subscription receives nothing more; a new one on the same transport continues the queue',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const first = await ctx.collect(consumer, queue, { group: 'workers' });
      await producer.publish(queue, messages(['first']));
      await first.waitForCount(1);
      await first.subscription.close();
      await first.subscription.close();
      await producer.publish(queue, messages(['second', 'third']));
      // Published while nobody listens, then a fresh subscription of the group takes them.
      const second = await ctx.collect(consumer, queue, { group: 'workers' });
      await second.waitForCount(2);
      await ctx.quiet();
      expect(first.received.map((entry) => entry.text)).toEqual(['first']);
      expectExactlyOnce(second.received, ['second', 'third'], 'the new subscription');
    },
  },

  {
    id: 'fifo-order',
    title: 'FIFO: one consumer at concurrency 1 receives a queue in publish order',
    skipReason: (capabilities) =>
      capabilities.ordering === 'fifo' ? undefined : `capabilities.ordering is '${capabilities.ordering}'`,
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue, { concurrency: 1 });
      const expected = Array.from({ length: 200 }, (_, i) => `ordered-${String(i).padStart(3, '0')}`);
      // A batch, then single publishes one after the other, then a batch again.
      await producer.publish(queue, messages(expected.slice(0, 100)));
      for (const body of expected.slice(100, 150)) await producer.publish(queue, messages([body]));
      await producer.publish(queue, messages(expected.slice(150)));
      await collector.waitForCount(expected.length);
      await ctx.quiet();
      expect(collector.received.map((entry) => entry.text)).toEqual(expected);
    },
  },

  {
    id: 'per-key-order',
    title: 'per-key order: one consumer at concurrency 1 receives each key in publish order',
    skipReason: (capabilities) =>
      capabilities.ordering === 'none' ? "capabilities.ordering is 'none'" : undefined,
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue, { concurrency: 1 });
      const sent: OutgoingMessage[] = Array.from({ length: 200 }, (_, i) => ({
        body: text(`key-${i % 5}:${String(i).padStart(3, '0')}`),
        key: `key-${i % 5}`,
      }));
      for (let i = 0; i < sent.length; i += 20) await producer.publish(queue, sent.slice(i, i + 20));
      await collector.waitForCount(sent.length);
      await ctx.quiet();
      expect(collector.received).toHaveLength(sent.length);
      for (const entry of collector.received) {
        // A transport need not hand the key back, but when it does it must be the published one.
        if (entry.key !== undefined) expect(entry.text.startsWith(`${entry.key}:`)).toBe(true);
      }
      for (let k = 0; k < 5; k++) {
        const key = `key-${k}`;
        const order = (texts: string[]) => texts.filter((body) => body.startsWith(`${key}:`));
        expect(order(collector.received.map((entry) => entry.text))).toEqual(
          order(sent.map((message) => Buffer.from(message.body).toString())),
        );
      }
    },
  },

  {
    id: 'persistence',
    title: 'messages survive the transport instance (and the broker, given restartBroker)',
    skipReason: (capabilities) => (capabilities.persistent ? undefined : 'capabilities.persistent is false'),
    // A broker restart (stop, start, wait until ready) can take a couple of minutes on a busy machine.
    extraTimeoutMs: (features) => (features.restartBroker ? 180_000 : 0),
    async run(ctx) {
      const queue = ctx.queue();
      // Create the group first: with fan-out, a group sees only messages published after it exists.
      const setup = await ctx.transport();
      const first = await ctx.collect(setup, queue, { group: 'durable' });
      await first.subscription.close();
      await setup.close();
      const producer = await ctx.transport();
      await producer.publish(queue, messages(['kept-1', 'kept-2', 'kept-3']));
      await producer.close();
      if (ctx.features.restartBroker) await ctx.features.restartBroker();
      const revived = await ctx.collect(await ctx.transport(), queue, { group: 'durable' });
      await revived.waitForCount(3);
      await ctx.quiet();
      expectExactlyOnce(revived.received, ['kept-1', 'kept-2', 'kept-3'], 'a new transport instance');
    },
  },

  {
    id: 'oversized',
    title: 'a body over maxPayloadBytes is rejected with PayloadTooLargeError and nothing is delivered',
    skipReason: (capabilities) =>
      capabilities.maxPayloadBytes > 64 * 1024 * 1024
        ? `maxPayloadBytes (${capabilities.maxPayloadBytes}) is too large to allocate in a test`
        : undefined,
    async run(ctx) {
      const max = ctx.capabilities.maxPayloadBytes;
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue);
      const tooLarge = new Uint8Array(max + 1);
      for (const batch of [
        [{ body: tooLarge }],
        [{ body: text('small, before the large one') }, { body: tooLarge }],
      ]) {
        const error = await rejection(producer.publish(queue, batch));
        expect(
          PayloadTooLargeError.isInstance(error),
          `expected a PayloadTooLargeError, got ${String(error)}`,
        ).toBe(true);
        expect((error as PayloadTooLargeError).code).toBe('payload_too_large');
      }
      // The limit itself is accepted and arrives whole; a marker after it shows the consumer is live.
      const atLimit = arbitraryBytes(max, 7);
      await producer.publish(queue, [{ body: atLimit }]);
      await producer.publish(queue, messages(['marker']));
      await collector.waitForCount(2);
      await ctx.quiet();
      expect(collector.received).toHaveLength(2);
      const bodies = collector.received.map((entry) => entry.body);
      expect(bodies.map((body) => body.byteLength).sort((x, y) => x - y)).toEqual(
        [6, max].sort((x, y) => x - y),
      );
      expect(bodies.some((body) => Buffer.from(body).equals(Buffer.from(atLimit)))).toBe(true);
    },
  },

  {
    id: 'close-idempotent',
    title: 'close() is idempotent; publish and consume after close reject with TransportError closed',
    async run(ctx) {
      const transport = await ctx.transport();
      const queue = ctx.queue();
      await transport.consume(queue, (delivery) => delivery.ack());
      const first = transport.close();
      const second = transport.close();
      await Promise.all([first, second]);
      await transport.close();
      expectClosedError(await rejection(transport.publish(queue, messages(['after close']))));
      expectClosedError(await rejection(transport.consume(queue, (delivery) => delivery.ack())));
    },
  },

  {
    id: 'close-drains',
    title: 'close() lets an in-flight handler finish and keeps its ack, even after the redelivery time',
    extraTimeoutMs: (features) => features.redeliveryAfterMs,
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      let finished = false;
      const collector = await ctx.collect(consumer, queue, {
        group: 'workers',
        onDelivery: async (_received, delivery) => {
          await ctx.sleep(300);
          await delivery.ack();
          finished = true;
        },
      });
      await producer.publish(queue, messages(['drained']));
      await collector.waitForCount(1);
      await consumer.close({ drainTimeoutMs: 30_000 });
      expect(finished).toBe(true);
      const later = await ctx.collect(await ctx.transport(), queue, { group: 'workers' });
      await pastRedelivery(ctx);
      expect(later.received).toHaveLength(0);
    },
  },

  {
    id: 'close-unblocks',
    title: 'close() returns after drainTimeoutMs despite a stuck handler, and the consumer stops receiving',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const stuck = await ctx.collect(consumer, queue, { onDelivery: never });
      const idle = await ctx.collect(consumer, ctx.queue('idle'));
      await producer.publish(queue, messages(['stuck']));
      await stuck.waitForCount(1);
      const startedAt = Date.now();
      // A consume racing the close must settle too: subscribed then stopped, or rejected as closed.
      const racing = consumer
        .consume(ctx.queue('racing'), (delivery) => delivery.ack())
        .then(
          (subscription) => subscription.close(),
          (error: unknown) => expectClosedError(error),
        );
      await consumer.close({ drainTimeoutMs: 200 });
      await racing;
      // Bounded: the drain timeout plus generous room for a busy machine and connection teardown.
      expect(Date.now() - startedAt).toBeLessThan(200 + ctx.features.deliveryTimeoutMs);
      await stuck.subscription.close();
      await idle.subscription.close();
      await producer.publish(queue, messages(['after close']));
      await ctx.quiet();
      expect(stuck.received.map((entry) => entry.text)).toEqual(['stuck']);
      expect(idle.received).toHaveLength(0);
    },
  },

  {
    id: 'abort-signal',
    title: 'an aborted signal stops consumption; the messages stay for other consumers',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const aborted = new AbortController();
      aborted.abort();
      const neverStarted = await ctx.collect(consumer, queue, { group: 'workers', signal: aborted.signal });
      const controller = new AbortController();
      const stopped = await ctx.collect(consumer, queue, { group: 'workers', signal: controller.signal });
      await producer.publish(queue, messages(['before abort']));
      await stopped.waitForCount(1);
      controller.abort();
      await ctx.quiet();
      await producer.publish(queue, messages(['after abort 1', 'after abort 2']));
      const successor = await ctx.collect(await ctx.transport(), queue, { group: 'workers' });
      await successor.waitForCount(2);
      await ctx.quiet();
      expect(neverStarted.received).toHaveLength(0);
      expect(stopped.received.map((entry) => entry.text)).toEqual(['before abort']);
      expectExactlyOnce(
        successor.received,
        ['after abort 1', 'after abort 2'],
        'the consumer after the abort',
      );
    },
  },

  {
    id: 'handler-throws',
    title: 'a handler that throws (or returns without settling) gets the message again as attempt + 1',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue, {
        onDelivery: async (received, delivery: Delivery) => {
          if (received.attempt > 1) return delivery.ack();
          if (received.text === 'throws') throw new Error('handler failed on purpose');
          // 'returns': settles nothing.
        },
      });
      await producer.publish(queue, messages(['throws', 'returns']));
      await collector.waitForCount(4);
      await ctx.quiet();
      const attempts = (body: string) =>
        collector.received.filter((entry) => entry.text === body).map((entry) => entry.attempt);
      expect(attempts('throws')).toEqual([1, 2]);
      expect(attempts('returns')).toEqual([1, 2]);
    },
  },

  {
    id: 'dead-consumer',
    title:
      'a consumer closed without settling (its handler still stuck) has its message redelivered to another as attempt + 1',
    skipReason: (capabilities) =>
      capabilities.redeliversUnacked ? undefined : 'capabilities.redeliversUnacked is false',
    extraTimeoutMs: (features) => features.redeliveryAfterMs,
    async run(ctx) {
      const queue = ctx.queue();
      // A graceful close() whose drain gives up on a stuck handler; the SIGKILL tests of each
      // transport cover a process that really dies.
      const [producer, closing] = [await ctx.transport(), await ctx.transport()];
      const stuck = await ctx.collect(closing, queue, { group: 'workers', onDelivery: never });
      const body = new Uint8Array([0x01, 0x00, 0xfe, 0x7b]);
      await producer.publish(queue, [{ body }]);
      await stuck.waitForCount(1);
      await closing.close({ drainTimeoutMs: 50 });
      const survivor = await ctx.collect(await ctx.transport(), queue, { group: 'workers' });
      await survivor.waitForCount(
        1,
        'the redelivery to another consumer',
        ctx.features.redeliveryAfterMs + ctx.features.deliveryTimeoutMs,
      );
      await ctx.quiet();
      expect(survivor.received).toHaveLength(1);
      expect(base64(survivor.received[0]!.body)).toBe(base64(body));
      expect(survivor.received[0]!.attempt).toBe(stuck.received[0]!.attempt + 1);
    },
  },

  {
    id: 'concurrency',
    title: 'concurrency: n runs n handlers at once when enough work waits, and never more',
    async run(ctx) {
      const concurrency = 4;
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const expected = Array.from({ length: 24 }, (_, i) => `bounded-${i}`);
      // All the work waits before the consumer starts, so n handlers at once is always possible.
      await producer.publish(queue, messages(expected));
      let inFlight = 0;
      let peak = 0;
      const collector = await ctx.collect(consumer, queue, {
        concurrency,
        onDelivery: async (_received, delivery) => {
          inFlight += 1;
          peak = Math.max(peak, inFlight);
          try {
            // Hold each handler until n ran at once: a transport that runs fewer never gets there.
            await ctx.waitFor(() => peak >= concurrency, `${concurrency} handlers in flight at once`);
            await ctx.sleep(5);
          } finally {
            inFlight -= 1;
          }
          await delivery.ack();
        },
      });
      await collector.waitForCount(expected.length);
      await ctx.quiet();
      expectExactlyOnce(collector.received, expected, `concurrency ${concurrency}`);
      expect(peak).toBe(concurrency);
    },
  },

  {
    id: 'peek',
    title: 'peek() lists waiting messages oldest first without consuming them',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      // Create the group first, so the messages wait for it rather than for a group yet to come.
      const setup = await ctx.collect(consumer, queue);
      await setup.subscription.close();
      const bodies = ['waiting-1', 'waiting-2', 'waiting-3'];
      for (const body of bodies) await producer.publish(queue, messages([body]));
      const peek = async (limit: number) =>
        (await producer.peek!(queue, limit)).map((message) => Buffer.from(message.body).toString());
      // Polls: a broker may make an accepted message visible to peek a moment later.
      let seen: string[] = [];
      for (const started = Date.now(); Date.now() - started < ctx.features.deliveryTimeoutMs; ) {
        seen = await peek(10);
        if (seen.length >= bodies.length) break;
        await ctx.sleep(20);
      }
      expect(seen).toEqual(bodies);
      expect(await peek(2)).toEqual(bodies.slice(0, 2));
      expect(await peek(10)).toEqual(bodies);
      const after = await ctx.collect(consumer, queue);
      await after.waitForCount(3);
      expectExactlyOnce(after.received, bodies, 'consumption after peek');
    },
  },

  {
    id: 'purge',
    title: 'purge() removes every waiting message and returns how many',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const setup = await ctx.collect(consumer, queue);
      await setup.subscription.close();
      await producer.publish(queue, messages(['purged-1', 'purged-2', 'purged-3', 'purged-4']));
      expect(await producer.purge!(queue)).toBe(4);
      const after = await ctx.collect(consumer, queue);
      await ctx.quiet();
      expect(after.received).toHaveLength(0);
    },
  },
];

/** Whether a transport has the optional method a case needs (`peek`, `purge`, `inspect`); without a transport, it has none. */
export function optionalMethodSkipReason(
  id: ConformanceCaseId,
  transport: Pick<Transport, 'peek' | 'purge' | 'inspect' | 'removeGroup'> | undefined,
): string | undefined {
  const method = id.startsWith('inspect-') ? 'inspect' : id === 'observer-group' ? 'removeGroup' : id;
  if (method !== 'peek' && method !== 'purge' && method !== 'inspect' && method !== 'removeGroup') {
    return undefined;
  }
  return typeof transport?.[method] === 'function' ? undefined : `the transport has no ${method}()`;
}

/** The row an operator reads for a queue: its default group's, or the shared backlog's. */
async function statsOf(transport: Transport, queue: string): Promise<QueueStats | undefined> {
  const rows = await transport.inspect!({ queues: [queue], discover: false });
  expect(rows.every((row) => row.queue === queue)).toBe(true);
  return rows.find((row) => row.group === 'default') ?? rows.find((row) => row.group === undefined);
}

/** Polls inspect() until `accept` holds for the queue's row; fails showing the last row seen. */
async function waitForStats(
  ctx: ConformanceContext,
  transport: Transport,
  queue: string,
  accept: (row: QueueStats) => boolean,
  what: string,
): Promise<QueueStats> {
  let row: QueueStats | undefined;
  for (const started = Date.now(); Date.now() - started < ctx.features.deliveryTimeoutMs; ) {
    row = await statsOf(transport, queue);
    if (row && accept(row)) return row;
    await ctx.sleep(50);
  }
  expect({ what, row }).toEqual({ what, row: 'a row that matches' });
  throw new Error('unreachable');
}

const inspectCases: ConformanceCase[] = [
  {
    id: 'inspect-waiting',
    title: 'inspect() counts waiting messages without consuming them, and settled ones no longer',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const empty = await statsOf(producer, queue);
      expect({ waiting: empty?.waiting }).toEqual({ waiting: 0 });
      expect((await producer.inspect!()).some((row) => row.queue.endsWith('.dead'))).toBe(false);
      const setup = await ctx.collect(consumer, queue);
      await setup.subscription.close();
      await producer.publish(queue, messages(['inspected-1', 'inspected-2', 'inspected-3']));
      await waitForStats(ctx, producer, queue, (row) => row.waiting === 3, 'three waiting');
      // Looking twice changes nothing: still three, and all three are delivered afterwards.
      expect((await statsOf(producer, queue))?.waiting).toBe(3);

      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const held = await ctx.collect(consumer, queue, {
        onDelivery: async (_received, delivery) => {
          await released;
          await delivery.ack();
        },
      });
      await held.waitForCount(1);
      const busy = await statsOf(producer, queue);
      if (busy?.inFlight !== undefined) expect(busy.inFlight).toBeGreaterThanOrEqual(1);
      if (busy?.consumers !== undefined) expect(busy.consumers).toBeGreaterThanOrEqual(1);
      release();
      await held.waitForCount(3);
      expectExactlyOnce(held.received, ['inspected-1', 'inspected-2', 'inspected-3'], 'after inspect');
      await waitForStats(
        ctx,
        producer,
        queue,
        (row) => row.waiting === 0 && (row.inFlight ?? 0) === 0,
        'nothing waiting or in flight once all are acknowledged',
      );
    },
  },

  {
    id: 'inspect-dead',
    title: 'inspect() reports dead letters as the dead count of their queue',
    skipReason: (capabilities) => (capabilities.deadLetter ? undefined : 'capabilities.deadLetter is false'),
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const collector = await ctx.collect(consumer, queue, {
        onDelivery: (_received, delivery) =>
          delivery.deadLetter({ code: 'inspected', message: 'for inspect' }),
      });
      await producer.publish(queue, messages(['dead-1', 'dead-2']));
      await collector.waitForCount(2);
      await waitForStats(
        ctx,
        producer,
        queue,
        (row) => row.dead === 2 && row.waiting === 0,
        'two dead letters and nothing waiting',
      );
      const rows = await producer.inspect!({ queues: [queue] });
      expect(rows.filter((r) => r.queue === deadLetterQueueName(queue))).toEqual([]);
    },
  },

  {
    id: 'inspect-delayed',
    title: 'inspect() counts a delayed publish as delayed, not waiting',
    skipReason: (capabilities) => (capabilities.delay ? undefined : 'capabilities.delay is false'),
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, consumer] = [await ctx.transport(), await ctx.transport()];
      const setup = await ctx.collect(consumer, queue);
      await setup.subscription.close();
      await producer.publish(queue, [{ body: text('later'), delayMs: 120_000 }]);
      // A transport that cannot see its delayed messages leaves the count absent, never wrong.
      const row = await waitForStats(
        ctx,
        producer,
        queue,
        (r) => r.delayed === 1 || r.delayed === undefined,
        'one delayed',
      );
      if (row.delayed === undefined) await ctx.quiet();
      expect((await statsOf(producer, queue))?.waiting).toBe(0);
    },
  },
];

const observerCases: ConformanceCase[] = [
  {
    id: 'observer-group',
    title:
      "a group started from: 'now' sees only later messages, and removeGroup() deletes it without touching others",
    skipReason: (capabilities) =>
      capabilities.fanout
        ? undefined
        : 'capabilities.fanout is false: an observer would take messages from workers',
    async run(ctx) {
      const queue = ctx.queue();
      const [producer, worker, observer] = [
        await ctx.transport(),
        await ctx.transport(),
        await ctx.transport(),
      ];
      const setup = await ctx.collect(worker, queue);
      await setup.subscription.close();
      await producer.publish(queue, messages(['before']));
      const watching = await ctx.collect(observer, queue, { group: 'observer', from: 'now' });
      await producer.publish(queue, messages(['after']));
      await watching.waitForCount(1);
      await ctx.quiet();
      expect(watching.received.map((entry) => entry.text)).toEqual(['after']);
      await watching.subscription.close();
      await observer.removeGroup!(queue, 'observer');
      await observer.removeGroup!(queue, 'observer'); // gone already: still resolves
      await producer.publish(queue, messages(['later']));
      const work = await ctx.collect(worker, queue);
      await work.waitForCount(3);
      expectExactlyOnce(work.received, ['before', 'after', 'later'], 'the workers after the observer left');
      if (producer.inspect) {
        const groups = (await producer.inspect({ queues: [queue] }))
          .filter((row) => row.queue === queue)
          .map((row) => row.group);
        expect(groups).not.toContain('observer');
      }
    },
  },
];

/** Every case of the suite, in the order they run. */
export const conformanceCases: readonly ConformanceCase[] = [
  ...transportCases,
  ...inspectCases,
  ...observerCases,
];
