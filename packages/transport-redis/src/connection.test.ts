import { describe, expect, it } from 'vitest';
import { describeCause, redactUrl } from './connection.js';

describe('credentials stay out of messages', () => {
  it('drops user and password from a URL', () => {
    expect(redactUrl('redis://app:s3cret@cache.internal:6380/2')).toBe('redis://cache.internal:6380/2');
    expect(redactUrl('rediss://:s3cret@cache.internal:6380')).toBe('rediss://cache.internal:6380');
    expect(redactUrl('not a url s3cret')).toBe('<unparseable redis url>');
  });

  it('redacts URLs that a driver error repeats', () => {
    const message = describeCause(
      new Error('failed to connect to redis://app:s3cret@cache.internal:6380 (ECONNREFUSED)'),
    );
    expect(message).not.toContain('s3cret');
    expect(message).toContain('cache.internal:6380');
  });
});
