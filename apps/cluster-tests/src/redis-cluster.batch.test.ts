/**
 * A sequential batch of 50 steps on the Redis Cluster (transport and batch store on one ioredis
 * `Cluster`), the master that holds the batch state SIGKILLed while it runs and revived once its
 * replica took over: the batch still ends with exactly one `then` and one `finally`, and no `catch`.
 */
import { createThrun, silentLogger } from '@thrun/core';
import { redisBatchStore, redisTransport } from '@thrun/transport-redis';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectCluster,
  deleteRunKeys,
  killNode,
  masterOf,
  reviveNode,
  runPrefix,
  waitForFailover,
} from './redis-cluster.js';

const steps = 50;
const stepMs = 100;
const killAtStep = 15;

let cluster: Cluster;
beforeAll(async () => {
  cluster = connectCluster();
  await cluster.ping();
});
afterAll(() => cluster?.disconnect());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a 50-step batch across a Redis Cluster failover', () => {
  it('ends with exactly one then and one finally, and no catch', { timeout: 180_000 }, async () => {
    const keyPrefix = runPrefix('batch');
    const thrun = createThrun({
      transport: redisTransport({
        client: cluster,
        keyPrefix,
        visibilityTimeoutMs: 3_000,
        blockTimeoutMs: 500,
      }),
      source: 'cluster-test',
      logger: silentLogger,
      queue: 'batch-q',
      concurrency: 4,
      // Enough attempts to outlast the failover (a step whose store write met the dead master runs again).
      retry: { maxAttempts: 30, backoffMs: 200, maxBackoffMs: 1_000 },
      batches: { store: redisBatchStore({ client: cluster, keyPrefix }), sweepIntervalMs: 500 },
    });
    const ran = new Set<number>();
    // Event ids of each lifecycle event handled, keyed by kind (a Map: an object with `then` is a thenable).
    const lifecycle = new Map<string, string[]>(['then', 'catch', 'finally'].map((kind) => [kind, []]));
    const handled = (kind: string) => lifecycle.get(kind) ?? [];
    thrun.subscribe('cluster.step', async (payload: { i: number }) => {
      await sleep(stepMs);
      ran.add(payload.i);
    });
    for (const kind of ['then', 'catch', 'finally'] as const) {
      thrun.subscribe(`cluster.${kind}`, (_payload, ctx) => {
        handled(kind).push(ctx.envelope.meta?.event_id ?? '');
      });
    }
    await thrun.start();
    try {
      const victim = await masterOf(cluster, `{${keyPrefix}batch}`);
      await thrun
        .batch(Array.from({ length: steps }, (_, i) => ({ event: 'cluster.step', payload: { i } })))
        .then('cluster.then')
        .catch('cluster.catch')
        .finally('cluster.finally');
      while (ran.size < killAtStep) await sleep(20);
      await killNode(victim);
      const killedAt = Date.now();
      await waitForFailover(cluster, `{${keyPrefix}batch}`, victim);
      await reviveNode(victim);

      const deadline = Date.now() + 120_000;
      while (handled('finally').length === 0 && Date.now() < deadline) await sleep(100);
      // A late duplicate would show up here.
      await sleep(3_000);
      console.log(
        `[redis cluster batch] ${steps} steps, master ${victim} killed at step ${killAtStep}: ` +
          `${ran.size} steps ran, then ${handled('then').length}, catch ${handled('catch').length}, ` +
          `finally ${handled('finally').length}, finished ${Date.now() - killedAt - 3_000} ms after the kill`,
      );
      expect(ran.size).toBe(steps);
      expect(handled('catch')).toEqual([]);
      expect(new Set(handled('then')).size).toBe(1);
      expect(new Set(handled('finally')).size).toBe(1);
      expect(handled('then').length).toBe(1);
      expect(handled('finally').length).toBe(1);
    } finally {
      await thrun.stop();
      await deleteRunKeys(cluster, keyPrefix);
    }
  });
});
