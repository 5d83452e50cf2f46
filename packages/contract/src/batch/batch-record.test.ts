import { describe, expect, it } from 'vitest';
import { type BatchRecord, cancelBatch, recordStepOutcome, startBatch } from './batch-record.js';

const now = '2026-01-01T00:00:00.000Z';
const fail = { ok: false as const, error: { code: 'handler_failed', message: 'boom' } };

function batch(overrides: Partial<BatchRecord> = {}): BatchRecord {
  const jobs = overrides.jobs ?? [
    { event: 'create_payment', payload: { order_id: 1 } },
    { event: 'create_order', payload: {} },
    { event: 'send_order_email', payload: {} },
  ];
  return {
    id: 'b1',
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

const kinds = (emissions: { kind: string }[] | undefined) => emissions?.map((e) => e.kind);

describe('sequential batch transitions', () => {
  it('starts with the first step only, carrying meta.batch', () => {
    const record = batch();
    const emissions = startBatch(record, now);
    expect(record.status).toBe('running');
    expect(emissions).toEqual([
      {
        key: 'step:0',
        kind: 'step',
        event: 'create_payment',
        payload: { order_id: 1 },
        batch: { id: 'b1', index: 0, total: 3, mode: 'sequential' },
      },
    ]);
  });

  it('dispatches step n+1 after step n, with progress, then then/finally', () => {
    const record = batch();
    startBatch(record, now);
    const first = recordStepOutcome(record, 0, { ok: true }, now);
    expect(kinds(first)).toEqual(['progress', 'step']);
    expect(first?.[0]?.payload).toEqual({ order_id: 1, batch_id: 'b1', completed: 1, total: 3, percent: 33 });
    expect(first?.[1]?.batch?.index).toBe(1);
    expect(kinds(recordStepOutcome(record, 1, { ok: true }, now))).toEqual(['progress', 'step']);
    const last = recordStepOutcome(record, 2, { ok: true }, now);
    expect(kinds(last)).toEqual(['progress', 'then', 'finally']);
    expect(record.status).toBe('succeeded');
    expect(last?.[2]?.payload).toMatchObject({ status: 'succeeded', completed: 3, failed: 0, total: 3 });
  });

  it('ignores a duplicate outcome and a step out of turn', () => {
    const record = batch();
    startBatch(record, now);
    expect(recordStepOutcome(record, 0, { ok: true }, now)).toBeDefined();
    expect(recordStepOutcome(record, 0, { ok: true }, now)).toBeUndefined();
    expect(recordStepOutcome(record, 2, { ok: true }, now)).toBeUndefined();
    expect(record.completed).toBe(1);
  });

  it('stops at the first failure: catch with the failed job, then finally', () => {
    const record = batch();
    startBatch(record, now);
    recordStepOutcome(record, 0, { ok: true }, now);
    const emissions = recordStepOutcome(record, 1, fail, now);
    expect(kinds(emissions)).toEqual(['catch', 'finally']);
    expect(emissions?.[0]?.payload).toEqual({
      order_id: 1,
      batch_id: 'b1',
      reason: 'failed',
      failed_job: { event: 'create_order', index: 1 },
      error: { code: 'handler_failed', message: 'boom' },
      completed: 1,
      failed: 1,
      total: 3,
    });
    expect(record.status).toBe('failed');
    expect(recordStepOutcome(record, 2, { ok: true }, now)).toBeUndefined();
  });

  it('cancels once: catch (reason cancelled) and finally, and nothing after', () => {
    const record = batch();
    startBatch(record, now);
    const emissions = cancelBatch(record, now);
    expect(kinds(emissions)).toEqual(['catch', 'finally']);
    expect(emissions?.[0]?.payload).toMatchObject({ reason: 'cancelled', failed_job: null });
    expect(cancelBatch(record, now)).toBeUndefined();
    expect(recordStepOutcome(record, 0, { ok: true }, now)).toBeUndefined();
    expect(record.status).toBe('cancelled');
  });

  it('an empty batch succeeds at once', () => {
    const record = batch({ jobs: [], total: 0 });
    expect(kinds(startBatch(record, now))).toEqual(['then', 'finally']);
    expect(record.status).toBe('succeeded');
  });

  it('omits lifecycle events that were not asked for', () => {
    const record = batch({ lifecycle: { finallyEvent: 'done' } });
    startBatch(record, now);
    expect(kinds(recordStepOutcome(record, 0, fail, now))).toEqual(['finally']);
  });
});

describe('parallel batch transitions', () => {
  it('starts every step at once and succeeds when all have an outcome', () => {
    const record = batch({ mode: 'parallel' });
    expect(kinds(startBatch(record, now))).toEqual(['step', 'step', 'step']);
    expect(kinds(recordStepOutcome(record, 2, { ok: true }, now))).toEqual(['progress']);
    expect(kinds(recordStepOutcome(record, 0, { ok: true }, now))).toEqual(['progress']);
    expect(kinds(recordStepOutcome(record, 1, { ok: true }, now))).toEqual(['progress', 'then', 'finally']);
  });

  it('tolerates failures within allowFailures', () => {
    const record = batch({ mode: 'parallel', allowFailures: 1 });
    startBatch(record, now);
    const progress = recordStepOutcome(record, 0, fail, now);
    expect(kinds(progress)).toEqual(['progress']);
    expect(progress?.[0]?.payload).toMatchObject({ completed: 0, failed: 1, percent: 33 });
    recordStepOutcome(record, 1, { ok: true }, now);
    expect(kinds(recordStepOutcome(record, 2, { ok: true }, now))).toEqual(['progress', 'then', 'finally']);
    expect(record.status).toBe('succeeded');
  });

  it('fails on the first failure beyond the allowance, once', () => {
    const record = batch({ mode: 'parallel', allowFailures: 1 });
    startBatch(record, now);
    recordStepOutcome(record, 0, fail, now);
    expect(kinds(recordStepOutcome(record, 1, fail, now))).toEqual(['catch', 'finally']);
    expect(recordStepOutcome(record, 2, fail, now)).toBeUndefined();
    expect(record.status).toBe('failed');
  });
});
