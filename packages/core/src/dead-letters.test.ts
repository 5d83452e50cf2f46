import { ConfigurationError, encodeDeadLetterFrame, type Transport } from '@thrun/contract';
import { memoryTransport } from '@thrun/transport-memory';
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from './errors.js';
import { silentLogger } from './logger.js';
import { utf8, waitFor } from './test-fixtures/helpers.js';
import { createThrun } from './thrun.js';

async function withDeadLetters() {
  const transport = memoryTransport();
  const thrun = createThrun({ transport, logger: silentLogger, retry: { maxAttempts: 2, backoffMs: 5 } });
  const handled: number[] = [];
  let healthy = false;
  thrun.subscribe('order_created', (payload) => {
    if (!healthy) throw new NonRetryableError(`order ${payload.order_id} failed`);
    handled.push(payload.order_id as number);
  });
  await thrun.start();
  for (const order_id of [1, 2, 3]) await thrun.event('order_created', { order_id });
  await transport.publish('events', [{ body: utf8.encode('{"event": oops') }]);
  await waitFor(async () => (await transport.peek!('events.dead', 100)).length === 4, 'four dead letters');
  return { transport, thrun, handled, heal: () => (healthy = true) };
}

describe('thrun.deadLetters', () => {
  it('lists dead letters with their reason, attempts, original bytes and decoded envelope', async () => {
    const { thrun } = await withDeadLetters();
    const entries = await thrun.deadLetters.list('events');
    expect(entries).toHaveLength(4);
    expect(entries.map((e) => [e.position, e.queue, e.error.code, e.attempts])).toEqual([
      [0, 'events', 'non_retryable', 1],
      [1, 'events', 'non_retryable', 1],
      [2, 'events', 'non_retryable', 1],
      [3, 'events', 'invalid_json', 1],
    ]);
    expect(entries[0]!.envelope).toMatchObject({ event: 'order_created', payload: { order_id: 1 } });
    expect(entries[3]!.envelope).toBeUndefined();
    expect(new TextDecoder().decode(entries[3]!.body)).toBe('{"event": oops');
    expect(Date.parse(entries[0]!.failedAt)).not.toBeNaN();
    expect(await thrun.deadLetters.list('events', { limit: 2 })).toHaveLength(2);
    await thrun.close();
  });

  it('inspects one entry by position', async () => {
    const { thrun } = await withDeadLetters();
    const entry = await thrun.deadLetters.inspect('events', 1);
    expect(entry?.envelope?.payload).toEqual({ order_id: 2 });
    expect(await thrun.deadLetters.inspect('events', 99)).toBeUndefined();
    expect(await thrun.deadLetters.inspect('events', -1)).toBeUndefined();
    await thrun.close();
  });

  it('replays the chosen entries to their queue with a fresh attempt count and keeps the others', async () => {
    const { thrun, handled, heal } = await withDeadLetters();
    heal();
    const attempts: number[] = [];
    thrun.subscribe('order_created', (_p, ctx) => void attempts.push(ctx.attempt));
    const report = await thrun.deadLetters.replay('events', {
      filter: (entry) => entry.envelope !== undefined && entry.envelope.payload.order_id !== 2,
    });
    expect(report).toEqual({ replayed: 2, kept: 2 });
    await waitFor(() => handled.length === 2, 'replayed orders handled');
    expect(handled.sort()).toEqual([1, 3]);
    expect(attempts).toEqual([1, 1]);
    const left = await thrun.deadLetters.list('events');
    expect(left.map((e) => String(e.envelope?.payload.order_id ?? e.error.code)).sort()).toEqual([
      '2',
      'invalid_json',
    ]);
    // A limit replays at most that many.
    expect(await thrun.deadLetters.replay('events', { limit: 1 })).toEqual({ replayed: 1, kept: 1 });
    await waitFor(() => handled.length === 3, 'order 2 handled');
    // The poison message comes back as poison: dead-lettered again, never handled.
    await thrun.deadLetters.replay('events');
    await waitFor(
      async () => (await thrun.deadLetters.list('events')).length === 1,
      'poison back in the DLQ',
    );
    expect(handled.sort()).toEqual([1, 2, 3]);
    await thrun.close();
  });

  it('reports replay progress after each record, with the total it started from', async () => {
    const { thrun, heal } = await withDeadLetters();
    heal();
    const seen: [number, number, number, number | undefined][] = [];
    const report = await thrun.deadLetters.replay('events', {
      filter: (entry) => entry.envelope !== undefined,
      onProgress: (p) => {
        seen.push([p.seen, p.replayed, p.kept, p.total]);
        throw new Error('a broken progress bar');
      },
    });
    expect(report).toEqual({ replayed: 3, kept: 1 });
    expect(seen).toEqual([
      [1, 1, 0, 4],
      [2, 2, 0, 4],
      [3, 3, 0, 4],
      [4, 3, 1, 4],
    ]);
    await thrun.close();
  });

  it('lists and replays what earlier versions wrote (a record) and what Redis holds (a frame)', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, logger: silentLogger });
    const handled: unknown[] = [];
    thrun.subscribe('order_created', (payload) => void handled.push(payload.order_id));
    await thrun.start();
    const description = {
      queue: 'events',
      error: { code: 'max_attempts', message: 'gave up' },
      attempts: 3,
      failed_at: '2026-01-01T00:00:00.000Z',
    };
    const record = { ...description, body: '{"event":"order_created","payload":{"order_id":7}}' };
    const frame = encodeDeadLetterFrame({
      queue: 'events',
      body: utf8.encode('{"event":"order_created","payload":{"order_id":8}}'),
      reason: description.error,
      attempts: 3,
    });
    await transport.publish('events.dead', [{ body: utf8.encode(JSON.stringify(record)) }, { body: frame }]);
    const entries = await thrun.deadLetters.list('events');
    expect(entries.map((entry) => [entry.form, entry.attempts, entry.envelope?.payload.order_id])).toEqual([
      ['record', 3, 7],
      ['frame', 3, 8],
    ]);
    expect(await thrun.deadLetters.replay('events')).toEqual({ replayed: 2, kept: 0 });
    await waitFor(() => handled.length === 2, 'both replayed');
    expect(handled.sort()).toEqual([7, 8]);
    await thrun.close();
  });

  it('purges a dead-letter queue', async () => {
    const { thrun } = await withDeadLetters();
    expect(await thrun.deadLetters.purge('events')).toBe(4);
    expect(await thrun.deadLetters.list('events')).toEqual([]);
    expect(await thrun.deadLetters.replay('events')).toEqual({ replayed: 0, kept: 0 });
    await thrun.close();
  });

  it('says clearly when the transport cannot peek or purge', async () => {
    const base = memoryTransport();
    const { peek: _peek, purge: _purge, ...rest } = base;
    const thrun = createThrun({ transport: rest as Transport, logger: silentLogger });
    for (const run of [() => thrun.deadLetters.list('events'), () => thrun.deadLetters.purge('events')]) {
      const error = await run().catch((e: unknown) => e);
      expect(ConfigurationError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: 'unsupported_feature' });
      expect(String(error)).toMatch(/memory transport has no (peek|purge)\(\)/);
    }
  });
});
