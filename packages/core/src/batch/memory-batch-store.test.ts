import type { BatchRecord } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import { MemoryBatchStore } from './memory-batch-store.js';

const now = new Date().toISOString();
function record(id: string, total = 2): BatchRecord {
  return {
    id,
    mode: 'sequential',
    status: 'pending',
    jobs: Array.from({ length: total }, (_, i) => ({ event: `step_${i}`, payload: {} })),
    total,
    completed: 0,
    failed: 0,
    allowFailures: 0,
    lifecycle: { finallyEvent: 'done', progressEvent: 'progress' },
    shared: {},
    createdAt: now,
    updatedAt: now,
    settled: [],
  };
}

describe('MemoryBatchStore', () => {
  it('claims emissions once until they are released or their claim expires', async () => {
    const store = new MemoryBatchStore({ claimTtlMs: 50 });
    expect((await store.create(record('a'))).map((e) => e.key)).toEqual(['step:0']);
    // A racing duplicate of step 0 sees nothing to publish while the first caller holds the claim.
    const first = await store.recordStep('a', 0, { ok: true });
    expect(first.applied).toBe(true);
    // step:0 is still claimed by the creator, who has not marked it published.
    expect(first.emissions.map((e) => e.key).sort()).toEqual(['progress:1', 'step:1']);
    const duplicate = await store.recordStep('a', 0, { ok: true });
    expect(duplicate).toMatchObject({ applied: false, emissions: [] });
    // The first caller died before publishing: after the claim expires, the redelivery takes them.
    await new Promise((resolve) => setTimeout(resolve, 80));
    const redelivered = await store.recordStep('a', 0, { ok: true });
    expect(redelivered.applied).toBe(false);
    expect(redelivered.emissions.map((e) => e.key).sort()).toEqual(['progress:1', 'step:0', 'step:1']);
    await store.markEmitted('a', ['progress:1', 'step:0', 'step:1']);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect((await store.recordStep('a', 0, { ok: true })).emissions).toEqual([]);
  });

  it('release makes emissions claimable again at once', async () => {
    const store = new MemoryBatchStore();
    const emissions = await store.create(record('b'));
    await store.release(
      'b',
      emissions.map((e) => e.key),
    );
    expect((await store.cancel('b')).emissions.map((e) => e.key)).toEqual(['step:0', 'finally']);
  });

  it('returns copies: callers cannot change stored state', async () => {
    const store = new MemoryBatchStore();
    await store.create(record('c'));
    const seen = await store.get('c');
    seen!.status = 'failed';
    expect((await store.get('c'))?.status).toBe('running');
  });

  it('forgets finished batches after the retention', async () => {
    const store = new MemoryBatchStore({ retentionMs: 30 });
    await store.create(record('d', 1));
    await store.recordStep('d', 0, { ok: true });
    expect((await store.get('d'))?.status).toBe('succeeded');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await store.get('d')).toBeUndefined();
  });

  it('an unknown batch changes nothing', async () => {
    const store = new MemoryBatchStore();
    expect(await store.recordStep('nope', 0, { ok: true })).toEqual({
      applied: false,
      record: undefined,
      emissions: [],
    });
    expect((await store.cancel('nope')).applied).toBe(false);
  });
});
