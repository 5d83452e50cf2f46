import { describe, expect, it } from 'vitest';
import { describeCause } from './connection.js';

describe('credentials stay out of messages', () => {
  it('redacts URLs that a driver error repeats', () => {
    const message = describeCause(
      new Error('failed to connect to redis://app:s3cret@cache.internal:6380 (ECONNREFUSED)'),
    );
    expect(message).not.toContain('s3cret');
    expect(message).toContain('cache.internal:6380');
  });
});
