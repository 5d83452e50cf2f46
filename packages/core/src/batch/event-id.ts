import { createHash } from 'node:crypto';

/**
 * A name-based UUID (RFC 9562 version 5) for an event the batch engine fires. The same batch and
 * emission key always give the same `event_id`, so a consumer can tell a repeated lifecycle event
 * (republished after a crash) from a new one.
 */
export function batchEventId(batchId: string, key: string): string {
  const hash = createHash('sha1').update('thrun.batch:').update(batchId).update(':').update(key).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8]! & 0x3f) | 0x80; // RFC variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
