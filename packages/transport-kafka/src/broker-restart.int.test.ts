import { connect } from 'node:net';
import type { Transport } from '@thrun/contract';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import {
  assertBrokerReachable,
  brokerScript,
  brokers,
  decode,
  text,
  uniqueQueue,
  waitWhileProgressing,
} from './testing/broker.js';

/**
 * A plain TCP connection to the broker the tests use, opened before the restart: the broker going down
 * closes it. The script restarts only the broker it started, so this proves the restart reached the
 * one at THRUN_KAFKA_BROKERS.
 */
async function watchConnection(): Promise<{ closed: () => boolean }> {
  const [host = '127.0.0.1', port = '9192'] = brokers[0]!.split(':');
  const socket = connect({ host, port: Number(port) });
  let closed = false;
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { closed: () => closed };
}

/**
 * Where the records of `queue` stand: each partition's end offset and the offset its group committed.
 * Tells, when acknowledged messages were not handled, whether they wait behind the committed offset or
 * the group committed past the end of what was written.
 */
async function offsetsOf(queue: string): Promise<string> {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(queue);
    const [committed] = await admin.fetchOffsets({ groupId: `thrun.${queue}.default`, topics: [queue] });
    return ends
      .map(({ partition, high }) => {
        const offset = committed?.partitions.find((entry) => entry.partition === partition)?.offset;
        return `partition ${partition}: end ${high}, committed ${offset}`;
      })
      .join('; ');
  } finally {
    await admin.disconnect();
  }
}

let transport: Transport;

beforeAll(async () => {
  await assertBrokerReachable();
  if ((await brokerScript('status')) !== 0) {
    throw new Error(
      'This test restarts the broker, so it needs the one started by scripts/brokers/kafka.sh: run `eval "$(bash scripts/brokers/kafka.sh start)"`',
    );
  }
  transport = kafkaTransport({ brokers, partitions: 3 });
});
afterAll(() => transport?.close({ drainTimeoutMs: 2_000 }));

describe('the broker restarting during 10,000 dispatches', () => {
  // On a busy machine the restart alone can take minutes (the broker's JVM starting): the bound is
  // generous, and the wait for deliveries below fails on a stall, not at a fixed deadline.
  it('loses no acknowledged message', { timeout: 600_000 }, async () => {
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

    const connection = await watchConnection();
    const acknowledged = new Set<string>();
    const rejected: string[] = [];
    let restart: Promise<number> | undefined;
    let restartDone = false;
    // Acknowledged publishes sent before the restart began, and sent after the broker was back.
    let acknowledgedBefore = 0;
    let acknowledgedAfter = 0;
    let next = 0;
    // One publish per dispatch, 20 at a time, as a busy service's dispatches would be.
    await Promise.all(
      Array.from({ length: publishers }, async () => {
        while (next < total) {
          // Hold the last tenth until the broker is back, so some dispatches surely follow the restart.
          if (next >= total * 0.9 && !restartDone) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            continue;
          }
          const id = `m${next++}`;
          const phase = !restart ? 'before' : restartDone ? 'after' : 'during';
          try {
            await transport.publish(queue, [{ body: text(id), key: `k${next % 50}` }]);
            acknowledged.add(id);
            if (phase === 'before') acknowledgedBefore += 1;
            if (phase === 'after') acknowledgedAfter += 1;
          } catch {
            rejected.push(id);
          }
          if (!restart && acknowledged.size >= total / 4) {
            restart = brokerScript('restart').then((code) => {
              restartDone = true;
              return code;
            });
          }
        }
      }),
    );
    expect(await restart).toBe(0);
    expect(connection.closed(), 'the broker at THRUN_KAFKA_BROKERS went down').toBe(true);

    await waitWhileProgressing(
      () => [...acknowledged].every((id) => handled.has(id)),
      () => handled.size,
      120_000,
      'every acknowledged message to be handled',
    ).catch(async (error: Error) => {
      const missing = [...acknowledged].filter((id) => !handled.has(id));
      const offsets = await offsetsOf(queue).catch((cause: Error) => `offsets unknown: ${cause.message}`);
      throw new Error(
        `${error.message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')} (${offsets})`,
      );
    });
    const duplicates = [...handled.values()].reduce((sum, count) => sum + count - 1, 0);
    console.log(
      `[kafka restart] acknowledged ${acknowledged.size} (${acknowledgedBefore} sent before the restart, ${acknowledgedAfter} after), rejected ${rejected.length}, handled ${handled.size} distinct, ${duplicates} duplicate deliveries`,
    );
    // The restart fell inside the run: acknowledged dispatches on both sides of it.
    expect(acknowledgedBefore).toBeGreaterThan(0);
    expect(acknowledgedAfter).toBeGreaterThan(0);
    expect(acknowledged.size + rejected.length).toBe(total);
    expect(acknowledged.size).toBeGreaterThan(total / 2);
    await subscription.close();
  });
});
