import type { WorkerSettings } from '../worker-env.js';

/** Settings of one worker, as the harness would give them. */
export const settings: WorkerSettings = {
  transport: 'redis-streams',
  url: 'redis://127.0.0.1:6390',
  queue: 'conformance-abc',
  replyQueue: 'conformance-abc-replies',
  group: 'conformance',
  workerId: 'w1',
  concurrency: 4,
  maxAttempts: 3,
  backoffMs: 200,
  maxBackoffMs: 2000,
  drainTimeoutMs: 10000,
  leaseMs: 3000,
  maxPayloadBytes: 65536,
};
