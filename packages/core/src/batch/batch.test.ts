import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerSchema, validate } from '@hyperjump/json-schema/draft-2020-12';
import type { Envelope, JsonObject } from '@thrun/contract';
import { schemasDirectory } from '@thrun/contract/vectors';
import { createMemoryBroker, memoryTransport } from '@thrun/transport-memory';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../errors.js';
import { ThrunJob } from '../event-class.js';
import { silentLogger } from '../logger.js';
import type { ThrunOptions } from '../options.js';
import { settlementCounter, waitFor } from '../test-fixtures/helpers.js';
import { createThrun, type Thrun } from '../thrun.js';
import { batchEventId } from './event-id.js';
import { MemoryBatchStore } from './memory-batch-store.js';

class CreatePayment extends ThrunJob<{ order_id: number }> {
  static readonly event = 'create_payment';
}
class CreateOrder extends ThrunJob {
  static readonly event = 'create_order';
}
class SendOrderEmail extends ThrunJob {
  static readonly event = 'send_order_email';
}

const LIFECYCLE = ['order.progress', 'order.success', 'order.failed', 'order.finished'] as const;
const SCHEMA_OF: Record<string, string> = {
  'order.progress': 'https://thrun.dev/schemas/batch-progress.schema.json',
  'order.success': 'https://thrun.dev/schemas/batch-then.schema.json',
  'order.failed': 'https://thrun.dev/schemas/batch-catch.schema.json',
  'order.finished': 'https://thrun.dev/schemas/batch-finally.schema.json',
};

beforeAll(() => {
  for (const name of readdirSync(schemasDirectory).filter((n) => n.startsWith('batch-'))) {
    registerSchema(JSON.parse(readFileSync(join(schemasDirectory, name), 'utf8')));
  }
});

const buses: Thrun[] = [];
afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close({ drainTimeoutMs: 100 })));
});

/**
 * A bus on the memory transport that records every step run and every lifecycle event it consumes.
 * Buses given one `counter` share it: `quiet()` waits until every message any of them published is
 * settled, so "nothing more arrives" is checked against an idle bus, not after a guessed sleep.
 */
function orderBus(options: ThrunOptions = {}, counter = settlementCounter()) {
  const thrun = createThrun({
    logger: silentLogger,
    retry: { maxAttempts: 3, backoffMs: 1, maxBackoffMs: 5 },
    ...options,
    transport: counter.wrap(options.transport ?? memoryTransport()),
  });
  buses.push(thrun);
  const steps: { event: string; batch: unknown; attempt: number }[] = [];
  const lifecycle: Envelope[] = [];
  let running = 0;
  let maxRunning = 0;
  const behaviour = new Map<string, (attempt: number) => void | Promise<void>>();
  for (const event of ['create_payment', 'create_order', 'send_order_email']) {
    thrun.subscribe(event, async (_payload, ctx) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        steps.push({ event, batch: ctx.envelope.meta?.batch, attempt: ctx.attempt });
        await new Promise((resolve) => setTimeout(resolve, 2));
        await behaviour.get(event)?.(ctx.attempt);
      } finally {
        running--;
      }
    });
  }
  for (const event of LIFECYCLE) thrun.subscribe(event, (_payload, ctx) => void lifecycle.push(ctx.envelope));
  const of = (event: string, batchId?: string) =>
    lifecycle.filter((e) => e.event === event && (batchId === undefined || e.payload.batch_id === batchId));
  const quiet = () => waitFor(() => counter.outstanding === 0, 'every message settled');
  return { thrun, steps, lifecycle, behaviour, of, quiet, counter, maxRunning: () => maxRunning };
}

async function expectValidLifecycle(events: readonly Envelope[]): Promise<void> {
  for (const envelope of events) {
    const output = await validate(SCHEMA_OF[envelope.event]!, envelope.payload as never);
    expect(output.valid, `${envelope.event} ${JSON.stringify(envelope.payload)}`).toBe(true);
  }
}

describe('batches on the bus', () => {
  it('runs the documented batch example as written: steps in order, progress, then and finally once', async () => {
    const { thrun, steps, lifecycle, of, maxRunning, quiet } = orderBus();
    await thrun.start();

    const batchId = await thrun
      .batch([new CreatePayment({ order_id: 1 }), new CreateOrder(), new SendOrderEmail()])
      .then('order.success')
      .catch('order.failed')
      .finally('order.finished')
      .progress('order.progress');

    await waitFor(() => of('order.finished').length === 1, 'finally');
    expect(steps.map((s) => s.event)).toEqual(['create_payment', 'create_order', 'send_order_email']);
    expect(steps.map((s) => s.batch)).toEqual(
      [0, 1, 2].map((index) => ({ id: batchId, index, total: 3, mode: 'sequential' })),
    );
    expect(maxRunning()).toBe(1);
    await quiet(); // nothing more arrives
    expect(of('order.progress').map((e) => e.payload.percent)).toEqual([33, 66, 100]);
    expect(of('order.success')).toHaveLength(1);
    expect(of('order.failed')).toHaveLength(0);
    expect(of('order.finished')[0]?.payload).toEqual({
      batch_id: batchId,
      status: 'succeeded',
      completed: 3,
      failed: 0,
      total: 3,
    });
    await expectValidLifecycle(lifecycle);
    // Each lifecycle event carries the stable id of its batch and role.
    expect(of('order.finished')[0]?.meta?.event_id).toBe(batchEventId(batchId, 'finally'));
    expect(of('order.success')[0]?.meta?.event_id).toBe(batchEventId(batchId, 'then'));
    expect(of('order.progress').map((e) => e.meta?.event_id)).toEqual(
      [1, 2, 3].map((done) => batchEventId(batchId, `progress:${done}`)),
    );
    expect(await thrun.batches.get(batchId)).toMatchObject({
      status: 'succeeded',
      completed: 3,
      total: 3,
      percent: 100,
    });
  });

  it('retries a step by the worker policy and goes on once it succeeds', async () => {
    const { thrun, steps, behaviour, of } = orderBus();
    behaviour.set('create_order', (attempt) => {
      if (attempt < 3) throw new Error(`flaky ${attempt}`);
    });
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 2 }), new CreateOrder(), new SendOrderEmail()])
      .finally('order.finished');
    await waitFor(() => of('order.finished').length === 1, 'finally');
    expect(steps.map((s) => `${s.event}#${s.attempt}`)).toEqual([
      'create_payment#1',
      'create_order#1',
      'create_order#2',
      'create_order#3',
      'send_order_email#1',
    ]);
    expect((await thrun.batches.get(id))?.status).toBe('succeeded');
  });

  it('stops at the first failure: catch with the failed job, finally once, no later step', async () => {
    const { thrun, steps, behaviour, lifecycle, of, quiet } = orderBus();
    behaviour.set('create_order', () => {
      throw new NonRetryableError('card declined');
    });
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 3 }), new CreateOrder(), new SendOrderEmail()], {
        shared: { order_id: 3 },
      })
      .then('order.success')
      .catch('order.failed')
      .finally('order.finished')
      .progress('order.progress');
    await waitFor(() => of('order.finished').length === 1, 'finally');
    await quiet();
    expect(steps.map((s) => s.event)).toEqual(['create_payment', 'create_order']);
    expect(of('order.success')).toHaveLength(0);
    expect(of('order.failed')).toHaveLength(1);
    expect(of('order.failed')[0]?.payload).toMatchObject({
      order_id: 3,
      batch_id: id,
      reason: 'failed',
      failed_job: { event: 'create_order', index: 1 },
      error: { message: 'card declined' },
    });
    expect(of('order.finished')[0]?.payload).toMatchObject({
      order_id: 3,
      status: 'failed',
      completed: 1,
      failed: 1,
    });
    await expectValidLifecycle(lifecycle);
    expect(await thrun.batches.get(id)).toMatchObject({
      status: 'failed',
      failure: { reason: 'failed', job: { event: 'create_order', index: 1 } },
    });
  });

  it('fails the batch once a step has used up its attempts', async () => {
    const { thrun, steps, behaviour, of } = orderBus();
    behaviour.set('create_payment', () => {
      throw new Error('gateway down');
    });
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 4 }), new CreateOrder()])
      .catch('order.failed')
      .finally('order.finished');
    await waitFor(() => of('order.finished').length === 1, 'finally');
    expect(steps.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(of('order.failed')[0]?.payload).toMatchObject({ error: { code: 'max_attempts' } });
    expect((await thrun.batches.get(id))?.status).toBe('failed');
  });

  it('cancel stops further steps and fires catch (reason cancelled) and finally once', async () => {
    const { thrun, steps, behaviour, lifecycle, of, quiet } = orderBus();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    behaviour.set('create_payment', () => gate);
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 5 }), new CreateOrder()])
      .catch('order.failed')
      .finally('order.finished');
    await waitFor(() => steps.length === 1, 'the first step to start');
    expect(await thrun.batches.cancel(id)).toBe(true);
    expect(await thrun.batches.cancel(id)).toBe(false);
    release();
    await waitFor(() => of('order.finished').length === 1, 'finally');
    await quiet();
    expect(steps.map((s) => s.event)).toEqual(['create_payment']);
    expect(of('order.failed')).toHaveLength(1);
    expect(of('order.failed')[0]?.payload).toMatchObject({ reason: 'cancelled', failed_job: null });
    expect(of('order.finished')).toHaveLength(1);
    await expectValidLifecycle(lifecycle);
    expect((await thrun.batches.get(id))?.status).toBe('cancelled');
  });

  it('lists batches newest first with their progress, filtered by status', async () => {
    const { thrun, steps, behaviour } = orderBus();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    behaviour.set('create_order', () => gate);
    await thrun.start();
    const finished = await thrun.batch([], { name: 'empty' });
    // Batches created within one millisecond have no order between them (ties go by id).
    await new Promise((resolve) => setTimeout(resolve, 5));
    const running = await thrun.batch([new CreatePayment({ order_id: 6 }), new CreateOrder()], {
      name: 'orders',
    });
    await waitFor(() => steps.length === 2, 'the second step to start');
    const listed = await thrun.batches.list();
    expect(listed.map((b) => [b.id, b.name, b.status, b.percent])).toEqual([
      [running, 'orders', 'running', 50],
      [finished, 'empty', 'succeeded', 100],
    ]);
    expect((await thrun.batches.list({ status: ['running'] })).map((b) => b.id)).toEqual([running]);
    expect(await thrun.batches.list({ name: 'nothing' })).toEqual([]);
    expect(listed[0]).toEqual(await thrun.batches.get(running));
    expect(listed[0]).not.toHaveProperty('jobs');
    release();
  });

  it('a duplicate delivery of a step message runs neither it nor the next step twice', async () => {
    const broker = createMemoryBroker();
    const { thrun, steps, behaviour, of, quiet, counter } = orderBus({
      transport: memoryTransport({ broker }),
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    behaviour.set('create_order', () => gate);
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 6 }), new CreateOrder(), new SendOrderEmail()])
      .finally('order.finished');
    await waitFor(() => steps.length === 2, 'step 1 to start');
    // Step 0 arrives again while the batch runs, as after a lost acknowledgement.
    const step0: Envelope = {
      event: 'create_payment',
      payload: { order_id: 6 },
      meta: {
        event_id: 'ab0b1e3c-0000-4000-8000-000000000000',
        timestamp: new Date().toISOString(),
        source: 'node',
        batch: { id, index: 0, total: 3, mode: 'sequential' },
      },
    };
    const producer = counter.wrap(memoryTransport({ broker }));
    await producer.publish('events', [{ body: new TextEncoder().encode(JSON.stringify(step0)) }]);
    await waitFor(() => counter.outstanding === 1, 'the duplicate settled while step 1 runs');
    release();
    await waitFor(() => of('order.finished').length === 1, 'finally');
    await quiet();
    expect(steps.map((s) => s.event)).toEqual(['create_payment', 'create_order', 'send_order_email']);
    expect(of('order.finished')).toHaveLength(1);
    await producer.close();
  });

  it('a copy of a step delivered while the step runs waits for its lease: never two runs at once', async () => {
    const broker = createMemoryBroker();
    const { thrun, steps, behaviour, of, maxRunning } = orderBus({
      transport: memoryTransport({ broker }),
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    behaviour.set('create_order', () => gate);
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 7 }), new CreateOrder(), new SendOrderEmail()])
      .finally('order.finished');
    await waitFor(() => steps.length === 2, 'step 1 to start');
    // Step 1 itself arrives again while it runs, as when a republished step meets its first copy.
    const step1: Envelope = {
      event: 'create_order',
      payload: {},
      meta: {
        event_id: 'ab0b1e3c-0000-4000-8000-000000000001',
        timestamp: new Date().toISOString(),
        source: 'node',
        batch: { id, index: 1, total: 3, mode: 'sequential' },
      },
    };
    const producer = memoryTransport({ broker });
    await producer.publish('events', [{ body: new TextEncoder().encode(JSON.stringify(step1)) }]);
    // Taken by the worker, where it waits on the lease instead of going back to the queue (each trip
    // back would count an attempt).
    await waitFor(async () => (await producer.peek!('events', 10)).length === 0, 'the copy to be taken');
    release();
    await waitFor(() => of('order.finished').length === 1, 'finally');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(maxRunning()).toBe(1);
    expect(thrun.stats().events.create_order!.retried).toBe(0);
    expect(steps.map((s) => s.event)).toEqual(['create_payment', 'create_order', 'send_order_email']);
    await producer.close();
  });

  it('the outbox sweep publishes what a failed publish left behind', async () => {
    const memory = memoryTransport();
    let failNext = true;
    const flaky = Object.create(memory) as typeof memory;
    Object.defineProperty(flaky, 'publish', {
      value: (...args: Parameters<typeof memory.publish>) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('broker unavailable'));
        }
        return memory.publish(...args);
      },
    });
    const { thrun, steps, of } = orderBus({ transport: flaky, batches: { sweepIntervalMs: 20 } });
    await thrun.start();
    await expect(
      thrun.batch([new CreatePayment({ order_id: 8 }), new CreateOrder()]).finally('order.finished'),
    ).rejects.toThrow('broker unavailable');
    // Nothing redelivers a step that never went out: only the sweep can send it.
    await waitFor(() => of('order.finished').length === 1, 'finally');
    expect(steps.map((s) => s.event)).toEqual(['create_payment', 'create_order']);
    expect(of('order.finished')[0]?.payload).toMatchObject({ status: 'succeeded' });
  });

  it('reports a running batch without step activity as stalled, and a long step that renews its lease as not', async () => {
    const { thrun, behaviour, steps, of } = orderBus({
      batches: { stalledAfterMs: 150, stepLeaseMs: 60 },
    });
    // Not started: the first step waits in its queue and nothing happens.
    const id = await thrun
      .batch([new CreatePayment({ order_id: 9 }), new CreateOrder()])
      .finally('order.finished');
    expect(await thrun.batches.get(id)).toMatchObject({ status: 'running', stalled: false });
    await waitFor(async () => (await thrun.batches.get(id))?.stalled === true, 'stalled');

    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    behaviour.set('create_payment', () => gate);
    await thrun.start();
    await waitFor(() => steps.length === 1, 'the step to start');
    expect((await thrun.batches.get(id))?.stalled).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300)); // twice stalledAfterMs, in one step
    expect((await thrun.batches.get(id))?.stalled).toBe(false);
    release();
    await waitFor(() => of('order.finished').length === 1, 'finally');
    expect(await thrun.batches.get(id)).toMatchObject({ status: 'succeeded', stalled: false });
  });

  it('two workers sharing a broker and a store fire each lifecycle event once', async () => {
    const broker = createMemoryBroker();
    const store = new MemoryBatchStore();
    const counter = settlementCounter();
    const one = orderBus(
      { transport: memoryTransport({ broker }), batches: { store }, concurrency: 5 },
      counter,
    );
    const two = orderBus(
      { transport: memoryTransport({ broker }), batches: { store }, concurrency: 5 },
      counter,
    );
    await Promise.all([one.thrun.start(), two.thrun.start()]);
    const ids = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (i % 2 ? one : two).thrun
          .batch([new CreatePayment({ order_id: i }), new CreateOrder(), new SendOrderEmail()], {
            mode: i % 3 === 0 ? 'parallel' : 'sequential',
          })
          .then('order.success')
          .finally('order.finished')
          .progress('order.progress'),
      ),
    );
    const finished = () => one.of('order.finished').length + two.of('order.finished').length;
    await waitFor(() => finished() >= 100, 'every finally', 30_000);
    await one.quiet();
    for (const id of ids) {
      const count = (event: string) => one.of(event, id).length + two.of(event, id).length;
      expect(count('order.finished')).toBe(1);
      expect(count('order.success')).toBe(1);
      expect(count('order.progress')).toBe(3);
    }
    expect(one.steps.length + two.steps.length).toBe(300);
    expect(one.steps.length).toBeGreaterThan(0);
    expect(two.steps.length).toBeGreaterThan(0);
  });

  it('records steps that a worker in another runtime runs and reports (acceptReports)', async () => {
    const broker = createMemoryBroker();
    const coordinator = createThrun({
      transport: memoryTransport({ broker }),
      logger: silentLogger,
      routes: { 'step.*': 'steps' }, // the steps go to a queue only the foreign worker consumes
      batches: { acceptReports: true },
    });
    buses.push(coordinator);
    const finished: Envelope[] = [];
    coordinator.subscribe('order.finished', (_payload, ctx) => void finished.push(ctx.envelope));
    coordinator.subscribe('order.failed', (_payload, ctx) => void finished.push(ctx.envelope));
    await coordinator.start();

    // The foreign worker: plain bytes in and out, as a Go service following schemas/batch.md would.
    const foreign = memoryTransport({ broker });
    const ran: string[] = [];
    const reportedTo: unknown[] = [];
    await foreign.consume('steps', async (delivery) => {
      const step = JSON.parse(new TextDecoder().decode(delivery.body)) as Envelope;
      ran.push(step.event);
      const batch = step.meta!.batch!;
      const report =
        step.event === 'step.refund'
          ? {
              event: 'thrun.batch.step_failed',
              payload: { batch_id: batch.id, index: batch.index, error: { code: 'declined', message: 'no' } },
            }
          : { event: 'thrun.batch.step_succeeded', payload: { batch_id: batch.id, index: batch.index } };
      reportedTo.push(batch.report_to);
      await foreign.publish(String(batch.report_to), [
        { body: new TextEncoder().encode(JSON.stringify(report)) },
      ]);
      await delivery.ack();
    });

    const ok = await coordinator
      .batch([
        { event: 'step.payment', payload: {} },
        { event: 'step.order', payload: {} },
      ])
      .finally('order.finished');
    await waitFor(() => finished.length === 1, 'the reported batch to finish');
    expect(ran).toEqual(['step.payment', 'step.order']);
    expect(finished[0]?.payload).toMatchObject({ batch_id: ok, status: 'succeeded', completed: 2 });

    const failing = await coordinator
      .batch([
        { event: 'step.refund', payload: {} },
        { event: 'step.order', payload: {} },
      ])
      .catch('order.failed')
      .finally('order.finished');
    await waitFor(() => finished.length === 3, 'the failed batch to end');
    expect(ran).toEqual(['step.payment', 'step.order', 'step.refund']);
    expect((await coordinator.batches.get(failing))?.failure).toMatchObject({
      reason: 'failed',
      job: { event: 'step.refund', index: 0 },
      error: { code: 'declined' },
    });
    // Each step named the queue the coordinator consumes its reports from: its default queue here.
    expect(reportedTo).toEqual(['events', 'events', 'events']);
    await foreign.close();
  });

  it('a Thrun worker whose store does not know the batch runs its steps and reports them to report_to', async () => {
    const broker = createMemoryBroker();
    const coordinator = createThrun({
      transport: memoryTransport({ broker }),
      logger: silentLogger,
      queue: 'batch-reports',
      routes: { 'step.*': 'steps' },
      batches: { acceptReports: true },
    });
    // Another process: its own (memory) store, which never hears of the coordinator's batches.
    const worker = createThrun({
      transport: memoryTransport({ broker }),
      logger: silentLogger,
      queue: 'steps',
      retry: { maxAttempts: 1 },
    });
    buses.push(coordinator, worker);
    const ended: Envelope[] = [];
    for (const name of ['order.success', 'order.failed', 'order.finished']) {
      coordinator.subscribe(name, (_payload, ctx) => void ended.push(ctx.envelope));
    }
    const ran: string[] = [];
    worker.subscribe('step.ok', (_payload, ctx) => void ran.push(`${ctx.envelope.meta?.batch?.index}`));
    worker.subscribe('step.declined', () => {
      throw new NonRetryableError('declined');
    });
    await coordinator.start();
    await worker.start();

    const ok = await coordinator
      .batch([
        { event: 'step.ok', payload: {} },
        { event: 'step.ok', payload: {} },
      ])
      .then('order.success')
      .finally('order.finished');
    await waitFor(() => ended.length === 2, 'then and finally');
    expect(ran).toEqual(['0', '1']);
    expect(ended.map((e) => e.event)).toEqual(['order.success', 'order.finished']);
    expect(ended[1]?.payload).toMatchObject({ batch_id: ok, status: 'succeeded' });

    const failing = await coordinator
      .batch([
        { event: 'step.declined', payload: {} },
        { event: 'step.ok', payload: {} },
      ])
      .catch('order.failed')
      .finally('order.finished');
    await waitFor(() => ended.length === 4, 'catch and finally');
    expect(ran).toEqual(['0', '1']); // the failed batch's second step never ran
    expect((await coordinator.batches.get(failing))?.failure).toMatchObject({
      reason: 'failed',
      job: { event: 'step.declined', index: 0 },
      error: { code: 'non_retryable', message: expect.stringContaining('declined') },
    });
  });

  it('refuses acceptReports when the two report events route to different queues', () => {
    expect(() =>
      createThrun({
        logger: silentLogger,
        routes: { 'thrun.batch.step_failed': 'failures' },
        batches: { acceptReports: true },
      }),
    ).toThrow(/must route to one queue/);
  });

  it('runs parallel batches at once and succeeds within allowed failures', async () => {
    const { thrun, steps, behaviour, lifecycle, of, maxRunning } = orderBus({ concurrency: 10 });
    behaviour.set('create_order', () => {
      throw new NonRetryableError('out of stock');
    });
    await thrun.start();
    const jobs = [new CreatePayment({ order_id: 7 }), new CreateOrder(), new SendOrderEmail()];
    const id = await thrun
      .batch(jobs, { mode: 'parallel', allowFailures: 1 })
      .then('order.success')
      .catch('order.failed')
      .finally('order.finished')
      .progress('order.progress');
    await waitFor(() => of('order.finished').length === 1, 'finally');
    expect(steps).toHaveLength(3);
    expect(maxRunning()).toBeGreaterThan(1);
    expect(of('order.success')).toHaveLength(1);
    expect(of('order.failed')).toHaveLength(0);
    expect(
      of('order.progress')
        .map((e) => e.payload.percent)
        .sort(),
    ).toEqual([100, 33, 66].sort());
    expect(await thrun.batches.get(id)).toMatchObject({ status: 'succeeded', completed: 2, failed: 1 });
    await expectValidLifecycle(lifecycle);
  });

  it('fails a parallel batch on the first failure beyond the allowance, once', async () => {
    const { thrun, behaviour, of, quiet } = orderBus({ concurrency: 10 });
    const fail = () => {
      throw new NonRetryableError('nope');
    };
    behaviour.set('create_order', fail);
    behaviour.set('send_order_email', fail);
    await thrun.start();
    const id = await thrun
      .batch([new CreatePayment({ order_id: 8 }), new CreateOrder(), new SendOrderEmail()], {
        mode: 'parallel',
      })
      .then('order.success')
      .catch('order.failed')
      .finally('order.finished');
    await waitFor(() => of('order.finished').length === 1, 'finally');
    await quiet();
    expect(of('order.failed')).toHaveLength(1);
    expect(of('order.success')).toHaveLength(0);
    expect(of('order.finished')).toHaveLength(1);
    expect((await thrun.batches.get(id))?.status).toBe('failed');
  });

  it('finishes 1,000 batches in flight at once with exactly one finally each', async () => {
    const { thrun, of, quiet } = orderBus({ concurrency: 50 });
    await thrun.start();
    const ids = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        thrun
          .batch(
            [new CreatePayment({ order_id: i }), new CreateOrder()],
            i % 2 === 0 ? {} : { mode: 'parallel' },
          )
          .then('order.success')
          .finally('order.finished'),
      ),
    );
    expect(new Set(ids).size).toBe(1000);
    await waitFor(() => of('order.finished').length >= 1000, '1,000 finally events', 60_000);
    await quiet();
    const finals = new Map<string, number>();
    for (const e of of('order.finished'))
      finals.set(e.payload.batch_id as string, (finals.get(e.payload.batch_id as string) ?? 0) + 1);
    expect(finals.size).toBe(1000);
    expect([...finals.values()].every((count) => count === 1)).toBe(true);
    expect(of('order.success')).toHaveLength(1000);
  }, 90_000);

  it('awaits as a promise with callbacks, and dispatch() sends once', async () => {
    const { thrun, steps, quiet } = orderBus();
    await thrun.start();
    const builder = thrun.batch([{ event: 'create_order', payload: {} as JsonObject }]);
    const [a, b] = await Promise.all([builder.dispatch(), builder.then((id) => id)]);
    expect(a).toBe(b);
    await waitFor(() => steps.length === 1, 'the step');
    await quiet();
    expect(steps).toHaveLength(1);
  });
});
