/**
 * The same cross-runtime paths as cross-runtime.int.test.ts, through @thrun/core: real `createThrun`
 * listeners and `thrun.event` on the Redis transport, against the Go service in apps/go-consumer.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeDeadLetter, type Envelope } from '@thrun/contract';
import { createThrun, silentLogger, type Thrun } from '@thrun/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import { REDIS_URL, requireRedis, waitFor } from './test-support/redis.js';

const run = promisify(execFile);
const goModule = fileURLToPath(new URL('../../../apps/go-consumer/', import.meta.url));
// Its own database: the bare key `events` that any Redis client writes is the point here.
const url = new URL(REDIS_URL);
url.pathname = '/3';
const CORE_URL = url.toString();

let binDir: string;
let goBinary: string;
let redis: Redis;
const running: Thrun[] = [];

beforeAll(async () => {
  (await requireRedis()).disconnect();
  binDir = mkdtempSync(join(tmpdir(), 'thrun-go-'));
  goBinary = join(binDir, 'go-consumer');
  await run('go', ['build', '-o', goBinary, '.'], { cwd: goModule });
  redis = new Redis(CORE_URL);
}, 180_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((thrun) => thrun.close({ drainTimeoutMs: 1_000 })));
  const leftovers = await redis.keys('*events*');
  if (leftovers.length > 0) await redis.del(...leftovers);
});

afterAll(() => {
  redis?.disconnect();
  rmSync(binDir, { recursive: true, force: true });
});

function thrun(): Thrun {
  const instance = createThrun({
    transport: redisTransport({ url: CORE_URL }),
    source: 'billing',
    logger: silentLogger,
  });
  running.push(instance);
  return instance;
}

describe('Go and a Thrun service over Redis lists', () => {
  it('a Thrun listener handles what Go produced', async () => {
    const app = thrun();
    const handled: { payload: unknown; envelope: Envelope; attempt: number }[] = [];
    app.subscribe('order_created', (payload, ctx) => {
      handled.push({ payload, envelope: ctx.envelope, attempt: ctx.attempt });
    });
    await app.start();
    await run(goBinary, [
      'produce',
      '--redis',
      CORE_URL,
      '--event',
      'order_created',
      '--payload',
      '{"order_id":123}',
    ]);
    await waitFor(() => handled.length === 1);
    expect(handled[0]!.payload).toEqual({ order_id: 123 });
    expect(handled[0]!.envelope.meta?.source).toBe('go');
    expect(handled[0]!.attempt).toBe(1);
  });

  it('Go consumes and validates what thrun.event dispatched', async () => {
    const app = thrun();
    const eventId = await app.event('order.success', { order_id: 9 });
    const { stdout } = await run(goBinary, [
      'consume',
      '--redis',
      CORE_URL,
      '--count',
      '1',
      '--timeout',
      '10s',
    ]);
    const envelope = JSON.parse(stdout.trim()) as Envelope;
    expect(envelope).toMatchObject({ event: 'order.success', payload: { order_id: 9 } });
    expect(envelope.meta).toMatchObject({ event_id: eventId, source: 'billing' });
  });

  it('a Thrun listener handles a bare Go message, which has no meta', async () => {
    const app = thrun();
    const texts: string[] = [];
    app.subscribe<{ text: string }>('go_message', (payload) => {
      texts.push(payload.text);
    });
    await app.start();
    await redis.lpush('events', '{"event":"go_message","payload":{"text":"hello"}}');
    await waitFor(() => texts.length === 1);
    expect(texts).toEqual(['hello']);
  });

  it('the worker dead-letters a malformed foreign message and handles the good one behind it', async () => {
    const app = thrun();
    const texts: string[] = [];
    app.subscribe<{ text: string }>('go_message', (payload) => {
      texts.push(payload.text);
    });
    await redis.lpush('events', '{"event":"go_message","payload":');
    await redis.lpush('events', '{"event":"go_message","payload":{"text":"after"}}');
    await app.start();
    await waitFor(() => texts.length === 1);
    expect(texts).toEqual(['after']);
    await waitFor(async () => (await redis.llen('events.dead')) === 1);
    // As any Redis client reads the frame: a JSON line, a line feed, the original bytes.
    const raw = (await redis.lindexBuffer('events.dead', 0))!;
    const newline = raw.indexOf(0x0a);
    expect(JSON.parse(raw.subarray(0, newline).toString())).toMatchObject({
      queue: 'events',
      attempts: 1,
      error: { code: 'invalid_json' },
    });
    expect(raw.subarray(newline + 1).toString()).toBe('{"event":"go_message","payload":');
    expect(decodeDeadLetter({ body: new Uint8Array(raw) }).form).toBe('frame');
  });
});
