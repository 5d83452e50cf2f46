import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, text, uniqueQueue } from './testing/broker.js';

// The short run by default (CI); the full one of issue 11 with
//   THRUN_KAFKA_LEDGER_EVENTS=15000 THRUN_KAFKA_LEDGER_KILLS=10
const events = Number(process.env.THRUN_KAFKA_LEDGER_EVENTS ?? 4_500);
const kills = Number(process.env.THRUN_KAFKA_LEDGER_KILLS ?? 3);
const workers = 3;
const sessionTimeoutMs = 6_000; // the broker's minimum: a killed member is noticed as soon as allowed
// About 160 events/s per worker; the backlog is fetched in large batches, so kills land mid-batch.
const handlerMs = 25;
const concurrency = 4;
const drainTimeoutMs = 10_000; // the transport's default, which the workers use

const script = fileURLToPath(new URL('./testing/ledger-worker.mjs', import.meta.url));
const ledgerDir = mkdtempSync(join(tmpdir(), 'thrun-kafka-ledger-'));
const running = new Set<ChildProcess>();

beforeAll(assertBrokerReachable);
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(ledgerDir, { recursive: true, force: true });
});

let spawned = 0;
function startWorker(queue: string): ChildProcess {
  spawned += 1;
  const ledger = join(ledgerDir, `worker-${spawned}.log`);
  const child = spawn(
    process.execPath,
    [
      script,
      queue,
      'ledger',
      brokers.join(','),
      String(sessionTimeoutMs),
      ledger,
      String(handlerMs),
      String(concurrency),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/** Every handled id, as many times as it was handled. */
function readLedger(): string[] {
  return readdirSync(ledgerDir).flatMap((file) =>
    readFileSync(join(ledgerDir, file), 'utf8').split('\n').filter(Boolean),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe(`${workers} workers, ${events} events, ${kills} SIGKILLs`, () => {
  it('handle every event, and few twice', { timeout: 600_000 }, async () => {
    const queue = uniqueQueue('ledger');
    const producer = kafkaTransport({ brokers });
    const ids = Array.from({ length: events }, (_, i) => `e${i}`);
    for (let i = 0; i < events; i += 500) {
      await producer.publish(
        queue,
        ids.slice(i, i + 500).map((id, j) => ({ body: text(id), key: `k${(i + j) % 64}` })),
      );
    }
    await producer.close();

    const admin = new Kafka({ clientId: 'ledger-check', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const startedAt = Date.now();
      for (let i = 0; i < workers; i += 1) startWorker(queue);
      await until(() => readLedger().length > 0, 60_000, 'the first handled event');

      // Kills spread over the run: the next one when the next share of the events was handled, so
      // each lands while work flows (not during the rebalance the previous one caused).
      let killed = 0;
      while (killed < kills) {
        const progress = Math.ceil(((killed + 1) * events) / (kills + 1));
        await until(() => new Set(readLedger()).size >= progress, 300_000, `${progress} events handled`);
        const victims = [...running];
        const victim = victims[Math.floor(Math.random() * victims.length)]!;
        victim.kill('SIGKILL');
        killed += 1;
        startWorker(queue);
      }
      const handledAtLastKill = new Set(readLedger()).size;

      // Done when every event was handled and the group committed everything: nothing can come
      // back after that but what a new crash would bring.
      const groupId = `thrun.${queue}.ledger`;
      const committedAll = async () => {
        const ends = await admin.fetchTopicOffsets(queue);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [queue] });
        const byPartition = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]));
        return ends.every(({ partition, high }) => byPartition.get(partition) === Number(high));
      };
      await until(
        async () => new Set(readLedger()).size === events && (await committedAll()),
        300_000,
        'every event handled and committed',
      );
      const runMs = Date.now() - startedAt;

      // The one SIGTERM of the run: every worker closes within its deadline.
      const exits = [...running].map(
        (child) =>
          new Promise<number>((resolve) => {
            const sentAt = Date.now();
            child.on('exit', () => resolve(Date.now() - sentAt));
            child.kill('SIGTERM');
          }),
      );
      const closeMs = await Promise.all(exits);

      const ledger = readLedger();
      const distinct = new Set(ledger);
      const duplicates = ledger.length - distinct.size;
      const rate = (100 * duplicates) / events;
      console.log(
        `[kafka kill-ledger] ${events} events, ${killed} SIGKILLs, ${distinct.size} distinct handled, ` +
          `${duplicates} duplicates (${rate.toFixed(2)} %), ${handledAtLastKill} handled at the last kill, ` +
          `run ${runMs} ms, SIGTERM exits ${closeMs.join(', ')} ms`,
      );
      expect(handledAtLastKill).toBeLessThan(events); // the kills landed while there was work
      const published = new Set(ids);
      expect([...distinct].filter((id) => !published.has(id))).toEqual([]); // nothing invented
      expect(distinct.size).toBe(events); // nothing lost
      expect(rate).toBeLessThanOrEqual(0.5);
      for (const ms of closeMs) expect(ms).toBeLessThanOrEqual(drainTimeoutMs + 2_000);
    } finally {
      await admin.disconnect();
    }
  });
});
