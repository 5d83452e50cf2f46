import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeDeadLetter,
  decodeEnvelope,
  type Envelope,
  ValidationError,
  validateDeadLetterRecord,
} from '@thrun/contract';
import { createMemoryBroker, memoryTransport } from '@thrun/transport-memory';
import { describe, expect, it, vi } from 'vitest';
import { NonRetryableError, permanent } from './errors.js';
import { interceptDeliveries } from './internal/intercept.js';
import { silentLogger } from './logger.js';
import type { ThrunOptions } from './options.js';
import { refusingDeadLetters, text, utf8, waitFor } from './test-fixtures/helpers.js';
import { createThrun } from './thrun.js';
import { type DeliveryOutcome, retryDelayMs } from './worker.js';

function setup(options: ThrunOptions = {}) {
  const transport = options.transport ?? memoryTransport();
  const thrun = createThrun({ logger: silentLogger, ...options, transport });
  return { transport, thrun };
}

async function deadLetters(transport: ReturnType<typeof memoryTransport>, queue = 'events') {
  return (await transport.peek!(`${queue}.dead`, 1000)).map((m) => decodeDeadLetter(m));
}

describe('the worker', () => {
  it('consumes the queues that have listeners, acknowledges successes and counts them', async () => {
    const { transport, thrun } = setup({ routes: { 'billing.*': 'billing' } });
    const seen: string[] = [];
    thrun.subscribe('order_created', (payload, ctx) => void seen.push(`${ctx.queue}:${payload.order_id}`));
    thrun.subscribe('billing.paid', (payload, ctx) => void seen.push(`${ctx.queue}:${payload.order_id}`));
    await thrun.start();
    expect(thrun.running).toBe(true);
    await thrun.event('order_created', { order_id: 1 });
    await thrun.event('billing.paid', { order_id: 2 });
    await waitFor(() => seen.length === 2, 'both events');
    expect(seen.sort()).toEqual(['billing:2', 'events:1']);
    await waitFor(() => thrun.stats().totals.handled === 2, 'acks');
    const stats = thrun.stats();
    expect(stats.events.order_created).toMatchObject({ dispatched: 1, handled: 1, retried: 0, inFlight: 0 });
    expect(stats.events.order_created!.latency.count).toBe(1);
    expect(await transport.peek!('events', 10)).toHaveLength(0);
    await thrun.close();
    expect(thrun.running).toBe(false);
  });

  it('starts consuming a new queue when a listener for it is added while running', async () => {
    const { thrun } = setup({ routes: { 'late.*': 'late' } });
    thrun.subscribe('early', () => {});
    await thrun.start();
    const seen: string[] = [];
    thrun.subscribe('late.one', (_p, ctx) => void seen.push(ctx.queue!));
    await thrun.event('late.one', {});
    await waitFor(() => seen.length === 1, 'the late queue');
    expect(seen).toEqual(['late']);
    await thrun.close();
  });

  it('retries exactly up to maxAttempts, then dead-letters with the original bytes and the reason', async () => {
    const { transport, thrun } = setup({ retry: { maxAttempts: 4, backoffMs: 5, jitter: false } });
    const attempts: number[] = [];
    thrun.subscribe('always_fails', (_payload, ctx) => {
      attempts.push(ctx.attempt);
      throw new Error(`boom ${ctx.attempt}`);
    });
    await thrun.start();
    await thrun.event('always_fails', { n: 1 });
    await waitFor(async () => (await deadLetters(transport)).length === 1, 'the dead letter');
    expect(attempts).toEqual([1, 2, 3, 4]);
    const [record] = await deadLetters(transport);
    const { originalBody: _body, form, ...description } = record!;
    expect(form).toBe('headers');
    expect(() => validateDeadLetterRecord(description)).not.toThrow();
    expect(record).toMatchObject({ queue: 'events', attempts: 4, error: { code: 'max_attempts' } });
    expect(record!.error.message).toMatch(/attempt 4 of 4: boom 4/);
    expect(decodeEnvelope(record!.originalBody)).toMatchObject({ event: 'always_fails', payload: { n: 1 } });
    expect(thrun.stats().events.always_fails).toMatchObject({ retried: 3, deadLettered: 1, handled: 0 });
    // Nothing after the dead letter: watch longer than the next backoff delay would have been (40 ms).
    await sleep(100);
    expect(attempts).toHaveLength(4);
    await thrun.close();
  });

  it('a refused dead letter is tried again after a backoff, in place: the handler never runs again', async () => {
    let refusing = true;
    const faulty = refusingDeadLetters(memoryTransport(), () => refusing);
    const settleErrors: { action: string; attempt: number }[] = [];
    const { transport, thrun } = setup({
      transport: faulty.transport,
      retry: { maxAttempts: 2, backoffMs: 5, jitter: false },
      hooks: { onSettleError: ({ action, attempt }) => settleErrors.push({ action, attempt }) },
    });
    let runs = 0;
    thrun.subscribe('always_fails', () => {
      runs++;
      throw new Error('boom');
    });
    await thrun.start();
    await thrun.event('always_fails', {});
    await waitFor(() => faulty.calls.length >= 1, 'the first dead-letter try');
    await sleep(1_500);
    // Idle while the dead queue refuses: a few tries with a growing pause, no loop, no copy.
    const triesWhileRefused = faulty.calls.length;
    expect(triesWhileRefused).toBeGreaterThanOrEqual(2);
    expect(triesWhileRefused).toBeLessThanOrEqual(8);
    expect(runs).toBe(2);
    expect(await transport.peek!('events', 10)).toEqual([]);
    expect(thrun.stats().totals.settleFailures).toBe(triesWhileRefused);
    expect(settleErrors).toEqual(Array(triesWhileRefused).fill({ action: 'dead-letter', attempt: 2 }));

    refusing = false;
    await waitFor(async () => (await deadLetters(transport)).length === 1, 'the dead letter once accepted');
    await sleep(100);
    expect(runs).toBe(2);
    expect(await deadLetters(transport)).toHaveLength(1);
    expect(thrun.stats().events.always_fails).toMatchObject({ deadLettered: 1, handled: 0, retried: 1 });
    await thrun.close();
  });

  it('a delivery past maxAttempts goes to the dead queue without running its listener', async () => {
    // As after crashes: the broker hands the message out as attempt 4 of a maxAttempts of 3.
    const faulty = refusingDeadLetters(memoryTransport(), () => false, 3);
    const { transport, thrun } = setup({ transport: faulty.transport, retry: { maxAttempts: 3 } });
    let runs = 0;
    thrun.subscribe('order_created', () => {
      runs++;
    });
    await thrun.start();
    await thrun.event('order_created', { order_id: 1 });
    await waitFor(async () => (await deadLetters(transport)).length === 1, 'the dead letter');
    const [letter] = await deadLetters(transport);
    expect(letter).toMatchObject({ error: { code: 'max_attempts' } });
    expect(letter!.error.message).toMatch(/attempt 4, past maxAttempts \(3\)/);
    expect(runs).toBe(0);
    await thrun.close();
  });

  it('stops at once while a refused settlement waits, leaving the delivery to the transport', async () => {
    const faulty = refusingDeadLetters(memoryTransport(), () => true);
    const { thrun } = setup({ transport: faulty.transport, retry: { maxAttempts: 1 } });
    thrun.subscribe('always_fails', () => {
      throw new Error('boom');
    });
    await thrun.start();
    await thrun.event('always_fails', {});
    await waitFor(() => faulty.calls.length >= 2, 'a second dead-letter try');
    const started = Date.now();
    await thrun.stop({ drainTimeoutMs: 10_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    await thrun.close({ drainTimeoutMs: 0 });
  });

  it('waits at least the configured backoff between attempts, doubling each time', async () => {
    const { thrun } = setup({ retry: { maxAttempts: 4, backoffMs: 40, maxBackoffMs: 10_000 } });
    const times: number[] = [];
    thrun.subscribe('slow_retry', () => {
      times.push(performance.now());
      throw new Error('again');
    });
    await thrun.start();
    await thrun.event('slow_retry', {});
    await waitFor(() => times.length === 4, 'four attempts');
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Timers may fire a millisecond early by rounding; jitter only ever adds.
    expect(gaps[0]).toBeGreaterThanOrEqual(39);
    expect(gaps[1]).toBeGreaterThanOrEqual(79);
    expect(gaps[2]).toBeGreaterThanOrEqual(159);
    await thrun.close();
  });

  it('draws jittered retry delays uniformly from [delay, 2·delay], then caps them at maxBackoffMs', () => {
    const retry = { maxAttempts: 10, baseMs: 100, maxMs: 1_000, jitter: 'full' as const };
    const delays = (random: () => number) =>
      [1, 2, 3, 4, 5, 6].map((attempt) => retryDelayMs(attempt, retry, random));
    // Exact values at both ends and the middle: a change of the range (down to delay/2, up past
    // 2·delay, past the cap) fails here. The nominal delays are 100, 200, 400, 800, 1,000, 1,000.
    expect(delays(() => 0)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(delays(() => 0.5)).toEqual([150, 300, 600, 1_000, 1_000, 1_000]);
    expect(delays(() => 1 - Number.EPSILON)).toEqual([200, 400, 800, 1_000, 1_000, 1_000]);
    expect(delays(() => 0.2)[3]).toBe(960);
    expect([1, 2, 3].map((a) => retryDelayMs(a, { ...retry, jitter: 'none' }))).toEqual([100, 200, 400]);
  });

  it('retries with jitter by default: onRetry reports delays drawn from [delay, 2·delay]', async () => {
    const draws = [0, 1 - Number.EPSILON, 0.5];
    const random = vi.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 0);
    try {
      const delays: number[] = [];
      const { thrun } = setup({
        retry: { maxAttempts: 4, backoffMs: 10 },
        hooks: { onRetry: ({ delayMs }) => void delays.push(delayMs) },
      });
      thrun.subscribe('flaky', () => {
        throw new Error('again');
      });
      await thrun.start();
      await thrun.event('flaky', {});
      await waitFor(() => thrun.stats().totals.deadLettered === 1, 'the last attempt');
      // Nominal delays 10, 20, 40; drawn at the bottom, the top and the middle of each range.
      expect(delays).toEqual([10, 40, 60]);
      await thrun.close();
    } finally {
      random.mockRestore();
    }
  });

  it('dead-letters at once on a non-retryable error: NonRetryableError, permanent(), a ValidationError', async () => {
    const { transport, thrun } = setup({ retry: { maxAttempts: 5, backoffMs: 5 } });
    const attempts: Record<string, number> = { a: 0, b: 0, c: 0 };
    thrun.subscribe('perm_a', () => {
      attempts.a!++;
      throw new NonRetryableError('order 7 does not exist');
    });
    thrun.subscribe('perm_b', () => {
      attempts.b!++;
      throw permanent(new TypeError('bad data'));
    });
    thrun.subscribe('perm_c', () => {
      attempts.c!++;
      throw new ValidationError('schema_violation', 'not what we expected');
    });
    await thrun.start();
    await thrun.events([
      { event: 'perm_a', payload: {} },
      { event: 'perm_b', payload: {} },
      { event: 'perm_c', payload: {} },
    ]);
    await waitFor(async () => (await deadLetters(transport)).length === 3, 'three dead letters');
    expect(attempts).toEqual({ a: 1, b: 1, c: 1 });
    const records = await deadLetters(transport);
    expect(records.map((r) => [r.attempts, r.error.code, r.error.message])).toEqual([
      [1, 'non_retryable', 'order 7 does not exist'],
      [1, 'non_retryable', 'bad data'],
      [1, 'schema_violation', 'not what we expected'],
    ]);
    await thrun.close();
  });

  it('dead-letters bad input with its reason while good messages keep flowing', async () => {
    const { transport, thrun } = setup({ limits: { maxPayloadBytes: 4096, maxDepth: 16 } });
    const handled: number[] = [];
    thrun.subscribe('good', (payload) => void handled.push(payload.n as number));
    await thrun.start();
    const nested = `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`;
    const bad: [string, Uint8Array][] = [
      ['malformed JSON', utf8.encode('{"event": "good", "payload": ')],
      ['not an envelope', utf8.encode('[1, 2, 3]')],
      ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
      ['too big', utf8.encode(JSON.stringify({ event: 'good', payload: { s: 'x'.repeat(5000) } }))],
      ['too deep', utf8.encode(`{"event":"good","payload":${nested}}`)],
      ['invalid event name', utf8.encode('{"event":"Not Valid","payload":{}}')],
    ];
    let n = 0;
    for (const [, body] of bad) {
      await thrun.event('good', { n: n++ });
      await transport.publish('events', [{ body }]);
    }
    await thrun.event('good', { n: n++ });
    await waitFor(() => handled.length === n, 'every good message');
    await waitFor(
      async () => (await deadLetters(transport)).length === bad.length,
      'every bad message dead-lettered',
    );
    expect(handled).toEqual([...Array(n).keys()]);
    const records = await deadLetters(transport);
    for (const record of records) {
      expect(record.attempts).toBe(1);
      expect(typeof record.error.code).toBe('string');
      expect(record.error.code).not.toBe('');
    }
    const codes = records.map((r) => r.error.code);
    expect(codes[0]).toBe('invalid_json');
    expect(codes[2]).toBe('invalid_utf8');
    expect(codes[3]).toBe('payload_too_large');
    // The original bytes are kept exactly, even when they are not UTF-8.
    expect([...records[2]!.originalBody]).toEqual([0x7b, 0xff, 0xfe, 0x7d]);
    expect(thrun.stats().totals.rejected).toBeGreaterThanOrEqual(4);
    await thrun.close();
  });

  it('dead-letters unknown events by default, and can drop or leave them', async () => {
    const broker = createMemoryBroker();
    const run = async (unknownEvents: ThrunOptions['unknownEvents']) => {
      const transport = memoryTransport({ broker });
      const thrun = createThrun({
        transport,
        logger: silentLogger,
        // One at a time, in order: once `known` ran, the unknown event before it has been settled.
        concurrency: 1,
        retry: { backoffMs: 30 },
        ...(unknownEvents ? { unknownEvents } : {}),
      });
      const seen: string[] = [];
      thrun.subscribe('known', () => void seen.push('known'));
      await thrun.start();
      await transport.publish('events', [
        { body: utf8.encode('{"event":"go_message","payload":{"text":"hi"}}') },
      ]);
      await thrun.event('known', {});
      await waitFor(() => seen.length === 1, 'the known event');
      await thrun.stop();
      return transport;
    };
    const t1 = await run(undefined);
    const [record] = await deadLetters(t1);
    expect(record).toMatchObject({ error: { code: 'unknown_event' } });
    expect(text.decode(record!.originalBody)).toBe('{"event":"go_message","payload":{"text":"hi"}}');
    await t1.purge!('events.dead');

    const t2 = await run('drop');
    expect(await deadLetters(t2)).toHaveLength(0);
    expect(await t2.peek!('events', 10)).toHaveLength(0);

    const t3 = await run('leave');
    // Its last retry delay runs out with nobody consuming, and it is back in the queue.
    await waitFor(
      async () => (await t3.peek!('events', 10)).length === 1,
      'the unknown event back in the queue',
    );
    expect(await deadLetters(t3)).toHaveLength(0);
    const left = await t3.peek!('events', 10);
    expect(left.map((m) => decodeEnvelope(m.body).event)).toEqual(['go_message']);
  });

  it('gives an exact and a wildcard listener each one matching event once', async () => {
    const { thrun } = setup();
    const seen: string[] = [];
    thrun.subscribe('order.paid', () => void seen.push('exact'));
    thrun.subscribe('order.*', () => void seen.push('wildcard'));
    thrun.subscribe('#', (_p, ctx) => void seen.push(`all:${ctx.name}`));
    await thrun.start();
    await thrun.event('order.paid', {});
    await waitFor(() => seen.length === 3, 'three handlers');
    await thrun.close(); // drains whatever else was delivered
    expect(seen.sort()).toEqual(['all:order.paid', 'exact', 'wildcard']);
  });

  it('on retry runs again only the listeners that failed', async () => {
    const { thrun } = setup({ retry: { maxAttempts: 5, backoffMs: 5 } });
    const runs: string[] = [];
    thrun.subscribe('order_created', () => void runs.push('mailer'));
    thrun.subscribe('order_created', (_p, ctx) => {
      runs.push(`flaky:${ctx.attempt}`);
      if (ctx.attempt < 3) throw new Error('not yet');
    });
    await thrun.start();
    await thrun.event('order_created', {});
    await waitFor(() => thrun.stats().totals.handled === 1, 'success on attempt 3');
    expect(runs).toEqual(['mailer', 'flaky:1', 'flaky:2', 'flaky:3']);
    expect(thrun.stats().events.order_created).toMatchObject({ retried: 2, handled: 1 });
    await thrun.close();
  });

  it('keeps concurrency within the bound', async () => {
    const { thrun } = setup({ concurrency: 3 });
    let running = 0;
    let peak = 0;
    let done = 0;
    thrun.subscribe('work', async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(10);
      running--;
      done++;
    });
    await thrun.start();
    await thrun.events(Array.from({ length: 20 }, (_, i) => ({ event: 'work', payload: { i } })));
    await waitFor(() => done === 20, 'all work');
    expect(peak).toBe(3);
    await thrun.close();
  });

  it('stop() under load loses nothing: every message is handled or still queued', async () => {
    const { transport, thrun } = setup({ concurrency: 8, drainTimeoutMs: 5_000 });
    const handled = new Set<number>();
    thrun.subscribe('load', async (payload) => {
      await sleep(2 + (Number(payload.i) % 5));
      handled.add(payload.i as number);
    });
    await thrun.start();
    const total = 300;
    await thrun.events(Array.from({ length: total }, (_, i) => ({ event: 'load', payload: { i } })));
    await waitFor(() => handled.size >= 20, 'some progress');
    await thrun.stop();
    const queued = (await transport.peek!('events', 10_000)).map(
      (m) => decodeEnvelope(m.body).payload.i as number,
    );
    const accounted = new Set([...handled, ...queued]);
    expect(accounted.size).toBe(total);
    expect(handled.size).toBeLessThan(total); // it really stopped midway
    expect(await transport.peek!('events.dead', 10)).toHaveLength(0);
    // Starting again finishes the rest.
    await thrun.start();
    await waitFor(() => handled.size === total, 'the rest after restart');
    await thrun.close();
  });

  it('stop() aborts the signal of handlers still running at the deadline and releases their messages', async () => {
    const { transport, thrun } = setup({ concurrency: 2 });
    const aborted: number[] = [];
    let started = 0;
    thrun.subscribe('stuck', async (payload, ctx) => {
      started++;
      await new Promise<void>((_, reject) => {
        ctx.signal.addEventListener('abort', () => {
          aborted.push(payload.i as number);
          reject(ctx.signal.reason);
        });
      });
    });
    await thrun.start();
    await thrun.events([0, 1].map((i) => ({ event: 'stuck', payload: { i } })));
    await waitFor(() => started === 2, 'both handlers running');
    const before = performance.now();
    await thrun.stop({ drainTimeoutMs: 100 });
    expect(performance.now() - before).toBeGreaterThanOrEqual(95);
    expect(aborted.sort()).toEqual([0, 1]);
    const queued = (await transport.peek!('events', 10)).map((m) => decodeEnvelope(m.body).payload.i);
    expect(queued.sort()).toEqual([0, 1]);
    expect(await transport.peek!('events.dead', 10)).toHaveLength(0);
    expect(thrun.stats().events.stuck).toMatchObject({ retried: 0, deadLettered: 0, inFlight: 0 });
  });

  it('calls the hooks, and instrument wraps dispatch and handling', async () => {
    const calls: string[] = [];
    const { thrun } = setup({
      retry: { maxAttempts: 2, backoffMs: 5 },
      hooks: {
        onDispatch: ({ envelope, queue }) => void calls.push(`dispatch:${envelope.event}:${queue}`),
        onHandled: ({ envelope, attempt }) => void calls.push(`handled:${envelope.event}:${attempt}`),
        onRetry: ({ envelope, attempt }) => void calls.push(`retry:${envelope.event}:${attempt}`),
        onDeadLetter: ({ envelope, reason }) => void calls.push(`dead:${envelope?.event}:${reason.code}`),
        instrument: async (operation, run) => {
          calls.push(`span:${operation.kind}:${operation.name}`);
          return run();
        },
      },
    });
    thrun.subscribe('ok', () => {});
    thrun.subscribe('bad', () => {
      throw new Error('x');
    });
    await thrun.start();
    await thrun.event('ok', {});
    await waitFor(() => calls.includes('handled:ok:1'), 'handled hook');
    await thrun.event('bad', {});
    await waitFor(() => calls.includes('dead:bad:max_attempts'), 'dead-letter hook');
    // Dispatch hooks and the consumer run concurrently; each side keeps its own order.
    const isDispatch = (c: string) => c.includes('dispatch');
    expect(calls.filter(isDispatch)).toEqual([
      'span:dispatch:ok',
      'dispatch:ok:events',
      'span:dispatch:bad',
      'dispatch:bad:events',
    ]);
    expect(calls.filter((c) => !isDispatch(c))).toEqual([
      'span:handle:ok',
      'handled:ok:1',
      'span:handle:bad',
      'retry:bad:1',
      'span:handle:bad',
      'dead:bad:max_attempts',
    ]);
    await thrun.close();
  });

  it('lets an interceptor see each final outcome before settlement, with meta.batch passed through', async () => {
    const broker = createMemoryBroker();
    const { thrun } = setup({
      transport: memoryTransport({ broker }),
      retry: { maxAttempts: 2, backoffMs: 5 },
    });
    const outcomes: string[] = [];
    const batches: unknown[] = [];
    interceptDeliveries(thrun, {
      beforeHandle: ({ envelope }) => (envelope.payload.skip ? 'skip' : 'run'),
      beforeSettle: (outcome: DeliveryOutcome) => {
        outcomes.push(`${outcome.envelope.payload.step}:${outcome.status}:${outcome.attempt}`);
      },
    });
    thrun.subscribe('step', (payload, ctx) => {
      batches.push(ctx.envelope.meta?.batch);
      if (payload.fail) throw new Error('step failed');
    });
    await thrun.start();
    const batch = { id: '6f1c1f4e-0d7b-4e55-9a34-2b0c9f1d7c11', index: 0, total: 2, custom: { x: [1] } };
    await thrun.event('step', { step: 'a' }, { meta: { batch } });
    await waitFor(() => outcomes.length === 1, 'first outcome');
    await thrun.event('step', { step: 'b', fail: true });
    await waitFor(() => outcomes.length === 3, 'failure outcomes');
    await thrun.event('step', { step: 'c', skip: true });
    // The memory transport hands a message to a free consumer as it is published; close drains it.
    await thrun.close();
    // `c` was taken and settled (read through a second transport: a closed one refuses every call)
    expect(await memoryTransport({ broker }).peek!('events', 10)).toHaveLength(0);
    expect(outcomes).toEqual(['a:handled:1', 'b:retrying:1', 'b:dead-lettered:2']);
    expect(batches[0]).toEqual(batch);
  });

  it('retries the delivery when an interceptor fails before settlement', async () => {
    const { thrun } = setup({ retry: { maxAttempts: 5, backoffMs: 5 } });
    let failures = 1;
    const handledAttempts: number[] = [];
    interceptDeliveries(thrun, {
      beforeSettle: () => {
        if (failures-- > 0) throw new Error('store unavailable');
      },
    });
    thrun.subscribe('e', (_p, ctx) => void handledAttempts.push(ctx.attempt));
    thrun.subscribe('e', () => {});
    await thrun.start();
    await thrun.event('e', {});
    await waitFor(() => thrun.stats().totals.handled === 1, 'handled after the interceptor recovered');
    expect(handledAttempts).toEqual([1, 2]);
    await thrun.close();
  });
});

describe('several workers', () => {
  it('share a queue as competing consumers of one group: every message handled once', async () => {
    const broker = createMemoryBroker();
    // Every delivery is recorded, duplicates included: a second delivery must show up in the count,
    // not hide behind a throw that core would turn into a retry.
    const deliveries: { i: number; worker: string; attempt: number }[] = [];
    const workers = ['a', 'b'].map((name) => {
      const thrun = createThrun({
        transport: memoryTransport({ broker }),
        logger: silentLogger,
        concurrency: 4,
      });
      thrun.subscribe('job', async (payload, ctx) => {
        deliveries.push({ i: payload.i as number, worker: name, attempt: ctx.attempt });
        await sleep(1);
      });
      return thrun;
    });
    await Promise.all(workers.map((w) => w.start()));
    await workers[0]!.events(Array.from({ length: 200 }, (_, i) => ({ event: 'job', payload: { i } })));
    await waitFor(() => new Set(deliveries.map((d) => d.i)).size === 200, 'every job');
    await Promise.all(workers.map((w) => w.close()));
    expect(deliveries).toHaveLength(200);
    expect(new Set(deliveries.map((d) => d.i)).size).toBe(200);
    expect(deliveries.every((d) => d.attempt === 1)).toBe(true);
    expect(deliveries.filter((d) => d.worker === 'a').length).toBeGreaterThan(0);
    expect(deliveries.filter((d) => d.worker === 'b').length).toBeGreaterThan(0);
    const totals = workers.map((w) => w.stats().totals);
    expect(totals.reduce((sum, t) => sum + t.handled, 0)).toBe(200);
    expect(totals.reduce((sum, t) => sum + t.retried, 0)).toBe(0);
  });
});

describe('stats', () => {
  it('reports per-event counters and handler latency percentiles', async () => {
    const { thrun } = setup({ concurrency: 5 });
    let done = 0;
    thrun.subscribe('timed', async (payload) => {
      await sleep(payload.slow ? 120 : 20);
      done++;
    });
    await thrun.start();
    await thrun.events(
      Array.from({ length: 20 }, (_, i) => ({ event: 'timed', payload: { slow: i === 0 } })),
    );
    expect(thrun.stats().events.timed!.dispatched).toBe(20);
    await waitFor(() => done === 20, 'every handler');
    await waitFor(() => thrun.stats().events.timed!.handled === 20, 'every ack');
    const { latency, inFlight } = thrun.stats().events.timed!;
    expect(inFlight).toBe(0);
    expect(latency.count).toBe(20);
    expect(latency.p50Ms).toBeGreaterThanOrEqual(19);
    expect(latency.maxMs).toBeGreaterThanOrEqual(119);
    expect(latency.p99Ms).toBe(latency.maxMs); // 20 samples: the 99th percentile is the slowest
    expect(thrun.stats().totals).toMatchObject({ dispatched: 20, handled: 20, inFlight: 0 });
    await thrun.close();
  });
});

describe('envelopes from other producers', () => {
  it('handles a bare {event, payload} message with no meta', async () => {
    const { transport, thrun } = setup();
    const got: Envelope[] = [];
    thrun.subscribe('go_message', (_p, ctx) => void got.push(ctx.envelope));
    await thrun.start();
    await transport.publish('events', [
      { body: utf8.encode('{"event":"go_message","payload":{"text":"hello"}}') },
    ]);
    await waitFor(() => got.length === 1, 'the Go message');
    expect(got[0]).toMatchObject({ event: 'go_message', payload: { text: 'hello' } });
    await thrun.close();
  });
});
