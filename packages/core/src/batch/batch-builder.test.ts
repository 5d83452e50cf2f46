import type { BatchLifecycle } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import { BatchBuilder } from './batch-builder.js';

function builder() {
  const starts: BatchLifecycle[] = [];
  const b = new BatchBuilder(async (lifecycle) => {
    starts.push(lifecycle);
    return `batch-${starts.length}`;
  });
  return { b, starts };
}

describe('BatchBuilder', () => {
  it('awaiting the chained builder dispatches once with the lifecycle', async () => {
    const { b, starts } = builder();
    const id = await b
      .then('order.success')
      .catch('order.failed')
      .finally('order.finished')
      .progress('order.progress');
    expect(id).toBe('batch-1');
    expect(starts).toEqual([
      {
        thenEvent: 'order.success',
        catchEvent: 'order.failed',
        finallyEvent: 'order.finished',
        progressEvent: 'order.progress',
      },
    ]);
  });

  it('dispatches exactly once however often it is awaited or dispatched', async () => {
    const { b, starts } = builder();
    b.then('done');
    const ids = await Promise.all([b, b.dispatch(), b.dispatch()]);
    expect(await b).toBe('batch-1');
    expect(ids).toEqual(['batch-1', 'batch-1', 'batch-1']);
    expect(starts).toHaveLength(1);
  });

  it('accepts event classes with a static contract name', async () => {
    // biome-ignore lint/complexity/noStaticOnlyClass: an event class is its contract name.
    class OrderSucceeded {
      static readonly event = 'order.success';
    }
    const { b, starts } = builder();
    await b.then(OrderSucceeded);
    expect(starts[0]).toEqual({ thenEvent: 'order.success' });
  });

  it('behaves as a promise when given callbacks', async () => {
    const { b } = builder();
    expect(await b.then((id) => id.toUpperCase())).toBe('BATCH-1');
    const failing = new BatchBuilder(async () => {
      throw new Error('transport down');
    });
    expect(await failing.catch((e: unknown) => (e as Error).message)).toBe('transport down');
  });

  it('refuses lifecycle changes after dispatch', async () => {
    const { b } = builder();
    await b;
    expect(() => b.then('late')).toThrow(/already dispatched/);
  });
});
