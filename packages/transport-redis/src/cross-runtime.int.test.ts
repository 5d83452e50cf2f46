/**
 * Thrun on Redis Lists and the Go service in apps/go-consumer talk through the plain `LPUSH` format:
 * the envelope bytes LPUSHed to the list `events`. The Go binary is built once for this file.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type Delivery,
  decodeDeadLetter,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  ThrunError,
  type Transport,
} from '@thrun/contract';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import { bytes, REDIS_URL, requireRedis, text, waitFor } from './test-support/redis.js';

const run = promisify(execFile);
const goModule = fileURLToPath(new URL('../../../apps/go-consumer/', import.meta.url));

// The bare key names (`events`) are the point here, so these tests get a database of their own.
const url = new URL(REDIS_URL);
url.pathname = '/2';
const CROSS_URL = url.toString();

let binDir: string;
let goBinary: string;
let redis: Redis;
const transports: Transport[] = [];

beforeAll(async () => {
  (await requireRedis()).disconnect();
  binDir = mkdtempSync(join(tmpdir(), 'thrun-go-'));
  goBinary = join(binDir, 'go-consumer');
  await run('go', ['build', '-o', goBinary, '.'], { cwd: goModule });
  redis = new Redis(CROSS_URL);
  await redis.del('events', 'events.dead', '{events}:attempts', '{events}:consumers', '{events}:delayed');
}, 180_000);

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close({ drainTimeoutMs: 1_000 })));
  const leftovers = await redis.keys('*events*');
  if (leftovers.length > 0) await redis.del(...leftovers);
});

afterAll(() => {
  redis?.disconnect();
  rmSync(binDir, { recursive: true, force: true });
});

function open(): Transport {
  const transport = redisTransport({ url: CROSS_URL });
  transports.push(transport);
  return transport;
}

/** What a listener does with foreign bytes: decode safely, dead-letter what cannot be an envelope. */
function decoding(onEnvelope: (envelope: Envelope, delivery: Delivery) => void) {
  return async (delivery: Delivery) => {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(delivery.body);
    } catch (error) {
      if (ThrunError.isInstance(error) && !error.isRetryable) {
        await delivery.deadLetter({ code: error.code, message: error.message });
        return;
      }
      throw error;
    }
    onEnvelope(envelope, delivery);
    await delivery.ack();
  };
}

describe('Go and TypeScript over Redis lists', () => {
  it('Go produces, Thrun consumes the same bytes and decodes them', async () => {
    const { stdout } = await run(goBinary, [
      'produce',
      '--redis',
      CROSS_URL,
      '--event',
      'order_created',
      '--payload',
      '{"order_id":123}',
    ]);
    const produced = stdout.trim();
    const received: { raw: string; envelope: Envelope }[] = [];
    await open().consume(
      'events',
      decoding((envelope, delivery) => received.push({ raw: text(delivery.body), envelope })),
    );
    await waitFor(() => received.length === 1);
    expect(received[0]!.raw).toBe(produced); // byte-identical
    const { envelope } = received[0]!;
    expect(envelope.event).toBe('order_created');
    expect(envelope.payload).toEqual({ order_id: 123 });
    expect(envelope.meta?.source).toBe('go');
    expect(envelope.meta?.event_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('Thrun publishes, Go consumes and validates', async () => {
    const envelope: Envelope = {
      event: 'order.success',
      payload: { order_id: 9, lines: [{ sku: 'a', qty: 2 }] },
      meta: {
        event_id: '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e',
        timestamp: '2026-01-01T00:00:00Z',
        source: 'node',
      },
    };
    await open().publish('events', [{ body: encodeEnvelope(envelope) }]);
    const { stdout } = await run(goBinary, [
      'consume',
      '--redis',
      CROSS_URL,
      '--count',
      '1',
      '--timeout',
      '10s',
    ]);
    expect(JSON.parse(stdout.trim())).toEqual(envelope);
  });

  it('Go dead-letters what it cannot read in the same record format, and Thrun reads the record back', async () => {
    await redis.lpush('events', Buffer.from([0x7b, 0xff, 0x7d])); // `{`, a byte that is not UTF-8, `}`
    await open().publish('events', [{ body: encodeEnvelope({ event: 'after', payload: {} }) }]);
    const { stdout } = await run(goBinary, [
      'consume',
      '--redis',
      CROSS_URL,
      '--count',
      '1',
      '--timeout',
      '10s',
    ]);
    expect(JSON.parse(stdout.trim())).toEqual({ event: 'after', payload: {} });
    const record = decodeDeadLetter({ body: new Uint8Array((await redis.lindexBuffer('events.dead', 0))!) });
    expect(record).toMatchObject({ queue: 'events', attempts: 1, error: { code: 'invalid_utf8' } });
    expect([...record.originalBody]).toEqual([0x7b, 0xff, 0x7d]);
  });

  it("Go rejects what breaks the schema: validate's exit code and reason", async () => {
    const child = run(goBinary, ['validate']);
    child.child.stdin!.end(
      '{"event":"order_created","payload":{},"meta":{"event_id":"x","timestamp":"now","source":"go"}}',
    );
    const error = await child.catch((e) => e);
    expect(error.code).toBe(1);
    expect(error.stderr).toContain('event_id');
  });

  it('handles a bare Go message, which has no meta', async () => {
    // What a minimal Go program pushes: json.Marshal of {Event, Payload{Text}}, via rdb.LPush(ctx, "events", data).
    await redis.lpush('events', '{"event":"go_message","payload":{"text":"hello"}}');
    const received: Envelope[] = [];
    await open().consume(
      'events',
      decoding((envelope) => received.push(envelope)),
    );
    await waitFor(() => received.length === 1);
    expect(received[0]).toEqual({ event: 'go_message', payload: { text: 'hello' } });
  });

  it('dead-letters a malformed foreign message and handles the good one behind it', async () => {
    await redis.lpush('events', '{"event":"go_message","payload":');
    await redis.lpush('events', '{"event":"go_message","payload":{"text":"after"}}');
    const received: Envelope[] = [];
    await open().consume(
      'events',
      decoding((envelope) => received.push(envelope)),
    );
    await waitFor(() => received.length === 1);
    expect(received[0]!.payload).toEqual({ text: 'after' });
    await waitFor(async () => (await redis.llen('events.dead')) === 1);
    const record = decodeDeadLetter({ body: bytes((await redis.lindex('events.dead', 0))!) });
    expect(Buffer.from(record.originalBody).toString()).toBe('{"event":"go_message","payload":');
    expect(record.error.code).toBe('invalid_json');
    expect(record.queue).toBe('events');
    expect(await redis.llen('events')).toBe(0);
  });
});
