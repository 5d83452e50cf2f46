import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Transport } from '@thrun/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

// The broker's minimum (group.min.session.timeout.ms): a dead member is noticed as fast as allowed.
const sessionTimeoutMs = 6_000;
let transport: Transport;

beforeAll(async () => {
  await assertBrokerReachable();
  transport = kafkaTransport({ brokers, sessionTimeoutMs });
});
afterAll(() => transport?.close({ drainTimeoutMs: 1_000 }));

function startWorker(queue: string, group: string): { child: ChildProcess; lines: string[] } {
  const script = fileURLToPath(new URL('./testing/hanging-worker.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, queue, group, brokers.join(','), String(sessionTimeoutMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  return { child, lines };
}

describe('a worker killed mid-job', () => {
  it('has its message handled by another member of the group', async () => {
    const queue = uniqueQueue('crash');
    const worker = startWorker(queue, 'workers');
    try {
      await waitFor(() => worker.lines.includes('subscribed'), 30_000, 'the worker to subscribe');
      await transport.publish(queue, [{ body: text('job-1'), key: 'order-1' }]);
      await waitFor(() => worker.lines.includes('started job-1'), 20_000, 'the worker to start the job');

      worker.child.kill('SIGKILL');
      const handled: Array<{ body: string; attempt: number }> = [];
      const survivor = await transport.consume(
        queue,
        async (delivery) => {
          handled.push({ body: decode(delivery.body), attempt: delivery.attempt });
          await delivery.ack();
        },
        { group: 'workers' },
      );
      await waitFor(() => handled.length >= 1, 40_000, 'the survivor to handle the job');
      expect(handled[0]!.body).toBe('job-1');
      await survivor.close();
    } finally {
      worker.child.kill('SIGKILL');
    }
  });

  it('releases a delivery still running at the drain deadline as a new attempt', async () => {
    const queue = uniqueQueue('release');
    const first = kafkaTransport({ brokers, sessionTimeoutMs });
    let started = false;
    await first.consume(
      queue,
      () => {
        started = true;
        return new Promise(() => {}); // overruns any drain deadline
      },
      { group: 'g' },
    );
    await first.publish(queue, [{ body: text('slow') }]);
    await waitFor(() => started, 20_000, 'the first delivery');
    const closedAt = Date.now();
    await first.close({ drainTimeoutMs: 300 });
    expect(Date.now() - closedAt).toBeLessThan(10_000);

    const attempts: number[] = [];
    const second = await transport.consume(
      queue,
      async (delivery) => {
        attempts.push(delivery.attempt);
        await delivery.ack();
      },
      { group: 'g' },
    );
    await waitFor(() => attempts.length >= 1, 20_000, 'the released delivery');
    expect(attempts).toEqual([2]);
    await second.close();
  });
});
