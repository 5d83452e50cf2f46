import { decodeDeadLetter, sleep, type Transport } from '@thrun/contract';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import {
  bytes,
  deleteKeys,
  REDIS_URL,
  requireRedis,
  text,
  uniquePrefix,
  waitFor,
} from './test-support/redis.js';

let admin: Redis;
let prefix = uniquePrefix();
const transports: Transport[] = [];

function open(options: Parameters<typeof redisTransport>[0] = {}): Transport {
  const transport = redisTransport({ url: REDIS_URL, keyPrefix: prefix, mode: 'stream', ...options });
  transports.push(transport);
  return transport;
}

beforeAll(async () => {
  admin = await requireRedis();
});
afterAll(() => admin.disconnect());
beforeEach(() => {
  prefix = uniquePrefix();
});
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close({ drainTimeoutMs: 1_000 })));
  await deleteKeys(admin, prefix);
});

describe('streams mode', () => {
  it('claims fan-out and fifo', () => {
    const transport = open();
    expect(transport.capabilities).toMatchObject({
      fanout: true,
      ordering: 'fifo',
      delay: true,
      deadLetter: true,
    });
    expect(redisTransport({ url: REDIS_URL }).capabilities.fanout).toBe(false);
  });

  it('gives each group its own copy and splits a group between its consumers', async () => {
    const transport = open();
    const seen = { billing: [] as string[], mail: [] as string[], mailOther: [] as string[] };
    const handler = (into: string[]) => async (delivery: { body: Uint8Array; ack(): Promise<void> }) => {
      into.push(text(delivery.body));
      await delivery.ack();
    };
    await transport.consume('orders', handler(seen.billing), { group: 'billing' });
    await transport.consume('orders', handler(seen.mail), { group: 'mail' });
    await transport.consume('orders', handler(seen.mailOther), { group: 'mail' });
    const sent = Array.from({ length: 200 }, (_, i) => `o${i}`);
    await transport.publish(
      'orders',
      sent.map((s) => ({ body: bytes(s) })),
    );
    await waitFor(() => seen.billing.length === 200 && seen.mail.length + seen.mailOther.length === 200);
    expect(seen.billing).toEqual(sent);
    expect([...seen.mail, ...seen.mailOther].sort()).toEqual([...sent].sort());
  });

  it('takes the attempt from the delivery count and keeps the key', async () => {
    const transport = open({ blockTimeoutMs: 200 });
    const seen: { attempt: number; key?: string }[] = [];
    await transport.consume('jobs', async (delivery) => {
      seen.push({ attempt: delivery.attempt, ...(delivery.key ? { key: delivery.key } : {}) });
      if (delivery.attempt === 1) await delivery.retry();
      else if (delivery.attempt === 2) await delivery.retry(300);
      else await delivery.ack();
    });
    await transport.publish('jobs', [{ body: bytes('x'), key: 'order-7' }]);
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual([
      { attempt: 1, key: 'order-7' },
      { attempt: 2, key: 'order-7' },
      { attempt: 3, key: 'order-7' },
    ]);
    await waitFor(async () => Number((await admin.xpending(`${prefix}jobs`, 'default'))[0]) === 0);
  });

  it('claims entries of a consumer that went silent after the visibility timeout', async () => {
    // A dead consumer: it read an entry and never acknowledged it.
    await admin.xgroup('CREATE', `${prefix}jobs`, 'default', '0', 'MKSTREAM');
    await admin.xadd(`${prefix}jobs`, '*', 'b', 'orphan');
    await admin.xreadgroup('GROUP', 'default', 'ghost', 'COUNT', 1, 'STREAMS', `${prefix}jobs`, '>');
    const transport = open({ visibilityTimeoutMs: 500, blockTimeoutMs: 200 });
    const seen: { body: string; attempt: number }[] = [];
    await transport.consume('jobs', async (delivery) => {
      seen.push({ body: text(delivery.body), attempt: delivery.attempt });
      await delivery.ack();
    });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual([{ body: 'orphan', attempt: 2 }]);
  });

  it('reads a deep stream behind its acknowledgements, never holding more entries than its prefetch', async () => {
    const transport = open();
    const sent = Array.from({ length: 300 }, (_, i) => `d${i}`);
    await transport.publish(
      'jobs',
      sent.map((s) => ({ body: bytes(s) })),
    );
    const seen: string[] = [];
    let mostPending = 0;
    await transport.consume(
      'jobs',
      async (delivery) => {
        // Every entry read counts as delivered: the group's pending list is what this consumer holds.
        mostPending = Math.max(mostPending, Number((await admin.xpending(`${prefix}jobs`, 'default'))[0]));
        seen.push(text(delivery.body));
        await delivery.ack();
      },
      { concurrency: 10 },
    );
    await waitFor(() => seen.length === 300);
    expect([...seen].sort()).toEqual([...sent].sort());
    expect(mostPending).toBeGreaterThan(0);
    expect(mostPending).toBeLessThanOrEqual(10);
    await waitFor(async () => Number((await admin.xpending(`${prefix}jobs`, 'default'))[0]) === 0);
  });

  it('on close, hands back what it read ahead: another consumer takes it at once', async () => {
    // A visibility timeout far beyond the test: only the hand-back can return entries in time. With a
    // prefetch above the concurrency and acknowledgements one by one, what is read behind them waits
    // until the next refill.
    const first = open({ visibilityTimeoutMs: 120_000, prefetch: 40 });
    const sent = Array.from({ length: 200 }, (_, i) => `h${i}`);
    await first.publish(
      'jobs',
      sent.map((s) => ({ body: bytes(s) })),
    );
    const acked = new Set<string>();
    let closing: Promise<void> | undefined;
    await first.consume(
      'jobs',
      async (delivery) => {
        await sleep(Math.random() * 3);
        await delivery.ack();
        acked.add(text(delivery.body));
        if (acked.size === 50) closing = first.close({ drainTimeoutMs: 1_000 });
      },
      { concurrency: 10 },
    );
    await waitFor(() => closing !== undefined);
    await closing;
    expect(acked.size).toBeLessThan(200);
    const second = open({ visibilityTimeoutMs: 120_000 });
    await second.consume('jobs', async (delivery) => {
      acked.add(text(delivery.body));
      await delivery.ack();
    });
    await waitFor(() => acked.size === 200);
    await waitFor(async () => Number((await admin.xpending(`${prefix}jobs`, 'default'))[0]) === 0);
  });

  it('dead-letters into the <queue>.dead stream', async () => {
    const transport = open();
    let done = false;
    await transport.consume('jobs', async (delivery) => {
      await delivery.deadLetter({ code: 'invalid_json', message: 'not JSON' });
      done = true;
    });
    await transport.publish('jobs', [{ body: bytes('{oops') }]);
    await waitFor(() => done);
    const entries = await admin.xrangeBuffer(`${prefix}jobs.dead`, '-', '+');
    expect(entries).toHaveLength(1);
    const record = decodeDeadLetter({ body: new Uint8Array(entries[0]![1][1]!) });
    expect(record).toMatchObject({
      queue: 'jobs',
      attempts: 1,
      error: { code: 'invalid_json' },
      form: 'frame',
    });
    expect(Buffer.from(record.originalBody).toString()).toBe('{oops');
  });

  it('trims only what every group has acknowledged', async () => {
    const transport = open({ trimIntervalMs: 100, visibilityTimeoutMs: 600 });
    const held = 30;
    const fast: string[] = [];
    const slow: string[] = [];
    await transport.consume(
      'jobs',
      async (delivery) => {
        fast.push(text(delivery.body));
        await delivery.ack();
      },
      { group: 'fast' },
    );
    // The slow group holds one entry in the middle unacknowledged and acknowledges everything else,
    // so its last-delivered id is past that entry: only its pending list says where to stop.
    await transport.consume(
      'jobs',
      async (delivery) => {
        slow.push(text(delivery.body));
        if (text(delivery.body) === `t${held}`) await new Promise(() => {});
        else await delivery.ack();
      },
      { group: 'slow', concurrency: 2 },
    );
    await transport.publish(
      'jobs',
      Array.from({ length: 100 }, (_, i) => ({ body: bytes(`t${i}`) })),
    );
    await waitFor(() => fast.length === 100 && slow.length >= 100);
    // Trimming ran: what both groups acknowledged is gone (a trim that never runs times out here)…
    await waitFor(async () => (await admin.xlen(`${prefix}jobs`)) === 100 - held, 5_000);
    // …and it stopped at the slow group's oldest unacknowledged entry.
    const pending = await admin.xpending(`${prefix}jobs`, 'slow');
    const [first] = await admin.xrange(`${prefix}jobs`, '-', '+', 'COUNT', 1);
    expect(first![0]).toBe(String(pending[1]));
    expect(first![1]).toContain(`t${held}`);
  });

  it('trims everything once every group acknowledged it', async () => {
    const transport = open({ trimIntervalMs: 100 });
    let n = 0;
    await transport.consume('jobs', async (delivery) => {
      n += 1;
      await delivery.ack();
    });
    await transport.publish(
      'jobs',
      Array.from({ length: 50 }, (_, i) => ({ body: bytes(`t${i}`) })),
    );
    await waitFor(() => n === 50);
    // The last delivered entry is kept as the group's position; everything before it goes.
    await waitFor(async () => (await admin.xlen(`${prefix}jobs`)) <= 1, 5_000);
  });
});
