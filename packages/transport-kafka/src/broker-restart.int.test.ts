import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Transport } from '@thrun/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

const script = fileURLToPath(new URL('../../../scripts/brokers/kafka.sh', import.meta.url));

function broker(command: 'restart' | 'status'): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, command], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

let transport: Transport;

beforeAll(async () => {
  await assertBrokerReachable();
  if ((await broker('status')) !== 0) {
    throw new Error(
      'This test restarts the broker, so it needs the one started by scripts/brokers/kafka.sh: run `eval "$(bash scripts/brokers/kafka.sh start)"`',
    );
  }
  transport = kafkaTransport({ brokers, partitions: 3 });
});
afterAll(() => transport?.close({ drainTimeoutMs: 2_000 }));

describe('the broker restarting during 10,000 dispatches', () => {
  it('loses no acknowledged message', { timeout: 240_000 }, async () => {
    const queue = uniqueQueue('restart');
    const total = 10_000;
    const publishers = 20;
    const handled = new Map<string, number>();
    const subscription = await transport.consume(
      queue,
      async (delivery) => {
        const id = decode(delivery.body);
        handled.set(id, (handled.get(id) ?? 0) + 1);
        await delivery.ack();
      },
      { concurrency: 10 },
    );

    const acknowledged = new Set<string>();
    const rejected: string[] = [];
    let restart: Promise<number> | undefined;
    let next = 0;
    // One publish per dispatch, 20 at a time, as a busy service's dispatches would be.
    await Promise.all(
      Array.from({ length: publishers }, async () => {
        while (next < total) {
          const id = `m${next++}`;
          try {
            await transport.publish(queue, [{ body: text(id), key: `k${next % 50}` }]);
            acknowledged.add(id);
          } catch {
            rejected.push(id);
          }
          if (!restart && acknowledged.size >= total / 4) restart = broker('restart');
        }
      }),
    );
    expect(await restart).toBe(0);

    await waitFor(
      () => [...acknowledged].every((id) => handled.has(id)),
      120_000,
      'every acknowledged message to be handled',
    ).catch((error: Error) => {
      const missing = [...acknowledged].filter((id) => !handled.has(id));
      throw new Error(`${error.message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
    });
    const duplicates = [...handled.values()].reduce((sum, count) => sum + count - 1, 0);
    console.log(
      `[kafka restart] acknowledged ${acknowledged.size}, rejected ${rejected.length}, handled ${handled.size} distinct, ${duplicates} duplicate deliveries`,
    );
    expect(acknowledged.size + rejected.length).toBe(total);
    expect(acknowledged.size).toBeGreaterThan(total / 2);
    await subscription.close();
  });
});
