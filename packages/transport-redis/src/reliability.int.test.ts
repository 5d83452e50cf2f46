/**
 * Reliability against the real Redis: a worker killed mid-job, Redis restarted mid-stream, oversized
 * payloads. The restart goes through scripts/brokers/redis.sh, which stops only the server it started
 * (its pid file), so these tests need the Redis that script runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PayloadTooLargeError, type Transport } from '@thrun/contract';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import {
  bytes,
  deleteKeys,
  REDIS_URL,
  requireRedis,
  restartRedis,
  text,
  uniquePrefix,
  waitFor,
} from './test-support/redis.js';

const workerScript = fileURLToPath(new URL('./test-support/worker.mjs', import.meta.url));

let admin: Redis;
const prefix = uniquePrefix();
const children: ChildProcess[] = [];
const transports: Transport[] = [];

beforeAll(async () => {
  admin = await requireRedis();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(transports.splice(0).map((t) => t.close({ drainTimeoutMs: 1_000 })));
});
afterAll(async () => {
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

interface WorkerLine {
  pid: number;
  body: string;
  attempt: number;
}

function startWorker(
  queue: string,
  hang: boolean,
): { child: ChildProcess; lines: WorkerLine[]; ready: Promise<void> } {
  const child = spawn(process.execPath, [workerScript, REDIS_URL, prefix, queue, '1500'], {
    env: { ...process.env, THRUN_TEST_HANG: hang ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: WorkerLine[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve();
      else lines.push(JSON.parse(line) as WorkerLine);
    });
  });
  return { child, lines, ready };
}

describe('reliability', () => {
  it('redelivers the job of a worker killed with SIGKILL to another worker, as attempt 2', async () => {
    const doomed = startWorker('kill', true);
    await doomed.ready;
    const producer = redisTransport({ url: REDIS_URL, keyPrefix: prefix });
    transports.push(producer);
    await producer.publish('kill', [{ body: bytes('job-1') }]);
    await waitFor(() => doomed.lines.length === 1);
    expect(doomed.lines[0]).toMatchObject({ body: 'job-1', attempt: 1 });
    doomed.child.kill('SIGKILL');

    const survivor = startWorker('kill', false);
    await survivor.ready;
    // The lease is 1.5 s: generous margin for a busy machine.
    await waitFor(() => survivor.lines.length === 1, 20_000);
    expect(survivor.lines[0]).toEqual({ pid: survivor.child.pid, body: 'job-1', attempt: 2 });
    // Acknowledged: no processing list holds it any more, and the queue is empty.
    await waitFor(async () => (await admin.keys(`{${prefix}kill}:processing:*`)).length === 0);
    expect(await admin.llen(`${prefix}kill`)).toBe(0);
  });

  it('loses nothing when Redis restarts in the middle of 10,000 publishes and their consumption', async () => {
    const total = 10_000;
    const batch = 50;
    const transport = redisTransport({ url: REDIS_URL, keyPrefix: prefix, visibilityTimeoutMs: 5_000 });
    transports.push(transport);
    const handled = new Map<string, number>();
    await transport.consume(
      'restart',
      async (delivery) => {
        const id = text(delivery.body);
        handled.set(id, (handled.get(id) ?? 0) + 1);
        await delivery.ack();
      },
      { concurrency: 20 },
    );

    const acknowledged = new Set<string>();
    let publishFailures = 0;
    let restarted: Promise<unknown> | undefined;
    let restartDone = false;
    let handledAtRestart = -1;
    let publishedAfterRestart = 0;
    for (let start = 0; start < total; start += batch) {
      const ids = Array.from({ length: batch }, (_, i) => `m${start + i}`);
      if (start === total * 0.3) {
        // Mid-run, without waiting: publishing and consuming go on while Redis goes down and comes back.
        restarted = restartRedis().then((result) => {
          restartDone = true;
          handledAtRestart = handled.size;
          return result;
        });
      }
      // Paced a little, so publishing goes on while Redis is down and after it is back.
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (;;) {
        try {
          await transport.publish(
            'restart',
            ids.map((id) => ({ body: bytes(id) })),
          );
          for (const id of ids) acknowledged.add(id);
          if (restartDone) publishedAfterRestart += ids.length;
          break;
        } catch {
          // Not acknowledged: publish again (at-least-once; a batch that did land becomes duplicates).
          publishFailures += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
    const { stdout } = (await restarted) as { stdout: string };
    expect(stdout).toContain('THRUN_REDIS_URL');

    await waitFor(() => [...acknowledged].every((id) => handled.has(id)), 60_000);
    const lost = [...acknowledged].filter((id) => !handled.has(id));
    const duplicates = [...handled.values()].reduce((sum, n) => sum + n - 1, 0);
    console.log(
      `[redis restart] published ${acknowledged.size} acknowledged, handled ${handled.size} distinct, ` +
        `lost ${lost.length}, duplicates ${duplicates}, publish attempts rejected ${publishFailures}; ` +
        `${handledAtRestart} handled when Redis was back, ${publishedAfterRestart} published after`,
    );
    // The restart really happened mid-run: with work on both sides of it.
    expect(handledAtRestart).toBeLessThan(total);
    expect(publishedAfterRestart).toBeGreaterThan(0);
    expect(acknowledged.size).toBe(total);
    expect(lost).toEqual([]);
  }, 180_000);

  it('rejects a payload over the limit with PayloadTooLargeError and sends nothing', async () => {
    const transport = redisTransport({ url: REDIS_URL, keyPrefix: prefix });
    transports.push(transport);
    const limit = transport.capabilities.maxPayloadBytes;
    const error = await transport.publish('big', [{ body: new Uint8Array(limit + 1) }]).catch((e) => e);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect(error.code).toBe('payload_too_large');
    expect(error.message).toMatch(/^\[thrun:redis\]/);
    await transport.publish('big', [{ body: new Uint8Array(limit) }]); // exactly at the limit is fine
    expect(await admin.llen(`${prefix}big`)).toBe(1);
  });
});
