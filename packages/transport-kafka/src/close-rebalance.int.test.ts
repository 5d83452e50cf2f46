import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createThrun } from '@thrun/core';
import { Kafka, type logCreator, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, uniqueQueue } from './testing/broker.js';

const admin = new Kafka({ clientId: 'close-check', brokers, logLevel: logLevel.NOTHING }).admin();
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  await assertBrokerReachable();
  await admin.connect();
});
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await admin.disconnect();
});

async function groupState(groupId: string): Promise<string> {
  const { groups } = await admin.describeGroups([groupId]);
  return groups[0]?.state ?? 'Unknown';
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('close() during a rebalance', () => {
  it('returns within drainTimeoutMs + 2 s while the group waits for a dead member', {
    timeout: 90_000,
  }, async () => {
    const queue = uniqueQueue('close-rebalance');
    const groupId = `thrun.${queue}.g`;
    // A member that dies without leaving: with a 30 s session, the next rebalance waits for it
    // (up to its session or rebalance timeout, both 30 s), and every other member waits in JoinGroup.
    const script = fileURLToPath(new URL('./testing/hanging-worker.mjs', import.meta.url));
    const dead = spawn(process.execPath, [script, queue, 'g', brokers.join(','), '30000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => dead.kill('SIGKILL'));
    await new Promise<void>((resolve) => dead.stdout.on('data', () => resolve()));

    const drainTimeoutMs = 2_000;
    // kafkajs logs this just before it rejoins: from then on its stop waits for JoinGroup.
    const rejoining = new Set<string>();
    const recording =
      (name: string): logCreator =>
      () =>
      ({ log }) => {
        if (log.message?.startsWith('The group is rebalancing, re-joining')) rejoining.add(name);
      };
    const options = { brokers, drainTimeoutMs, sessionTimeoutMs: 30_000 };
    // Two members: a transport of its own, and a Thrun worker (whose close goes through the same path).
    const member = kafkaTransport({ ...options, logCreator: recording('transport') });
    cleanups.push(() => member.close());
    await member.consume(queue, async (delivery) => delivery.ack(), { group: 'g' });
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const thrun = createThrun({
      transport: kafkaTransport({ ...options, logCreator: recording('thrun') }),
      queue,
      group: 'g',
      drainTimeoutMs,
      logger: silent,
    });
    cleanups.push(() => thrun.close());
    thrun.subscribe('order_created', () => {});
    await thrun.start();
    // Everyone joined with the dead-to-be member still alive; now it dies without leaving.
    await until(async () => (await groupState(groupId)) === 'Stable', 20_000, 'a stable group');
    rejoining.clear(); // the rejoins of those joins
    dead.kill('SIGKILL');

    // A third member joins: a rebalance starts, which cannot finish before the dead member's
    // session ends. The members have no handler running; they are asked to rejoin, and wait in JoinGroup.
    const joiner = kafkaTransport({ brokers, sessionTimeoutMs: 30_000 });
    cleanups.push(() => joiner.close({ drainTimeoutMs: 0 }));
    void joiner.consume(queue, async (delivery) => delivery.ack(), { group: 'g' }).catch(() => {});
    await until(async () => (await groupState(groupId)) === 'PreparingRebalance', 20_000, 'the rebalance');
    await until(async () => rejoining.size === 2, 20_000, 'both members to rejoin');

    const startedAt = Date.now();
    const timed = (close: Promise<void>) => close.then(() => Date.now() - startedAt);
    const [transportMs, thrunMs] = await Promise.all([timed(member.close()), timed(thrun.close())]);
    expect(await groupState(groupId)).toBe('PreparingRebalance'); // they were closed mid-rebalance
    console.log(`[kafka close-rebalance] transport.close() ${transportMs} ms, thrun.close() ${thrunMs} ms`);
    expect(transportMs).toBeLessThanOrEqual(drainTimeoutMs + 2_000);
    expect(thrunMs).toBeLessThanOrEqual(drainTimeoutMs + 2_000);
  });
});
