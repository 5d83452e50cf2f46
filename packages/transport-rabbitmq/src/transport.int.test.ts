import {
  ConfigurationError,
  DEAD_LETTER_HEADERS,
  type Delivery,
  decodeDeadLetter,
  PayloadTooLargeError,
  TransportError,
} from '@thrun/contract';
import { type ChannelModel, connect } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmqTransport } from './rabbitmq-transport.js';
import { amqpUrl, rawConnection, testTopology, text, utf8, waitFor } from './test-helpers.js';

let raw: ChannelModel;
const { transport, queueFor, closeTransports, deleteQueues } = testTopology();

/** Collects deliveries; `settle` decides what each one does (ack by default). */
function collector(settle: (delivery: Delivery) => Promise<void> = (d) => d.ack()) {
  const seen: Array<{ body: string; attempt: number; key?: string; at: number }> = [];
  const handler = async (delivery: Delivery) => {
    seen.push({
      body: text(delivery.body),
      attempt: delivery.attempt,
      ...(delivery.key === undefined ? {} : { key: delivery.key }),
      at: Date.now(),
    });
    await settle(delivery);
  };
  return { seen, handler };
}

beforeAll(async () => {
  raw = await rawConnection();
});

afterEach(async () => {
  await closeTransports();
});

afterAll(async () => {
  await deleteQueues(raw);
  await raw.close();
});

describe('rabbitmqTransport against a real RabbitMQ', () => {
  it('delivers the published bytes unchanged, in order, as attempt 1', async () => {
    const t = transport();
    const queue = queueFor('roundtrip');
    const bodies = ['{"event":"a","payload":{}}', 'not json at all', '\u00e9\u{1F600}'];
    await t.publish(
      queue,
      bodies.map((body) => ({ body: utf8.encode(body) })),
    );
    const { seen, handler } = collector();
    await t.consume(queue, handler);
    await waitFor(() => seen.length === 3, 10_000, 'three deliveries');
    expect(seen.map((s) => s.body)).toEqual(bodies);
    expect(seen.map((s) => s.attempt)).toEqual([1, 1, 1]);
  });

  it('keeps non-UTF-8 bytes and the message key', async () => {
    const t = transport();
    const queue = queueFor('bytes');
    const body = new Uint8Array([0xff, 0x00, 0xfe, 0x80]);
    let received: Delivery | undefined;
    await t.consume(queue, async (d) => {
      received = d;
      await d.ack();
    });
    await t.publish(queue, [{ body, key: 'order-42' }]);
    await waitFor(() => received !== undefined, 10_000, 'the delivery');
    expect([...(received as Delivery).body]).toEqual([...body]);
    expect(received?.key).toBe('order-42');
  });

  it('gives every group its own copy and makes members of one group compete', async () => {
    const t = transport();
    const queue = queueFor('fanout', [':billing']);
    const a1 = collector();
    const a2 = collector();
    const b = collector();
    await t.consume(queue, a1.handler, { group: 'default' });
    await t.consume(queue, a2.handler, { group: 'default' });
    await t.consume(queue, b.handler, { group: 'billing' });
    await t.publish(
      queue,
      Array.from({ length: 20 }, (_, i) => ({ body: utf8.encode(`m${i}`) })),
    );
    await waitFor(() => a1.seen.length + a2.seen.length === 20 && b.seen.length === 20, 10_000, 'all copies');
    const defaultGroup = [...a1.seen, ...a2.seen].map((s) => s.body).sort();
    expect(new Set(defaultGroup).size).toBe(20);
    expect(b.seen.map((s) => s.body)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    // Give a duplicate the chance to show up before asserting there is none.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a1.seen.length + a2.seen.length).toBe(20);
  });

  it('retries at once as the next attempt, also when the handler throws or does not settle', async () => {
    const t = transport();
    const queue = queueFor('retry');
    const { seen, handler } = collector(async (d) => {
      if (d.attempt === 1) await d.retry();
      else if (d.attempt === 2) throw new Error('boom');
      else if (d.attempt === 3)
        return; // returns without settling
      else await d.ack();
    });
    await t.consume(queue, handler);
    await t.publish(queue, [{ body: utf8.encode('x') }]);
    await waitFor(() => seen.length === 4, 10_000, 'four attempts');
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3, 4]);
  });

  it('never redelivers a retry early, and a long delay does not hold back a short one', async () => {
    const t = transport();
    const queue = queueFor('delay', [':retry:3000', ':retry:400']);
    const { seen, handler } = collector(async (d) => {
      if (d.attempt === 1) await d.retry(text(d.body) === 'slow' ? 3000 : 400);
      else await d.ack();
    });
    await t.consume(queue, handler, { concurrency: 2 });
    await t.publish(queue, [{ body: utf8.encode('slow') }, { body: utf8.encode('fast') }]);
    await waitFor(() => seen.length === 4, 20_000, 'both retries');
    const first = (body: string) => seen.find((s) => s.body === body && s.attempt === 1)!;
    const second = (body: string) => seen.find((s) => s.body === body && s.attempt === 2)!;
    expect(second('slow').at - first('slow').at).toBeGreaterThanOrEqual(3000);
    expect(second('fast').at - first('fast').at).toBeGreaterThanOrEqual(400);
    expect(second('fast').at).toBeLessThan(second('slow').at);
  });

  it('holds a delayed publish back for every group', async () => {
    const t = transport();
    const queue = queueFor('delayed-publish', [':delay:800', ':other']);
    const a = collector();
    const b = collector();
    await t.consume(queue, a.handler);
    await t.consume(queue, b.handler, { group: 'other' });
    const sent = Date.now();
    await t.publish(queue, [{ body: utf8.encode('later'), delayMs: 800 }]);
    await waitFor(() => a.seen.length === 1 && b.seen.length === 1, 10_000, 'the delayed message');
    expect(a.seen[0]!.at - sent).toBeGreaterThanOrEqual(800);
    expect(b.seen[0]!.at - sent).toBeGreaterThanOrEqual(800);
  });

  it('dead-letters a record with the original bytes to <queue>.dead, reason also in headers', async () => {
    const t = transport();
    const queue = queueFor('dead');
    const body = utf8.encode('{"event":"bad"');
    let deadLettered = false;
    await t.consume(queue, async (d) => {
      await d.deadLetter({ code: 'invalid_json', message: 'truncated' });
      deadLettered = true;
    });
    await t.publish(queue, [{ body }]);
    await waitFor(() => deadLettered, 10_000, 'the dead-lettering');

    const channel = await raw.createChannel();
    let message: Awaited<ReturnType<typeof channel.get>> = false;
    for (let i = 0; i < 100 && message === false; i++) {
      message = await channel.get(`${queue}.dead`, { noAck: true });
      if (message === false) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await channel.close();
    expect(message).not.toBe(false);
    if (message === false) return;
    // As a plain amqplib reader sees it: the original bytes as the body, the reason in headers.
    expect([...message.content]).toEqual([...body]);
    const headers = message.properties.headers ?? {};
    expect(headers[DEAD_LETTER_HEADERS.errorCode]).toBe('invalid_json');
    expect(headers[DEAD_LETTER_HEADERS.queue]).toBe(queue);
    const record = decodeDeadLetter({ body: new Uint8Array(message.content), headers });
    expect(record.queue).toBe(queue);
    expect(record.error).toEqual({ code: 'invalid_json', message: 'truncated' });
    expect(record.attempts).toBe(1);
    expect([...record.originalBody]).toEqual([...body]);
  });

  it('peeks at dead-letter records in order without taking them; refuses to peek at a quorum queue', async () => {
    const t = transport();
    const queue = queueFor('peek');
    let dead = 0;
    await t.consume(queue, async (d) => {
      await d.deadLetter({ code: 'max_attempts', message: text(d.body) });
      dead++;
    });
    await t.publish(
      queue,
      ['one', 'two', 'three'].map((body) => ({ body: utf8.encode(body) })),
    );
    await waitFor(() => dead === 3, 10_000, 'three dead letters');
    const peek = async (limit: number) =>
      (await t.peek!(`${queue}.dead`, limit)).map((m) => decodeDeadLetter(m).error.message);
    expect(await peek(10)).toEqual(['one', 'two', 'three']);
    expect(await peek(2)).toEqual(['one', 'two']);
    expect(await peek(10)).toEqual(['one', 'two', 'three']);
    const records = collector();
    await t.consume(`${queue}.dead`, records.handler);
    await waitFor(() => records.seen.length === 3, 10_000, 'the records');
    expect(records.seen.map((r) => r.body)).toEqual(['one', 'two', 'three']);
    const error = await t.peek!(queue, 1).catch((e: unknown) => e);
    expect(ConfigurationError.isInstance(error) && error.code).toBe('unsupported_feature');
  });

  it('rejects a body over maxPayloadBytes before sending anything', async () => {
    const t = transport({ maxPayloadBytes: 1024 });
    const queue = queueFor('too-large');
    const error = await t.publish(queue, [{ body: new Uint8Array(1025) }]).catch((e: unknown) => e);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect(t.capabilities.maxPayloadBytes).toBe(1024);
    await expect(t.publish(queue, [{ body: new Uint8Array(1024) }])).resolves.toBeUndefined();
  });

  it('rejects an unroutable message (its queue deleted behind its back) and recovers', async () => {
    const t = transport();
    const queue = queueFor('unroutable');
    await t.publish(queue, [{ body: utf8.encode('1') }]);
    const channel = await raw.createChannel();
    await channel.deleteQueue(queue);
    await channel.close();
    const error = await t.publish(queue, [{ body: utf8.encode('2') }]).catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('unroutable');
    // The next publish declares the topology again.
    await t.publish(queue, [{ body: utf8.encode('3') }]);
    const { seen, handler } = collector();
    await t.consume(queue, handler);
    await waitFor(() => seen.length === 1, 10_000, 'the message published after recovery');
    expect(seen[0]!.body).toBe('3');
  });

  it('keeps order with prefetch above concurrency', async () => {
    const t = transport({ prefetch: 50 });
    const queue = queueFor('prefetch');
    await t.publish(
      queue,
      Array.from({ length: 200 }, (_, i) => ({ body: utf8.encode(String(i)) })),
    );
    const { seen, handler } = collector();
    await t.consume(queue, handler, { concurrency: 1 });
    await waitFor(() => seen.length === 200, 15_000, '200 deliveries');
    expect(seen.map((s) => Number(s.body))).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('releases prefetched, unstarted messages on close: each comes back once, as its next attempt', async () => {
    const total = 200;
    const prefetch = 50;
    const handledBeforeClose = 10;
    const queue = queueFor('release');
    const first = transport({ prefetch });
    await first.publish(
      queue,
      Array.from({ length: total }, (_, i) => ({ body: utf8.encode(String(i)) })),
    );
    let closing: Promise<void> | undefined;
    const before: number[] = [];
    await first.consume(
      queue,
      async (d) => {
        before.push(Number(text(d.body)));
        // The last handler before the close is still running when close() starts, with up to
        // `prefetch - 1` messages delivered to the process behind it and not yet started.
        if (before.length === handledBeforeClose) {
          closing = first.close();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await d.ack();
      },
      { concurrency: 1 },
    );
    await waitFor(() => closing !== undefined, 15_000, 'the close mid-run');
    await closing;
    expect(before).toEqual(Array.from({ length: handledBeforeClose }, (_, i) => i));

    const second = transport();
    const after = collector();
    await second.consume(queue, after.handler, { concurrency: 8 });
    const rest = total - handledBeforeClose;
    await waitFor(() => after.seen.length >= rest, 15_000, 'the messages the close released');
    // Past the redelivery of anything acked twice or not at all.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const bodies = after.seen.map((s) => Number(s.body)).sort((a, b) => a - b);
    expect(bodies).toEqual(Array.from({ length: rest }, (_, i) => i + handledBeforeClose));
    // Quorum queues count the return in x-delivery-count, so a released message's next attempt is 2
    // (the README's rule: attempt = x-delivery-count + 1); one the broker never sent is still 1.
    const released = after.seen.filter((s) => s.attempt === 2);
    expect(after.seen.every((s) => s.attempt === 1 || s.attempt === 2)).toBe(true);
    expect(released.length).toBeGreaterThan(0);
    expect(released.length).toBeLessThanOrEqual(prefetch - 1);
    // Those the first consumer held are the ones right after what it handled.
    expect(released.map((s) => Number(s.body)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: released.length }, (_, i) => i + handledBeforeClose),
    );
  });

  it('acks out of order with multiple-acks safely: nothing lost, nothing acked twice or early', async () => {
    const queue = queueFor('acks');
    const t = transport({ prefetch: 64 });
    const count = 600;
    const finished = new Map<number, number>();
    const attempts = new Map<number, number[]>();
    await t.consume(
      queue,
      async (d) => {
        const id = Number(text(d.body));
        attempts.set(id, [...(attempts.get(id) ?? []), d.attempt]);
        await new Promise((resolve) => setTimeout(resolve, (id * 7) % 23)); // settle out of order
        if (id % 3 === 0 && d.attempt === 1) return d.retry();
        finished.set(id, (finished.get(id) ?? 0) + 1);
        await d.ack();
      },
      { concurrency: 32 },
    );
    await t.publish(
      queue,
      Array.from({ length: count }, (_, i) => ({ body: utf8.encode(String(i)) })),
    );
    await waitFor(() => finished.size === count, 30_000, 'every message finished');
    await t.close();
    // Had a multiple ack covered a message still being handled, or one been lost, it would show here.
    const after = transport();
    const late = collector();
    await after.consume(queue, late.handler);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(late.seen).toEqual([]);
    expect([...finished.values()].every((n) => n === 1)).toBe(true);
    for (let id = 0; id < count; id++) expect(attempts.get(id)).toEqual(id % 3 === 0 ? [1, 2] : [1]);
  });

  it('works on classic queues, counting a broker redelivery as an attempt', async () => {
    const queue = queueFor('classic');
    const first = transport({ queueType: 'classic' });
    let started = false;
    await first.consume(queue, async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 3000)); // still running when the transport closes
    });
    await first.publish(queue, [{ body: utf8.encode('c') }]);
    await waitFor(() => started, 10_000, 'the first delivery');
    await first.close({ drainTimeoutMs: 0 }); // releases the unsettled delivery to the broker
    const second = transport({ queueType: 'classic' });
    const { seen, handler } = collector();
    await second.consume(queue, handler);
    await waitFor(() => seen.length >= 1, 15_000, 'the redelivery');
    expect(seen[0]!.attempt).toBe(2);
  });

  it('refuses to redeclare a queue of another type with a configuration error', async () => {
    const queue = queueFor('mismatch');
    await transport({ queueType: 'classic' }).publish(queue, [{ body: utf8.encode('x') }]);
    const error = await transport({ queueType: 'quorum' })
      .consume(queue, async (d) => d.ack())
      .catch((e: unknown) => e);
    expect(ConfigurationError.isInstance(error)).toBe(true);
  });

  it('rejects publishes in flight when the connection drops, then reconnects through the factory', async () => {
    const queue = queueFor('dropped');
    const models: ChannelModel[] = [];
    const t = transport({
      connection: async () => {
        const model = await connect(amqpUrl);
        models.push(model);
        return model;
      },
    });
    await t.publish(queue, [{ body: utf8.encode('warm-up') }]);
    const inFlight = t.publish(
      queue,
      Array.from({ length: 5000 }, (_, i) => ({ body: utf8.encode(String(i)) })),
    );
    inFlight.catch(() => {});
    await new Promise((resolve) => setImmediate(resolve));
    await models[0]!.close();
    const error = await inFlight.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(TransportError.isInstance(error) && error.code).toBe('publish_failed');
    await t.publish(queue, [{ body: utf8.encode('after') }]);
    expect(models.length).toBe(2);
  });

  it('stops waiting for confirms when the publish signal aborts', async () => {
    const t = transport();
    const queue = queueFor('abort');
    const controller = new AbortController();
    const publishing = t.publish(
      queue,
      Array.from({ length: 5000 }, (_, i) => ({ body: utf8.encode(String(i)) })),
      { signal: controller.signal },
    );
    controller.abort();
    const error = await publishing.catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('timeout');
    const aborted = await t
      .publish(queue, [{ body: utf8.encode('x') }], { signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect(TransportError.isInstance(aborted) && aborted.code).toBe('timeout');
  });

  it('rejects after close, and close is idempotent', async () => {
    const t = transport();
    const queue = queueFor('closed');
    await t.publish(queue, [{ body: utf8.encode('x') }]);
    const closing = t.close();
    expect(t.close()).toBe(closing);
    await closing;
    const error = await t.publish(queue, [{ body: utf8.encode('y') }]).catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('closed');
  });

  it('refuses a malformed URL without repeating it', () => {
    let error: unknown;
    try {
      rabbitmqTransport({ url: 'http://user:pw-in-url@host' });
    } catch (e) {
      error = e;
    }
    expect(ConfigurationError.isInstance(error) && error.code).toBe('invalid_option');
    expect(JSON.stringify(error) + String((error as Error).message)).not.toContain('pw-in-url');
    expect((error as Error).cause).toBeUndefined();
  });

  it('urls: refused with url or empty, and a node that does not answer is passed over', async () => {
    for (const options of [{ url: amqpUrl, urls: [amqpUrl] }, { urls: [] }]) {
      let error: unknown;
      try {
        rabbitmqTransport(options);
      } catch (e) {
        error = e;
      }
      expect(ConfigurationError.isInstance(error) && error.code).toBe('invalid_option');
    }
    const t = transport({ urls: ['amqp://guest:guest@127.0.0.1:1/', amqpUrl] });
    const queue = queueFor('urls');
    const got: string[] = [];
    await t.consume(queue, async (delivery) => {
      got.push(text(delivery.body));
      await delivery.ack();
    });
    await t.publish(queue, [{ body: utf8.encode('through the second node') }]);
    await waitFor(() => got.length === 1, 10_000, 'the delivery');
    expect(got).toEqual(['through the second node']);
  });

  it('fails to connect with a typed error that never shows the password', async () => {
    const t = transport({ url: 'amqp://thrun:s3cret-pass@127.0.0.1:1/', connectTimeoutMs: 500 });
    const error = await t.publish('nowhere', [{ body: utf8.encode('x') }]).catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('connection_failed');
    expect(String((error as Error).message)).not.toContain('s3cret-pass');
    expect(String((error as Error).message)).toContain('127.0.0.1:1');
  });
});
