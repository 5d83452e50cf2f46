import { describe, expect, it } from 'vitest';
import { readWorkerSettings, type WorkerSettings, workerEnvironment } from './worker-env.js';

const settings: WorkerSettings = {
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

describe('the worker environment', () => {
  it('is read back as it was written, under the documented names', () => {
    const env = workerEnvironment(settings);
    expect(env.THRUN_CONFORMANCE_TRANSPORT).toBe('redis-streams');
    expect(env.THRUN_CONFORMANCE_REPLY_QUEUE).toBe('conformance-abc-replies');
    expect(env.THRUN_CONFORMANCE_MAX_PAYLOAD_BYTES).toBe('65536');
    expect(Object.keys(env)).toHaveLength(13);
    expect(readWorkerSettings(env)).toEqual(settings);
  });

  it('names the variable that is missing or wrong', () => {
    const env = workerEnvironment(settings);
    expect(() => readWorkerSettings({ ...env, THRUN_CONFORMANCE_QUEUE: undefined })).toThrow(
      'THRUN_CONFORMANCE_QUEUE is not set',
    );
    expect(() => readWorkerSettings({ ...env, THRUN_CONFORMANCE_CONCURRENCY: 'four' })).toThrow(
      'THRUN_CONFORMANCE_CONCURRENCY must be a non-negative integer',
    );
    expect(() => readWorkerSettings({ ...env, THRUN_CONFORMANCE_TRANSPORT: 'sqs' })).toThrow(
      'THRUN_CONFORMANCE_TRANSPORT must be one of',
    );
  });
});
