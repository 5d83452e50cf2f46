import { describe, expect, it } from 'vitest';
import { queueKeys } from './keys.js';

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key without one, mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('key layout', () => {
  it('computes slots like Redis (known values)', () => {
    expect(keySlot('123456789')).toBe(12739); // CRC16/XMODEM check value 0x31C3
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('keeps the queue key exactly the name foreign producers use', () => {
    expect(queueKeys('', 'events').queue).toBe('events');
    expect(queueKeys('app:', 'events').queue).toBe('app:events');
    expect(queueKeys('', 'events').dead).toBe('events.dead');
  });

  it.each([
    ['', 'events'],
    ['app:', 'orders.created'],
    ['t-1:', 'a'],
  ])('puts every key of a queue in the queue key slot (prefix %j, queue %j)', (prefix, queue) => {
    const keys = queueKeys(prefix, queue);
    const slot = keySlot(keys.queue);
    for (const key of [
      keys.consumers,
      keys.attempts,
      keys.delayed,
      keys.processing('default:0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e'),
      keys.landing('default:0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e'),
      keys.retry('billing'),
    ]) {
      expect(key.startsWith(`{${keys.queue}}:`)).toBe(true);
      expect(keySlot(key)).toBe(slot);
    }
  });
});
