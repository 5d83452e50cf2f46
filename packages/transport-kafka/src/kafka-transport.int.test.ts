import {
  DEAD_LETTER_HEADERS,
  type Delivery,
  decodeDeadLetter,
  PayloadTooLargeError,
  type Transport,
  TransportError,
} from '@thrun/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

let transport: Transport;

beforeAll(async () => {
  await assertBrokerReachable();
  transport = kafkaTransport({ brokers, partitions: 3 });
});
afterAll(() => transport?.close());

describe('kafka transport', () => {
  it('delivers the published bytes and the key, then acks', async () => {
    const queue = uniqueQueue('basic');
    const seen: Array<{ body: string; key: string | undefined; attempt: number }> = [];
    const subscription = await transport.consume(queue, async (delivery) => {
      seen.push({ body: decode(delivery.body), key: delivery.key, attempt: delivery.attempt });
      await delivery.ack();
    });
    await transport.publish(queue, [{ body: text('one'), key: 'k1' }, { body: text('two') }]);
    await waitFor(() => seen.length === 2, 20_000, 'two deliveries');
    expect(seen.map((s) => s.body).sort()).toEqual(['one', 'two']);
    expect(seen.find((s) => s.body === 'one')).toEqual({ body: 'one', key: 'k1', attempt: 1 });
    await subscription.close();
  });

  it('retries with a delay, never early, as the next attempt', async () => {
    const queue = uniqueQueue('retry');
    const attempts: Array<{ attempt: number; at: number }> = [];
    const subscription = await transport.consume(queue, async (delivery) => {
      attempts.push({ attempt: delivery.attempt, at: Date.now() });
      if (delivery.attempt < 3) await delivery.retry(700);
      else await delivery.ack();
    });
    await transport.publish(queue, [{ body: text('again') }]);
    await waitFor(() => attempts.length === 3, 30_000, 'three attempts');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(700);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(700);
    await subscription.close();
  });

  it('does not hold a short retry delay behind a long one in the same retry partition', async () => {
    const queue = uniqueQueue('retry-hol');
    const seen: Array<{ body: string; attempt: number; at: number }> = [];
    const subscription = await transport.consume(queue, async (delivery) => {
      const body = decode(delivery.body);
      seen.push({ body, attempt: delivery.attempt, at: Date.now() });
      if (delivery.attempt > 1) return delivery.ack();
      // Same key, so both copies land in the same retry partition, the long one first.
      await delivery.retry(body === 'long' ? 4_000 : 300);
    });
    await transport.publish(queue, [{ body: text('long'), key: 'same' }]);
    await waitFor(() => seen.length === 1, 20_000, 'the first delivery');
    await transport.publish(queue, [{ body: text('short'), key: 'same' }]);
    await waitFor(() => seen.length === 4, 30_000, 'both retries');
    const order = seen.map((s) => `${s.body}#${s.attempt}`);
    expect(order).toEqual(['long#1', 'short#1', 'short#2', 'long#2']);
    const shortAgain = seen[2]!;
    const longFirst = seen[0]!;
    // The short one came back well before the long one was due, and neither came early.
    expect(shortAgain.at - longFirst.at).toBeLessThan(4_000);
    expect(shortAgain.at - seen[1]!.at).toBeGreaterThanOrEqual(300);
    expect(seen[3]!.at - longFirst.at).toBeGreaterThanOrEqual(4_000);
    await subscription.close();
  });

  it('holds a delayed publish back', async () => {
    const queue = uniqueQueue('delay');
    let receivedAt = 0;
    const subscription = await transport.consume(queue, async (delivery) => {
      receivedAt = Date.now();
      await delivery.ack();
    });
    const publishedAt = Date.now();
    await transport.publish(queue, [{ body: text('later'), delayMs: 1_000 }]);
    await waitFor(() => receivedAt > 0, 20_000, 'the delayed message');
    expect(receivedAt - publishedAt).toBeGreaterThanOrEqual(1_000);
    await subscription.close();
  });

  it('retries at once when the handler throws', async () => {
    const queue = uniqueQueue('throws');
    const attempts: number[] = [];
    const subscription = await transport.consume(queue, async (delivery) => {
      attempts.push(delivery.attempt);
      if (delivery.attempt === 1) throw new Error('boom');
      await delivery.ack();
    });
    await transport.publish(queue, [{ body: text('x') }]);
    await waitFor(() => attempts.length === 2, 20_000, 'the retry');
    expect(attempts).toEqual([1, 2]);
    await subscription.close();
  });

  it('dead-letters the original bytes as the value, the reason in thrun-dead-* headers', async () => {
    const queue = uniqueQueue('dead');
    const original = new Uint8Array([0xff, 0x00, 0x7b]); // not UTF-8: unchanged all the same
    const subscription = await transport.consume(queue, (delivery) =>
      delivery.deadLetter({ code: 'invalid_json', message: 'not JSON' }),
    );
    const records: Delivery[] = [];
    const dead = await transport.consume(`${queue}.dead`, async (delivery) => {
      records.push(delivery);
      await delivery.ack();
    });
    await transport.publish(queue, [{ body: original }]);
    await waitFor(() => records.length === 1, 20_000, 'the dead letter');
    expect([...records[0]!.body]).toEqual([...original]);
    expect(records[0]!.headers?.[DEAD_LETTER_HEADERS.errorCode]).toBe('invalid_json');
    const record = decodeDeadLetter(records[0]!);
    expect(record.queue).toBe(queue);
    expect(record.error).toEqual({ code: 'invalid_json', message: 'not JSON' });
    expect(record.attempts).toBe(1);
    expect([...record.originalBody]).toEqual([...original]);
    await subscription.close();
    await dead.close();
  });

  it('gives every group its own copy; a retry goes only to the group that asked', async () => {
    const queue = uniqueQueue('fanout');
    const a: number[] = [];
    const b: number[] = [];
    const subA = await transport.consume(
      queue,
      async (delivery) => {
        a.push(delivery.attempt);
        if (delivery.attempt === 1) await delivery.retry();
        else await delivery.ack();
      },
      { group: 'a' },
    );
    const subB = await transport.consume(
      queue,
      async (delivery) => {
        b.push(delivery.attempt);
        await delivery.ack();
      },
      { group: 'b' },
    );
    await transport.publish(queue, [{ body: text('both') }]);
    await waitFor(() => a.length === 2 && b.length === 1, 20_000, 'both groups');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([1]);
    await Promise.all([subA.close(), subB.close()]);
  });

  it('rejects a body over maxPayloadBytes before sending anything', async () => {
    const small = kafkaTransport({ brokers, maxPayloadBytes: 10 });
    await expect(small.publish(uniqueQueue('big'), [{ body: new Uint8Array(11) }])).rejects.toSatisfy(
      PayloadTooLargeError.isInstance,
    );
    await small.close();
    await expect(small.publish('x', [{ body: text('x') }])).rejects.toSatisfy(
      (e) => TransportError.isInstance(e) && e.code === 'closed',
    );
  });
});
