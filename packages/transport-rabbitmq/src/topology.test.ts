import { describe, expect, it } from 'vitest';
import { delayBucketMs, topology } from './topology.js';

describe('delayBucketMs', () => {
  it('never rounds down, and rounds up by at most 10%', () => {
    for (const delay of [1, 7, 99, 100, 101, 999, 1000, 1001, 1234, 59_999, 3_600_001]) {
      const bucket = delayBucketMs(delay);
      expect(bucket).toBeGreaterThanOrEqual(delay);
      expect(bucket).toBeLessThanOrEqual(Math.ceil(delay * 1.1));
    }
    expect(delayBucketMs(1234)).toBe(1300);
    expect(delayBucketMs(0)).toBe(0);
    expect(delayBucketMs(-5)).toBe(0);
  });

  it('keeps the number of buckets per power of ten bounded', () => {
    const buckets = new Set<number>();
    for (let delay = 1000; delay < 10_000; delay++) buckets.add(delayBucketMs(delay));
    expect(buckets.size).toBeLessThanOrEqual(91);
  });
});

describe('topology names', () => {
  it('cannot collide: Thrun queue names never contain a colon', () => {
    expect(topology.groupQueue('orders', 'default')).toBe('orders');
    expect(topology.groupQueue('orders', 'billing')).toBe('orders:billing');
    expect(topology.retryQueue('orders:billing', 1500)).toBe('orders:billing:retry:1500');
    expect(topology.delayQueue('orders', 1500)).toBe('orders:delay:1500');
    expect(topology.exchange('orders')).toBe('thrun.orders');
  });
});
