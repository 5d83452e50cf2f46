import { describe, expect, it } from 'vitest';
import { batchEventId } from './event-id.js';

const batchId = '6f1c1f4e-0d7b-4e55-9a34-2b0c9f1d7c11';
const uuidV5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('batchEventId', () => {
  it('is a version 5 UUID with the RFC variant', () => {
    for (const key of ['step:0', 'progress:1', 'then', 'catch', 'finally']) {
      expect(batchEventId(batchId, key)).toMatch(uuidV5);
    }
  });

  it('is the same for the same batch and role on every call, in every process and version', () => {
    expect(batchEventId(batchId, 'finally')).toBe(batchEventId(batchId, 'finally'));
    // Pinned: a consumer deduplicates a republished lifecycle event by this id, so changing the
    // derivation would make every repeat after an upgrade look new.
    expect(batchEventId(batchId, 'finally')).toBe('6489d55b-e6b4-590c-be16-e0c238a8cf5f');
    expect(batchEventId(batchId, 'step:0')).toBe('0e956f97-19b1-5239-acba-b7e4d36d287c');
  });

  it('differs between roles and between batches', () => {
    const other = '0b7c3f0e-8a52-4c1e-9d4f-3a6b2c1d0e9f';
    const roles = ['step:0', 'step:1', 'progress:1', 'progress:2', 'then', 'catch', 'finally'];
    const ids = [batchId, other].flatMap((id) => roles.map((role) => batchEventId(id, role)));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
