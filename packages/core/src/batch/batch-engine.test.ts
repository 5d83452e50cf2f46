import { describe, expect, it } from 'vitest';
import { BatchEngine, type BatchPublication } from './batch-engine.js';
import { MemoryBatchStore } from './memory-batch-store.js';

function engineWith(publishImpl?: (p: BatchPublication[]) => Promise<void>) {
  const published: BatchPublication[] = [];
  const engine = new BatchEngine(new MemoryBatchStore(), async (publications) => {
    await publishImpl?.(publications);
    published.push(...publications);
  });
  return { engine, published };
}

const jobs = [
  { event: 'create_payment', payload: { order_id: 1 } },
  { event: 'create_order', payload: {} },
];

describe('BatchEngine', () => {
  it('publishes steps with meta.batch and lifecycle events with stable ids', async () => {
    const { engine, published } = engineWith();
    const id = await engine.dispatch({
      jobs,
      lifecycle: { thenEvent: 'order.success', finallyEvent: 'order.finished' },
    });
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ event: 'create_payment', batch: { id, index: 0, total: 2 } });
    await engine.recordStep(published[0]!.batch!, { ok: true });
    await engine.recordStep(published[1]!.batch!, { ok: true });
    expect(published.map((p) => p.event)).toEqual([
      'create_payment',
      'create_order',
      'order.success',
      'order.finished',
    ]);
    expect(new Set(published.map((p) => p.eventId)).size).toBe(4);
    expect((await engine.get(id))?.status).toBe('succeeded');
  });

  it('keeps decided events when publishing fails, and publishes them on the next attempt', async () => {
    let failNext = false;
    const { engine, published } = engineWith(async () => {
      if (failNext) {
        failNext = false;
        throw new Error('transport down');
      }
    });
    const id = await engine.dispatch({ jobs, lifecycle: { progressEvent: 'order.progress' } });
    failNext = true;
    await expect(engine.recordStep(published[0]!.batch!, { ok: true })).rejects.toThrow('transport down');
    expect(published).toHaveLength(1);
    // The step's message is redelivered: the outcome is already recorded, the events still go out, once.
    expect(await engine.recordStep({ id, index: 0, total: 2, mode: 'sequential' }, { ok: true })).toBe(false);
    expect(published.map((p) => p.event)).toEqual(['create_payment', 'order.progress', 'create_order']);
    await engine.recordStep({ id, index: 0, total: 2, mode: 'sequential' }, { ok: true });
    expect(published).toHaveLength(3);
  });

  it('rejects invalid event names before creating anything', async () => {
    const { engine, published } = engineWith();
    await expect(
      engine.dispatch({ jobs: [{ event: 'Bad Name', payload: {} }], lifecycle: {} }),
    ).rejects.toThrow(/invalid event name/);
    await expect(engine.dispatch({ jobs, lifecycle: { thenEvent: 'x y' } })).rejects.toThrow(
      /invalid event name/,
    );
    expect(published).toEqual([]);
  });
});
