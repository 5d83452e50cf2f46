import { createHash } from 'node:crypto';
import { decodeDeadLetter, PayloadTooLargeError, type Transport, TransportError } from '@thrun/contract';
import { createThrun, silentLogger } from '@thrun/core';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runScript } from './connection.js';
import { redisTransport } from './index.js';
import { listAckScript } from './scripts.js';
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
  const transport = redisTransport({ url: REDIS_URL, keyPrefix: prefix, ...options });
  transports.push(transport);
  return transport;
}

beforeAll(async () => {
  admin = await requireRedis();
});
afterAll(() => admin.disconnect());
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close({ drainTimeoutMs: 1_000 })));
  await deleteKeys(admin, prefix);
});
beforeEach(() => {
  // Each test gets its own keys.
  prefix = uniquePrefix();
});

/** Records the bodies of every list-ack call on this test's keys, one entry per call, as Redis sees them. */
async function watchAcks(): Promise<{ calls: string[][]; stop(): void }> {
  const monitor = await admin.monitor();
  const calls: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    const [command, sha, , processing, , ...bodies] = args;
    if (command?.toLowerCase() === 'evalsha' && sha === listAckScript.sha && processing?.includes(prefix)) {
      calls.push(bodies);
    }
  });
  return { calls, stop: () => monitor.disconnect() };
}

describe('lists mode', () => {
  it('writes the plain format: the raw bytes LPUSHed to the list named after the queue', async () => {
    const transport = open();
    await transport.publish('events', [
      { body: bytes('{"event":"a","payload":{}}') },
      { body: bytes('second') },
    ]);
    // What a PHP worker's BRPOP sees: the first published, byte for byte.
    expect((await admin.rpop(`${prefix}events`)) ?? '').toBe('{"event":"a","payload":{}}');
    expect(await admin.rpop(`${prefix}events`)).toBe('second');
  });

  it('consumes what a foreign producer LPUSHed, in order, and acks by removing it', async () => {
    for (let i = 0; i < 50; i++) await admin.lpush(`${prefix}events`, `m${i}`);
    const transport = open();
    // Recorded in the handler, asserted after the run: an expect that threw in there would become a retry.
    const seen: { body: string; attempt: number }[] = [];
    const sub = await transport.consume('events', async (delivery) => {
      seen.push({ body: text(delivery.body), attempt: delivery.attempt });
      await delivery.ack();
    });
    await waitFor(() => seen.length === 50);
    await sub.close();
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => ({ body: `m${i}`, attempt: 1 })));
    expect(await admin.llen(`${prefix}events`)).toBe(0);
    const processing = await admin.keys(`{${prefix}events}:processing:*`);
    expect(processing).toEqual([]);
  });

  it('shares a shallow queue between competing consumers instead of one taking it all', async () => {
    const transport = open();
    const seen = { a: [] as string[], b: [] as string[] };
    for (const name of ['a', 'b'] as const) {
      await transport.consume('jobs', async (delivery) => {
        seen[name].push(text(delivery.body));
        await new Promise((resolve) => setTimeout(resolve, 20));
        await delivery.ack();
      });
    }
    await transport.publish(
      'jobs',
      Array.from({ length: 10 }, (_, i) => ({ body: bytes(`s${i}`) })),
    );
    await waitFor(() => seen.a.length + seen.b.length === 10);
    expect(seen.a.length).toBeGreaterThan(0);
    expect(seen.b.length).toBeGreaterThan(0);
    expect([...seen.a, ...seen.b].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`).sort());
  });

  it('list-ack settles many bodies in one call as one call per body would, one copy each', async () => {
    const processing = `{${prefix}jobs}:processing:c`;
    const attempts = `{${prefix}jobs}:attempts`;
    const sha1 = (body: string) => createHash('sha1').update(body).digest('hex');
    await admin.lpush(processing, 'a', 'b', 'a', 'c');
    await admin.hset(attempts, sha1('a'), 2, sha1('b'), 1, sha1('c'), 4);
    const ack = (...bodies: string[]) => runScript(admin, listAckScript, [processing, attempts], bodies);
    // `x` was already taken back by an expired lease: not counted, nothing else touched.
    expect(await ack('a', 'b', 'x')).toBe(2);
    expect(await admin.lrange(processing, 0, -1)).toEqual(['c', 'a']);
    expect(await admin.hkeys(attempts)).toEqual([sha1('c')]);
    // One body, as older runtimes send it: 1, then 0 once it is gone.
    expect(await ack('c')).toBe(1);
    expect(await ack('c')).toBe(0);
    expect(await admin.lrange(processing, 0, -1)).toEqual(['a']);
    expect(await admin.hlen(attempts)).toBe(0);
  });

  it('acknowledges the handlers that settle together with one list-ack call', async () => {
    const transport = open();
    const acked = await watchAcks();
    try {
      await transport.publish(
        'jobs',
        Array.from({ length: 50 }, (_, i) => ({ body: bytes(`j${i}`) })),
      );
      let settled = 0;
      await transport.consume(
        'jobs',
        async (delivery) => {
          await delivery.ack();
          settled++;
        },
        { concurrency: 50 },
      );
      await waitFor(() => settled === 50);
      await waitFor(() => acked.calls.flat().length === 50);
    } finally {
      acked.stop();
    }
    expect(acked.calls.flat().sort()).toEqual(Array.from({ length: 50 }, (_, i) => `j${i}`).sort());
    // A batch fetched together is handled together: its acks leave in far fewer calls than messages.
    expect(acked.calls.length).toBeLessThan(10);
    expect(await admin.keys(`{${prefix}jobs}:processing:*`)).toEqual([]);
  });

  it('acknowledges a large first attempt with a bare LREM, and a large body that came back with list-ack', async () => {
    const transport = open();
    const acked = await watchAcks();
    const monitor = await admin.monitor();
    const plainAcks: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const [command, key, , body] = args;
      // Scripts run LREM too (MONITOR names them as the source "lua"): only the ones sent as commands.
      if (command?.toLowerCase() === 'lrem' && source !== 'lua' && key?.includes(prefix)) {
        plainAcks.push(String(body).split(':')[0]!);
      }
    });
    // Above the size from which a script's copy of the body costs Redis more than the call saves.
    const large = (tag: string) => bytes(`${tag}:${'x'.repeat(32 * 1024)}`);
    const deliveries: string[] = [];
    try {
      await transport.publish('jobs', [{ body: large('once') }, { body: large('again') }]);
      await transport.consume('jobs', async (delivery) => {
        const tag = text(delivery.body).split(':')[0]!;
        deliveries.push(`${tag}#${delivery.attempt}`);
        if (tag === 'again' && delivery.attempt === 1) return delivery.retry();
        return delivery.ack();
      });
      await waitFor(() => plainAcks.length === 1 && acked.calls.length === 1);
    } finally {
      acked.stop();
      monitor.disconnect();
    }
    expect(deliveries.sort()).toEqual(['again#1', 'again#2', 'once#1']);
    expect(plainAcks).toEqual(['once']);
    // The one that came back has an attempts field, which list-ack removes with it.
    expect(acked.calls.map((bodies) => bodies.map((body) => body.split(':')[0]))).toEqual([['again']]);
    expect(await admin.llen(`${prefix}jobs`)).toBe(0);
    expect(await admin.keys(`{${prefix}jobs}:processing:*`)).toEqual([]);
    expect(await admin.hlen(`{${prefix}jobs}:attempts`)).toBe(0);
  });

  it('at concurrency 1, runs the messages read ahead one after another, in order, their acks sharing calls', async () => {
    const transport = open();
    const acked = await watchAcks();
    const expected = Array.from({ length: 20 }, (_, i) => `j${i}`);
    const seen: string[] = [];
    try {
      await transport.publish(
        'jobs',
        expected.map((body) => ({ body: bytes(body) })),
      );
      await transport.consume(
        'jobs',
        async (delivery) => {
          seen.push(text(delivery.body));
          await delivery.ack();
        },
        { concurrency: 1 },
      );
      await waitFor(() => acked.calls.flat().length === 20);
    } finally {
      acked.stop();
    }
    expect(seen).toEqual(expected);
    expect(acked.calls.flat()).toEqual(expected);
    // Each handler started without waiting for the previous one's ack to come back.
    expect(acked.calls.length).toBeLessThan(expected.length);
    await waitFor(async () => (await admin.keys(`{${prefix}jobs}:processing:*`)).length === 0);
  });

  it("through core's worker at concurrency 1, listeners run in order and their acks share calls", async () => {
    const app = createThrun({
      transport: redisTransport({ url: REDIS_URL, keyPrefix: prefix }),
      logger: silentLogger,
      concurrency: 1,
    });
    const acked = await watchAcks();
    const handled: number[] = [];
    try {
      app.subscribe<{ n: number }>('order_created', (payload) => {
        handled.push(payload.n);
      });
      for (let n = 0; n < 20; n++) await app.event('order_created', { n });
      await app.start();
      await waitFor(() => acked.calls.flat().length === 20);
    } finally {
      acked.stop();
      await app.close({ drainTimeoutMs: 1_000 });
    }
    expect(handled).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(acked.calls.length).toBeLessThan(20);
  });

  it('counts attempts on retry without changing the bytes on the list', async () => {
    const transport = open();
    const attempts: number[] = [];
    const bodies: string[] = [];
    await transport.consume('jobs', async (delivery) => {
      attempts.push(delivery.attempt);
      bodies.push(text(delivery.body));
      if (delivery.attempt < 3) await delivery.retry();
      else await delivery.ack();
    });
    await transport.publish('jobs', [{ body: bytes('retry me') }]);
    await waitFor(() => attempts.length === 3);
    expect(attempts).toEqual([1, 2, 3]);
    expect(bodies).toEqual(['retry me', 'retry me', 'retry me']);
    await waitFor(async () => (await admin.hlen(`{${prefix}jobs}:attempts`)) === 0);
  });

  it('holds a delayed retry back at least as long as asked', async () => {
    const transport = open({ blockTimeoutMs: 200 });
    const times: number[] = [];
    await transport.consume('jobs', async (delivery) => {
      times.push(Date.now());
      if (delivery.attempt === 1) await delivery.retry(400);
      else await delivery.ack();
    });
    await transport.publish('jobs', [{ body: bytes('later') }]);
    await waitFor(() => times.length === 2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(390);
  });

  it('delays a published message', async () => {
    const transport = open({ blockTimeoutMs: 200 });
    const start = Date.now();
    let at = 0;
    await transport.consume('jobs', async (delivery) => {
      at = Date.now();
      await delivery.ack();
    });
    await transport.publish('jobs', [{ body: bytes('delayed'), delayMs: 300 }]);
    await waitFor(() => at > 0);
    expect(at - start).toBeGreaterThanOrEqual(290);
  });

  it('dead-letters to <queue>.dead with the original bytes, reason and attempts', async () => {
    const transport = open();
    let done = false;
    await transport.consume('jobs', async (delivery) => {
      if (delivery.attempt === 1) return delivery.retry();
      await delivery.deadLetter({ code: 'max_attempts', message: 'gave up' });
      done = true;
    });
    const original = new Uint8Array([0xff, 0x00, 0x7b]); // not UTF-8: kept as base64
    await transport.publish('jobs', [{ body: original }]);
    await waitFor(() => done);
    const [raw] = await admin.lrangeBuffer(`${prefix}jobs.dead`, 0, -1);
    const record = decodeDeadLetter({ body: new Uint8Array(raw!) });
    expect(record.queue).toBe('jobs');
    expect(record.error).toEqual({ code: 'max_attempts', message: 'gave up' });
    expect(record.attempts).toBe(2);
    expect([...record.originalBody]).toEqual([...original]);
    expect(await admin.llen(`${prefix}jobs`)).toBe(0);
  });

  it('returns the messages of a consumer whose lease expired to the queue, as the next attempt', async () => {
    // A consumer that died holding two messages: its processing list and an expired lease, exactly as
    // a killed process leaves them (the SIGKILL test in reliability.int.test.ts does it for real).
    const keys = { queue: `${prefix}jobs`, tag: `{${prefix}jobs}` };
    await admin.lpush(`${keys.tag}:processing:ghost`, 'older', 'newer');
    await admin.zadd(`${keys.tag}:consumers`, 1, 'ghost');
    await admin.lpush(keys.queue, 'waiting');

    const transport = open({ visibilityTimeoutMs: 600 });
    const seen: { body: string; attempt: number }[] = [];
    await transport.consume('jobs', async (delivery) => {
      seen.push({ body: text(delivery.body), attempt: delivery.attempt });
      await delivery.ack();
    });
    await waitFor(() => seen.length === 3);
    expect(seen).toContainEqual({ body: 'older', attempt: 2 });
    expect(seen).toContainEqual({ body: 'newer', attempt: 2 });
    expect(seen).toContainEqual({ body: 'waiting', attempt: 1 });
    expect(await admin.exists(`${keys.tag}:processing:ghost`)).toBe(0);
    expect(await admin.zscore(`${keys.tag}:consumers`, 'ghost')).toBeNull();
  });

  it('on close, hands back unstarted prefetched messages without counting an attempt', async () => {
    const transport = open({ prefetch: 10 });
    await transport.publish(
      'jobs',
      Array.from({ length: 10 }, (_, i) => ({ body: bytes(`p${i}`) })),
    );
    let release: () => void = () => {};
    const started: string[] = [];
    const sub = await transport.consume('jobs', async (delivery) => {
      started.push(text(delivery.body));
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      await delivery.ack();
    });
    await waitFor(() => started.length === 1);
    const closing = sub.close();
    release();
    await closing;
    const other = open();
    const after: { body: string; attempt: number }[] = [];
    await other.consume('jobs', async (delivery) => {
      after.push({ body: text(delivery.body), attempt: delivery.attempt });
      await delivery.ack();
    });
    await waitFor(() => after.length === 9);
    expect(after).toEqual(Array.from({ length: 9 }, (_, i) => ({ body: `p${i + 1}`, attempt: 1 })));
  });

  it('rejects an oversized payload with PayloadTooLargeError before sending anything', async () => {
    const transport = open({ maxPayloadBytes: 1024 });
    const error = await transport
      .publish('jobs', [{ body: bytes('ok') }, { body: new Uint8Array(1025) }])
      .catch((e) => e);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect(await admin.llen(`${prefix}jobs`)).toBe(0);
  });

  it('fails fast with connection_failed when Redis is down, without the credentials', async () => {
    const transport = redisTransport({ url: 'redis://thrun:hunter2@127.0.0.1:1/0', connectTimeoutMs: 2_000 });
    const started = Date.now();
    const error = await transport.publish('jobs', [{ body: bytes('x') }]).catch((e) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('connection_failed');
    expect(String(error.message)).not.toContain('hunter2');
    expect(String(error.message)).toContain('127.0.0.1:1');
    expect(JSON.stringify(error.cause?.message ?? '')).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(5_000);
    const consumeError = await transport.consume('jobs', () => {}).catch((e) => e);
    expect(TransportError.isInstance(consumeError) && consumeError.code).toBe('connection_failed');
    await transport.close();
  });

  it('connects with a username and password from the URL, and never shows the password', async () => {
    const user = `thrun-${prefix.slice(11, 19)}`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>s3cret-pass', '~*', '&*', '+@all');
    try {
      const withUser = new URL(REDIS_URL);
      withUser.username = user;
      withUser.password = 's3cret-pass';
      const transport = open({ url: withUser.toString() });
      await transport.publish('auth', [{ body: bytes('authenticated') }]);
      expect(await admin.rpop(`${prefix}auth`)).toBe('authenticated');

      withUser.password = 'wrong-pass';
      const refused = redisTransport({
        url: withUser.toString(),
        keyPrefix: prefix,
        connectTimeoutMs: 3_000,
      });
      const error = await refused.publish('auth', [{ body: bytes('x') }]).catch((e) => e);
      await refused.close();
      expect(TransportError.isInstance(error) && error.code).toBe('connection_failed');
      expect(`${error.message} ${error.cause?.message}`).not.toMatch(/wrong-pass|s3cret-pass/);
      expect(error.message).not.toContain(user);
    } finally {
      await admin.call('ACL', 'DELUSER', user);
    }
  });

  it('peeks oldest first and purges waiting and delayed messages', async () => {
    const transport = open();
    await transport.publish('jobs', [
      { body: bytes('a') },
      { body: bytes('b') },
      { body: bytes('c'), delayMs: 60_000 },
    ]);
    const peeked = await transport.peek!('jobs', 5);
    expect(peeked.map((m) => text(m.body))).toEqual(['a', 'b']);
    expect(await transport.purge!('jobs')).toBe(3);
    expect(await admin.exists(`${prefix}jobs`)).toBe(0);
  });
});
