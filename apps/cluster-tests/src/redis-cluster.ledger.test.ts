/**
 * Ledger runs on the Redis Cluster: 3 worker processes (src/redis-ledger-worker.mjs) and a producer,
 * the master that serves the queue's slot SIGKILLed mid-run and revived once its replica took over.
 * Counted: acknowledged publishes, handled, dead-lettered, lost (acknowledged but neither handled nor
 * dead-lettered), phantom (handled but never acknowledged) and duplicates. With `WAIT` (publish and
 * settlement wait for the replica) nothing acknowledged may be lost; without it a failover can lose
 * what the master acknowledged but had not replicated yet, and the run reports how much it lost.
 *
 * THRUN_CLUSTER_LEDGER_EVENTS sets the events per run: 2,000 by default (CI), 20,000 for the full run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeDeadLetter } from '@thrun/contract';
import { queueKeys, redisTransport } from '@thrun/transport-redis';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectCluster,
  deleteRunKeys,
  killNode,
  masterOf,
  nodes,
  reviveNode,
  runPrefix,
  waitForFailover,
} from './redis-cluster.js';

const events = Number(process.env.THRUN_CLUSTER_LEDGER_EVENTS ?? 2_000);
const workers = 3;
const publishBatch = 20;
const publishPauseMs = 40; // about 500 events/s offered: the kill lands while work flows
const poisonEvery = 100;
const workerScript = fileURLToPath(new URL('./redis-ledger-worker.mjs', import.meta.url));

let cluster: Cluster;
const dirs: string[] = [];
const children = new Set<ChildProcess>();
beforeAll(async () => {
  cluster = connectCluster();
  await cluster.ping();
});
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  cluster?.disconnect();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (body: Uint8Array) => new TextDecoder().decode(body);

export interface LedgerCounts {
  acknowledged: number;
  handled: number;
  deadLettered: number;
  lost: number;
  phantom: number;
  duplicates: number;
  publishRetries: number;
  recoverMs: number;
  runMs: number;
}

async function ledgerRun(wait: boolean): Promise<LedgerCounts> {
  const keyPrefix = runPrefix(`ledger-${wait ? 'wait' : 'nowait'}`);
  const queue = 'ledger';
  const dir = mkdtempSync(join(tmpdir(), 'thrun-cluster-ledger-'));
  dirs.push(dir);
  for (let i = 0; i < workers; i += 1) {
    const child = spawn(
      process.execPath,
      [
        workerScript,
        JSON.stringify({ nodes, keyPrefix, queue, wait, handlerMs: 2, ledger: join(dir, `worker-${i}.log`) }),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.add(child);
    child.on('exit', () => children.delete(child));
  }
  const handledIds = () =>
    readdirSync(dir).flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean));

  const producer = redisTransport({ client: cluster, keyPrefix, ...(wait ? { waitForReplicas: 1 } : {}) });
  const acknowledged = new Set<string>();
  let publishRetries = 0;
  let killedAt = 0;
  let recoveredAt = 0;
  const victim = await masterOf(cluster, queueKeys(keyPrefix, queue).queue);
  const startedAt = Date.now();

  // The kill, once 40 % are acknowledged; the revival once the replica took over and 3 s went by.
  const chaos = (async () => {
    while (acknowledged.size < events * 0.4) await sleep(20);
    await killNode(victim);
    killedAt = Date.now();
    await waitForFailover(cluster, queueKeys(keyPrefix, queue).queue, victim);
    await sleep(3_000);
    await reviveNode(victim);
  })();

  for (let i = 0; i < events; i += publishBatch) {
    const ids = Array.from({ length: Math.min(publishBatch, events - i) }, (_, j) =>
      (i + j) % poisonEvery === poisonEvery - 1 ? `e${i + j}-poison` : `e${i + j}`,
    );
    // Like any producer: a rejected publish is sent again (the messages may have been written).
    for (;;) {
      try {
        await producer.publish(
          queue,
          ids.map((id) => ({ body: new TextEncoder().encode(id) })),
          { signal: AbortSignal.timeout(10_000) },
        );
        break;
      } catch {
        publishRetries += 1;
        await sleep(200);
      }
    }
    for (const id of ids) acknowledged.add(id);
    // Time to recover: from the kill to the first publish acknowledged after it.
    if (killedAt > 0 && recoveredAt === 0) recoveredAt = Date.now();
    await sleep(publishPauseMs);
  }
  await chaos;

  const deadIds = async () =>
    new Set(
      (await producer.peek!(`${queue}.dead`, events)).map((m) => text(decodeDeadLetter(m).originalBody)),
    );
  // Done when every acknowledged id was handled or dead-lettered, or when nothing moved for 20 s.
  let last = -1;
  let stillSince = Date.now();
  for (;;) {
    const done = new Set(handledIds());
    for (const id of await deadIds()) done.add(id);
    if ([...acknowledged].every((id) => done.has(id))) break;
    if (done.size !== last) {
      last = done.size;
      stillSince = Date.now();
    } else if (Date.now() - stillSince > 20_000) break;
    await sleep(250);
  }
  const runMs = Date.now() - startedAt;

  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  const handled = handledIds();
  const distinctHandled = new Set(handled);
  const dead = await deadIds();
  await producer.close();
  await deleteRunKeys(cluster, keyPrefix);
  const counts: LedgerCounts = {
    acknowledged: acknowledged.size,
    handled: distinctHandled.size,
    deadLettered: dead.size,
    lost: [...acknowledged].filter((id) => !distinctHandled.has(id) && !dead.has(id)).length,
    phantom: [...distinctHandled, ...dead].filter((id) => !acknowledged.has(id)).length,
    duplicates: handled.length - distinctHandled.size,
    publishRetries,
    recoverMs: recoveredAt - killedAt,
    runMs,
  };
  console.log(
    `[redis cluster ledger, ${wait ? 'WAIT 1' : 'no WAIT'}] ${events} events: ${JSON.stringify(counts)}`,
  );
  return counts;
}

describe(`Redis Cluster ledger: ${workers} workers, ${events} events, the queue's master SIGKILLed`, () => {
  it('with WAIT (publish and settlement wait for the replica): nothing acknowledged is lost, nothing invented', {
    timeout: 600_000,
  }, async () => {
    const counts = await ledgerRun(true);
    expect(counts.acknowledged).toBe(events);
    expect(counts.deadLettered).toBe(events / poisonEvery);
    expect(counts.lost).toBe(0);
    expect(counts.phantom).toBe(0);
  });

  it('without WAIT: nothing invented; what the failover lost is reported (the documented limit)', {
    timeout: 600_000,
  }, async () => {
    const counts = await ledgerRun(false);
    expect(counts.acknowledged).toBe(events);
    expect(counts.phantom).toBe(0);
    // Lost may be above 0 here: acknowledged by the master, not yet on its replica when it died.
    expect(counts.handled + counts.deadLettered + counts.lost).toBe(events);
  });
});
