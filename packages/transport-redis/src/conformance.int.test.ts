/**
 * The transport conformance suite from @thrun/contract, in both modes, against the real Redis. Each
 * mode gets its own key prefix, and only those keys are deleted afterwards.
 */
import { type ConformanceReport, describeTransportConformance } from '@thrun/contract/conformance';
import type { Redis } from 'ioredis';
import { afterAll, expect } from 'vitest';
import { redisTransport } from './index.js';
import { deleteKeys, REDIS_URL, requireRedis, restartRedis, uniquePrefix } from './test-support/redis.js';

// A short lease so the dead-consumer case does not wait 30 s; the kit waits this long, plus margin.
const visibilityTimeoutMs = 1_500;

const reports = new Map<string, ConformanceReport>();

for (const mode of ['list', 'stream'] as const) {
  const keyPrefix = uniquePrefix();
  let admin: Redis | undefined;
  describeTransportConformance({
    name: `redis (${mode === 'list' ? 'lists' : 'streams'})`,
    factory: () =>
      redisTransport({
        url: REDIS_URL,
        mode,
        keyPrefix,
        visibilityTimeoutMs,
        blockTimeoutMs: 250,
        trimIntervalMs: 500,
      }),
    features: {
      redeliveryAfterMs: visibilityTimeoutMs * 2,
      // Through the repository's script, which restarts only the server it started; the append-only
      // file keeps what was published.
      restartBroker: async () => {
        await restartRedis();
      },
    },
    onReport: (report) => reports.set(mode, report),
    hooks: {
      beforeAll: async () => {
        admin = await requireRedis();
      },
      afterAll: async () => {
        if (admin) {
          await deleteKeys(admin, keyPrefix);
          admin.disconnect();
        }
      },
    },
  });
}

afterAll(() => {
  // Both modes claim every capability but Lists' fan-out: a case that starts skipping is a regression,
  // not a detail.
  const skipped = (mode: string) =>
    reports
      .get(mode)
      ?.cases.filter((entry) => entry.outcome === 'skipped')
      .map((entry) => entry.id);
  expect({ list: skipped('list'), stream: skipped('stream') }).toEqual({
    list: ['observer-group'],
    stream: [],
  });
});
