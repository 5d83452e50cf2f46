/**
 * The scenarios every `BatchStore` runs (`@thrun/contract/conformance`; it imports vitest, so the main
 * entry never imports it). Each transition goes through the store under test and, beside it, through the
 * pure transitions of `batch-record.ts` on a local copy of the record: the emissions the store hands out
 * must equal the pure ones (keys, kinds, events, payloads), and the record it returns must equal the
 * local copy but for its timestamps. Two stores that pass agree with each other.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BatchEmission,
  type BatchRecord,
  cancelBatch,
  recordStepOutcome,
  type StepOutcome,
  startBatch,
} from '../batch/batch-record.js';
import type { BatchStore, BatchStoreOptions } from '../batch/batch-store.js';

export interface BatchStoreScenarioHooks {
  /**
   * A store with these options. Stores made by one suite share their state when the implementation is
   * shared (Redis); the scenarios use fresh batch ids, so they never see each other's batches.
   */
  create: (options: BatchStoreOptions) => BatchStore | Promise<BatchStore>;
  /** Runs once after every scenario, e.g. to close what `create` opened. */
  afterAll?: () => unknown | Promise<unknown>;
}

const ok: StepOutcome = { ok: true };
const fail: StepOutcome = {
  ok: false,
  error: { code: 'handler_failed', message: 'boom: "quoted" \\ ünïcødé 🚀' },
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function batch(overrides: Partial<BatchRecord> = {}): BatchRecord {
  const now = new Date().toISOString();
  const jobs = overrides.jobs ?? [
    { event: 'create_payment', payload: { order_id: 1, amount: 12.5, tags: [], meta: {}, big: 2 ** 53 - 1 } },
    { event: 'create_order', payload: {} },
    {
      event: 'send_order_email',
      payload: { to: 'a@example.com', lines: [{ sku: 'x', qty: 2 }], note: null },
    },
  ];
  return {
    id: randomUUID(),
    mode: 'sequential',
    status: 'pending',
    jobs,
    total: jobs.length,
    completed: 0,
    failed: 0,
    allowFailures: 0,
    lifecycle: {
      thenEvent: 'order.success',
      catchEvent: 'order.failed',
      finallyEvent: 'order.finished',
      progressEvent: 'order.progress',
    },
    shared: { order_id: 1 },
    createdAt: now,
    updatedAt: now,
    settled: [],
    ...overrides,
  };
}

/** A record with its timestamps reduced to what must hold of them, so two stores' records compare. */
function comparable(record: BatchRecord | undefined) {
  if (!record) return record;
  const { updatedAt, finishedAt, ...rest } = record;
  for (const stamp of [updatedAt, finishedAt]) {
    if (stamp === undefined) continue;
    expect(new Date(stamp).toISOString()).toBe(stamp);
    expect(Math.abs(Date.parse(stamp) - Date.now())).toBeLessThan(10 * 60_000);
  }
  return { ...rest, finished: finishedAt !== undefined };
}

const kinds = (emissions: BatchEmission[]) => emissions.map((emission) => emission.kind);

/**
 * Runs a batch through the store and the pure transitions side by side. With the default claim TTL,
 * what a transition hands out is exactly what it decided: earlier emissions are still claimed.
 */
class Twin {
  readonly local: BatchRecord;

  constructor(
    readonly store: BatchStore,
    record: BatchRecord,
  ) {
    this.local = structuredClone(record);
  }

  get id(): string {
    return this.local.id;
  }

  async create(): Promise<BatchEmission[]> {
    const input = structuredClone(this.local);
    const expected = startBatch(this.local, new Date().toISOString());
    const emissions = await this.store.create(input);
    expect(emissions).toEqual(expected);
    expect(comparable(await this.store.get(this.id))).toEqual(comparable(this.local));
    return emissions;
  }

  async step(index: number, outcome: StepOutcome): Promise<BatchEmission[]> {
    const expected = recordStepOutcome(this.local, index, outcome, new Date().toISOString());
    const transition = await this.store.recordStep(this.id, index, outcome);
    expect(transition.applied).toBe(expected !== undefined);
    expect(transition.emissions).toEqual(expected ?? []);
    expect(comparable(transition.record)).toEqual(comparable(this.local));
    return transition.emissions;
  }

  async cancel(): Promise<BatchEmission[]> {
    const expected = cancelBatch(this.local, new Date().toISOString());
    const transition = await this.store.cancel(this.id);
    expect(transition.applied).toBe(expected !== undefined);
    expect(transition.emissions).toEqual(expected ?? []);
    expect(comparable(transition.record)).toEqual(comparable(this.local));
    return transition.emissions;
  }
}

export function describeBatchStore(name: string, hooks: BatchStoreScenarioHooks): void {
  describe(`BatchStore scenarios: ${name}`, () => {
    if (hooks.afterAll) afterAll(hooks.afterAll);
    const twin = async (record: BatchRecord, options: BatchStoreOptions = {}) =>
      new Twin(await hooks.create(options), record);

    describe('sequential', () => {
      it('starts with the first step only, carrying meta.batch', async () => {
        const run = await twin(batch());
        const [first] = await run.create();
        expect(first).toEqual({
          key: 'step:0',
          kind: 'step',
          event: 'create_payment',
          payload: run.local.jobs[0]!.payload,
          batch: { id: run.id, index: 0, total: 3, mode: 'sequential' },
        });
        expect((await run.store.get(run.id))?.status).toBe('running');
      });

      it('dispatches step n+1 after step n, with progress, then then/finally', async () => {
        const run = await twin(batch());
        await run.create();
        const first = await run.step(0, ok);
        expect(kinds(first)).toEqual(['progress', 'step']);
        expect(first[0]?.payload).toEqual({
          order_id: 1,
          batch_id: run.id,
          completed: 1,
          total: 3,
          percent: 33,
        });
        expect(kinds(await run.step(1, ok))).toEqual(['progress', 'step']);
        const last = await run.step(2, ok);
        expect(kinds(last)).toEqual(['progress', 'then', 'finally']);
        expect(last[2]?.payload).toEqual({
          order_id: 1,
          batch_id: run.id,
          status: 'succeeded',
          completed: 3,
          failed: 0,
          total: 3,
        });
        expect((await run.store.get(run.id))?.status).toBe('succeeded');
      });

      it('ignores a duplicate outcome and a step out of turn', async () => {
        const run = await twin(batch());
        await run.create();
        expect(await run.step(0, ok)).not.toEqual([]);
        await run.step(0, ok);
        await run.step(0, fail);
        await run.step(2, ok);
        await run.step(-1, ok);
        await run.step(3, ok);
        expect((await run.store.get(run.id))?.completed).toBe(1);
      });

      it('stops at the first failure: catch with the failed job, then finally', async () => {
        const run = await twin(batch());
        await run.create();
        await run.step(0, ok);
        const emissions = await run.step(1, fail);
        expect(kinds(emissions)).toEqual(['catch', 'finally']);
        expect(emissions[0]?.payload).toEqual({
          order_id: 1,
          batch_id: run.id,
          reason: 'failed',
          failed_job: { event: 'create_order', index: 1 },
          error: { code: 'handler_failed', message: 'boom: "quoted" \\ ünïcødé 🚀' },
          completed: 1,
          failed: 1,
          total: 3,
        });
        await run.step(2, ok);
        expect((await run.store.get(run.id))?.failure).toEqual({
          reason: 'failed',
          job: { event: 'create_order', index: 1 },
          error: fail.ok ? undefined : fail.error,
        });
      });

      it('cancels once: catch (reason cancelled) and finally, and nothing after', async () => {
        const run = await twin(batch());
        await run.create();
        const emissions = await run.cancel();
        expect(kinds(emissions)).toEqual(['catch', 'finally']);
        expect(emissions[0]?.payload).toMatchObject({ reason: 'cancelled', failed_job: null });
        await run.cancel();
        await run.step(0, ok);
        expect((await run.store.get(run.id))?.status).toBe('cancelled');
      });

      it('an empty batch succeeds at once', async () => {
        const run = await twin(batch({ jobs: [], total: 0 }));
        expect(kinds(await run.create())).toEqual(['then', 'finally']);
      });

      it('omits lifecycle events that were not asked for', async () => {
        const run = await twin(batch({ lifecycle: { finallyEvent: 'done' }, shared: {} }));
        await run.create();
        expect(kinds(await run.step(0, fail))).toEqual(['finally']);
      });

      it('keeps name, queue and the shared payload; lifecycle fields override shared keys', async () => {
        const run = await twin(
          batch({
            name: 'orders',
            queue: 'billing',
            shared: { order_id: 7, total: 'shared wins never', batch_id: 'nope', nested: { a: [1, 2] } },
          }),
        );
        await run.create();
        const [progress] = await run.step(0, ok);
        expect(progress?.payload).toMatchObject({
          order_id: 7,
          total: 3,
          batch_id: run.id,
          nested: { a: [1, 2] },
        });
        expect(await run.store.get(run.id)).toMatchObject({ name: 'orders', queue: 'billing' });
      });
    });

    describe('parallel', () => {
      it('starts every step at once and succeeds when all have an outcome', async () => {
        const run = await twin(batch({ mode: 'parallel' }));
        expect(kinds(await run.create())).toEqual(['step', 'step', 'step']);
        expect(kinds(await run.step(2, ok))).toEqual(['progress']);
        expect(kinds(await run.step(0, ok))).toEqual(['progress']);
        await run.step(0, ok);
        expect(kinds(await run.step(1, ok))).toEqual(['progress', 'then', 'finally']);
        expect((await run.store.get(run.id))?.settled).toEqual([2, 0, 1]);
      });

      it('tolerates failures within allowFailures', async () => {
        const run = await twin(batch({ mode: 'parallel', allowFailures: 1 }));
        await run.create();
        const progress = await run.step(0, fail);
        expect(kinds(progress)).toEqual(['progress']);
        expect(progress[0]?.payload).toMatchObject({ completed: 0, failed: 1, percent: 33 });
        await run.step(1, ok);
        expect(kinds(await run.step(2, ok))).toEqual(['progress', 'then', 'finally']);
      });

      it('fails on the first failure beyond the allowance, once', async () => {
        const run = await twin(batch({ mode: 'parallel', allowFailures: 1 }));
        await run.create();
        await run.step(0, fail);
        expect(kinds(await run.step(1, fail))).toEqual(['catch', 'finally']);
        await run.step(2, fail);
        expect((await run.store.get(run.id))?.status).toBe('failed');
      });
    });

    describe('outbox', () => {
      it('claims emissions once until they are released or their claim expires', async () => {
        const store = await hooks.create({ claimTtlMs: 400 });
        const record = batch({ jobs: batch().jobs.slice(0, 2), total: 2 });
        const id = record.id;
        expect((await store.create(record)).map((e) => e.key)).toEqual(['step:0']);
        const first = await store.recordStep(id, 0, ok);
        expect(first.applied).toBe(true);
        // step:0 is still claimed by the creator, who has not marked it published.
        expect(first.emissions.map((e) => e.key)).toEqual(['progress:1', 'step:1']);
        // A racing duplicate of step 0 sees nothing to publish while the first caller holds the claim.
        expect(await store.recordStep(id, 0, ok)).toMatchObject({ applied: false, emissions: [] });
        // The first caller died before publishing: after the claim expires, the redelivery takes them.
        await sleep(600);
        const redelivered = await store.recordStep(id, 0, ok);
        expect(redelivered.applied).toBe(false);
        expect(redelivered.emissions.map((e) => e.key)).toEqual(['step:0', 'progress:1', 'step:1']);
        await store.markEmitted(id, ['progress:1', 'step:0', 'step:1']);
        await sleep(600);
        expect((await store.recordStep(id, 0, ok)).emissions).toEqual([]);
      });

      it('release makes emissions claimable again at once', async () => {
        const store = await hooks.create({});
        const record = batch();
        const emissions = await store.create(record);
        await store.release(
          record.id,
          emissions.map((e) => e.key),
        );
        await store.release(record.id, ['never-decided']);
        expect((await store.cancel(record.id)).emissions.map((e) => e.key)).toEqual([
          'step:0',
          'catch',
          'finally',
        ]);
      });

      it('markEmitted and release of an unknown batch change nothing', async () => {
        const store = await hooks.create({});
        const id = randomUUID();
        await store.markEmitted(id, ['step:0']);
        await store.release(id, ['step:0']);
        expect(await store.get(id)).toBeUndefined();
      });
    });

    describe('state', () => {
      it('returns copies: callers cannot change stored state', async () => {
        const store = await hooks.create({});
        const record = batch();
        await store.create(record);
        record.status = 'failed';
        const seen = await store.get(record.id);
        seen!.status = 'failed';
        seen!.jobs.length = 0;
        expect(await store.get(record.id)).toMatchObject({ status: 'running', total: 3 });
        expect((await store.get(record.id))?.jobs).toHaveLength(3);
      });

      it('forgets finished batches after the retention, and only finished ones', async () => {
        const store = await hooks.create({ retentionMs: 150 });
        const done = batch({ jobs: batch().jobs.slice(0, 1), total: 1 });
        const running = batch();
        await store.create(done);
        await store.create(running);
        await store.recordStep(done.id, 0, ok);
        expect((await store.get(done.id))?.status).toBe('succeeded');
        await sleep(400);
        expect(await store.get(done.id)).toBeUndefined();
        expect((await store.get(running.id))?.status).toBe('running');
        expect(await store.recordStep(done.id, 0, ok)).toEqual({
          applied: false,
          record: undefined,
          emissions: [],
        });
      });

      it('an unknown batch changes nothing', async () => {
        const store = await hooks.create({});
        const id = randomUUID();
        expect(await store.recordStep(id, 0, ok)).toEqual({
          applied: false,
          record: undefined,
          emissions: [],
        });
        expect(await store.cancel(id)).toEqual({ applied: false, record: undefined, emissions: [] });
        expect(await store.get(id)).toBeUndefined();
      });
    });
  });
}
