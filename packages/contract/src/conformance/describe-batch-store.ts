/**
 * The scenarios every `BatchStore` runs (`@thrun/contract/conformance`; it imports vitest, so the main
 * entry never imports it). Each transition goes through the store under test and, beside it, through the
 * pure transitions of `batch-record.ts` on a local copy of the record: the emissions the store hands out
 * must equal the pure ones (keys, kinds, events, payloads), and the record it returns must equal the
 * local copy but for its timestamps. Two stores that pass agree with each other.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep } from '../backoff.js';
import {
  type BatchEmission,
  type BatchRecord,
  cancelBatch,
  recordStepOutcome,
  type StepOutcome,
  startBatch,
} from '../batch/batch-record.js';
import type { BatchStore, BatchStoreOptions, DueEmissions } from '../batch/batch-store.js';

export interface BatchStoreScenarioHooks {
  /**
   * A store with these options. Stores made by one suite share their state when the implementation is
   * shared (Redis); the scenarios use fresh batch ids, so they never see each other's batches. A
   * store that rate-limits its sweep (a lock) should allow one every few tens of ms here: the
   * crash-point scenarios sweep several times within a claim TTL of 300 ms.
   */
  create: (options: BatchStoreOptions) => BatchStore | Promise<BatchStore>;
  /** Runs once after every scenario, e.g. to close what `create` opened. */
  afterAll?: () => unknown | Promise<unknown>;
  /** False for a store without the optional `list`: its scenario is skipped. */
  list?: boolean;
}

const ok: StepOutcome = { ok: true };
const fail: StepOutcome = {
  ok: false,
  error: { code: 'handler_failed', message: 'boom: "quoted" \\ ünïcødé 🚀' },
};

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
  const { updatedAt, finishedAt, activeAt, ...rest } = record;
  for (const stamp of [updatedAt, finishedAt, activeAt]) {
    if (stamp === undefined) continue;
    expect(new Date(stamp).toISOString()).toBe(stamp);
    expect(Math.abs(Date.parse(stamp) - Date.now())).toBeLessThan(10 * 60_000);
  }
  return { ...rest, finished: finishedAt !== undefined };
}

const kinds = (emissions: BatchEmission[]) => emissions.map((emission) => emission.kind);
const keysOf = (emissions: BatchEmission[]) => emissions.map((emission) => emission.key);

/**
 * One outbox sweep as a worker runs it, and what it handed out for one batch (`undefined`: nothing).
 * Another caller may hold the sweep lock (`claimDue` resolves `undefined`): then it tries again, as the
 * next sweep interval would. Other scenarios' batches may be due as well; the limit leaves room for them.
 */
async function sweepFor(store: BatchStore, id: string): Promise<DueEmissions | undefined> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const due = await store.claimDue(10_000);
    if (due) return due.find((entry) => entry.id === id);
    if (Date.now() > deadline) throw new Error('claimDue never got the sweep lock within 5 s');
    await sleep(50);
  }
}

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

    describe('crash points: the outbox sweep (claimDue)', () => {
      it('a caller that died after recording, before publishing: the sweep hands its emissions out once its claim expired, once', async () => {
        const store = await hooks.create({ claimTtlMs: 300 });
        const record = batch({ queue: 'billing' });
        await store.markEmitted(record.id, keysOf(await store.create(record)));
        const decided = (await store.recordStep(record.id, 0, ok)).emissions;
        expect(keysOf(decided)).toEqual(['progress:1', 'step:1']);
        // The caller holds the claim: nothing of this batch is due yet.
        expect(await sweepFor(store, record.id)).toBeUndefined();
        await sleep(450);
        expect(await sweepFor(store, record.id)).toEqual({
          id: record.id,
          queue: 'billing',
          emissions: decided,
        });
        // The sweeper now holds the claim itself.
        expect(await sweepFor(store, record.id)).toBeUndefined();
      });

      it('a caller that died after publishing, before markEmitted: the same keys again; after markEmitted, never', async () => {
        const store = await hooks.create({ claimTtlMs: 300 });
        const record = batch({ mode: 'parallel', lifecycle: { finallyEvent: 'done' } });
        const started = await store.create(record);
        await sleep(450);
        const again = await sweepFor(store, record.id);
        expect(again?.emissions).toEqual(started);
        expect(again).not.toHaveProperty('queue');
        await store.markEmitted(record.id, keysOf(started));
        await sleep(450);
        expect(await sweepFor(store, record.id)).toBeUndefined();
      });

      it('a caller whose publish failed and released: due at once, in the order decided', async () => {
        const store = await hooks.create({});
        const record = batch({ jobs: batch().jobs.slice(0, 1), total: 1 });
        await store.markEmitted(record.id, keysOf(await store.create(record)));
        const ending = (await store.recordStep(record.id, 0, ok)).emissions;
        expect(kinds(ending)).toEqual(['progress', 'then', 'finally']);
        await store.release(record.id, keysOf(ending));
        expect((await sweepFor(store, record.id))?.emissions).toEqual(ending);
      });

      it('the sweep hands out only what is claimable, and finishes a batch whose last events were stuck', async () => {
        const store = await hooks.create({ claimTtlMs: 300 });
        const record = batch({ mode: 'parallel', jobs: batch().jobs.slice(0, 2), total: 2 });
        await store.markEmitted(record.id, keysOf(await store.create(record)));
        const first = (await store.recordStep(record.id, 0, ok)).emissions;
        await store.markEmitted(record.id, keysOf(first));
        // The last step is recorded and its caller dies: then and finally wait in the outbox.
        const last = (await store.recordStep(record.id, 1, ok)).emissions;
        expect(kinds(last)).toEqual(['progress', 'then', 'finally']);
        expect((await store.get(record.id))?.status).toBe('succeeded');
        await sleep(450);
        expect((await sweepFor(store, record.id))?.emissions).toEqual(last);
      });

      it('a finished batch whose every event was published is no longer swept, and expires', async () => {
        const store = await hooks.create({ claimTtlMs: 100, retentionMs: 300 });
        const record = batch({ jobs: [], total: 0 });
        await store.markEmitted(record.id, keysOf(await store.create(record)));
        await sleep(500);
        expect(await sweepFor(store, record.id)).toBeUndefined();
        expect(await store.get(record.id)).toBeUndefined();
      });
    });

    describe('crash points: step leases (startStep)', () => {
      it('one run of a step at a time; a run that died frees the step when its lease expires', async () => {
        const store = await hooks.create({});
        const record = batch();
        await store.create(record);
        expect(await store.startStep(record.id, 0, 'run-a', 300)).toBe('run');
        expect(await store.startStep(record.id, 0, 'run-a', 300)).toBe('run');
        expect(await store.startStep(record.id, 0, 'run-b', 300)).toBe('busy');
        expect((await store.get(record.id))?.activeAt).toEqual(expect.any(String));
        // run-a died before recording: after its lease, another copy runs the step again.
        await sleep(450);
        expect(await store.startStep(record.id, 0, 'run-b', 300)).toBe('run');
        expect(await store.renewStep(record.id, 0, 'run-a', 300)).toBe(false);
        expect(await store.renewStep(record.id, 0, 'run-b', 300)).toBe(true);
        await store.recordStep(record.id, 0, ok);
        expect(await store.startStep(record.id, 0, 'run-c', 300)).toBe('settled');
        expect(await store.renewStep(record.id, 0, 'run-b', 300)).toBe(false);
        expect(await store.startStep(record.id, 1, 'run-c', 300)).toBe('run');
      });

      it('renewal keeps the lease; release frees the step at once; an ended or unknown batch runs nothing', async () => {
        const store = await hooks.create({});
        const record = batch({ mode: 'parallel' });
        await store.create(record);
        expect(await store.startStep(record.id, 2, 'a', 300)).toBe('run');
        await sleep(200);
        expect(await store.renewStep(record.id, 2, 'a', 300)).toBe(true);
        await sleep(200);
        expect(await store.startStep(record.id, 2, 'b', 300)).toBe('busy');
        await store.releaseStep(record.id, 2, 'someone-else');
        expect(await store.startStep(record.id, 2, 'b', 300)).toBe('busy');
        await store.releaseStep(record.id, 2, 'a');
        expect(await store.startStep(record.id, 2, 'b', 300)).toBe('run');
        await store.cancel(record.id);
        expect(await store.startStep(record.id, 1, 'c', 300)).toBe('ended');
        expect(await store.startStep(randomUUID(), 0, 'c', 300)).toBe('unknown');
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

      it.skipIf(hooks.list === false)(
        'lists batches newest first, filtered by status and name before the limit',
        async () => {
          const store = await hooks.create({});
          const name = `listed-${randomUUID()}`;
          const base = Date.now();
          const records = [0, 1, 2].map((i) =>
            batch({ name, createdAt: new Date(base + i * 1000).toISOString() }),
          );
          for (const record of records) await store.create(record);
          await store.cancel(records[1]!.id);
          const ids = (found: BatchRecord[]) => found.map((record) => record.id);
          const [oldest, middle, newest] = records.map((record) => record.id);
          expect(ids(await store.list!({ name }))).toEqual([newest, middle, oldest]);
          expect(ids(await store.list!({ name, limit: 2 }))).toEqual([newest, middle]);
          expect(ids(await store.list!({ name, status: ['cancelled'] }))).toEqual([middle]);
          expect(ids(await store.list!({ name, status: ['running', 'pending'] }))).toEqual([newest, oldest]);
          const [listed] = await store.list!({ name, limit: 1 });
          expect(comparable(listed)).toEqual(comparable(await store.get(newest!)));
          expect((await store.list!()).length).toBeGreaterThanOrEqual(3);
        },
      );

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
