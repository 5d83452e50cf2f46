/**
 * A ledger run, the same on every cluster: worker processes record every event they handle in files of
 * their own, a producer publishes paced batches (sending a rejected batch again, like any producer), a
 * node is killed once 40 % are acknowledged and revived later, and the run ends when every acknowledged
 * event was handled or dead-lettered, or when nothing moved for 20 s. Then it counts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transport } from '@thrun/contract';

export interface LedgerCounts {
  acknowledged: number;
  handled: number;
  deadLettered: number;
  /** Acknowledged, but neither handled nor dead-lettered. */
  lost: number;
  /** Handled or dead-lettered, but never acknowledged. */
  phantom: number;
  /** Handlings beyond the first of an event. */
  duplicates: number;
  publishRetries: number;
  /** From the kill to the first publish acknowledged after it. */
  recoverMs: number;
  runMs: number;
}

export interface LedgerPlan {
  name: string;
  events: number;
  /** Every n-th event is poison (its id ends in `-poison`): workers dead-letter it. 0: none. */
  poisonEvery: number;
  workers: number;
  workerScript: string;
  /** The worker's argv JSON, given the ledger file it appends to. */
  workerConfig: (ledgerFile: string) => object;
  producer: Transport;
  queue: string;
  /** Kills the node; resolves once the cluster serves again without it. */
  kill: () => Promise<void>;
  /** Brings the node back. */
  revive: () => Promise<void>;
  /** Ids of the events dead-lettered so far. */
  deadIds: () => Promise<Set<string>>;
  /** The pause between a failover and the revival. Default: 3,000. */
  downMs?: number;
}

const PUBLISH_BATCH = 20;
const PUBLISH_PAUSE_MS = 40; // about 500 events/s offered: the kill lands while work flows
const STILL_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const eventId = (i: number, poisonEvery: number) =>
  poisonEvery > 0 && i % poisonEvery === poisonEvery - 1 ? `e${i}-poison` : `e${i}`;

export async function runLedger(plan: LedgerPlan): Promise<LedgerCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'thrun-cluster-ledger-'));
  const children = new Set<ChildProcess>();
  try {
    for (let i = 0; i < plan.workers; i += 1) {
      const config = plan.workerConfig(join(dir, `worker-${i}.log`));
      const child = spawn(process.execPath, [plan.workerScript, JSON.stringify(config)], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
    }
    const handledIds = () =>
      readdirSync(dir).flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean));

    const acknowledged = new Set<string>();
    let publishRetries = 0;
    let killedAt = 0;
    let recoveredAt = 0;
    const startedAt = Date.now();
    const chaos = (async () => {
      while (acknowledged.size < plan.events * 0.4) await sleep(20);
      killedAt = Date.now();
      await plan.kill();
      await sleep(plan.downMs ?? 3_000);
      await plan.revive();
    })();
    chaos.catch(() => {});

    for (let i = 0; i < plan.events; i += PUBLISH_BATCH) {
      const ids = Array.from({ length: Math.min(PUBLISH_BATCH, plan.events - i) }, (_, j) =>
        eventId(i + j, plan.poisonEvery),
      );
      for (;;) {
        try {
          await plan.producer.publish(
            plan.queue,
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
      if (killedAt > 0 && recoveredAt === 0) recoveredAt = Date.now();
      await sleep(PUBLISH_PAUSE_MS);
    }
    await chaos;

    let last = -1;
    let stillSince = Date.now();
    for (;;) {
      const done = new Set(handledIds());
      for (const id of await plan.deadIds()) done.add(id);
      if ([...acknowledged].every((id) => done.has(id))) break;
      if (done.size !== last) {
        last = done.size;
        stillSince = Date.now();
      } else if (Date.now() - stillSince > STILL_MS) break;
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
    const distinct = new Set(handled);
    const dead = await plan.deadIds();
    const counts: LedgerCounts = {
      acknowledged: acknowledged.size,
      handled: distinct.size,
      deadLettered: dead.size,
      lost: [...acknowledged].filter((id) => !distinct.has(id) && !dead.has(id)).length,
      phantom: [...new Set([...distinct, ...dead])].filter((id) => !acknowledged.has(id)).length,
      duplicates: handled.length - distinct.size,
      publishRetries,
      recoverMs: recoveredAt - killedAt,
      runMs,
    };
    console.log(`[${plan.name}] ${plan.events} events: ${JSON.stringify(counts)}`);
    return counts;
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
