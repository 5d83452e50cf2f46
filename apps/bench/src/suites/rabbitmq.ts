import { randomBytes } from 'node:crypto';
import type { Transport } from '@thrun/contract';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { type Channel, type ChannelModel, type ConfirmChannel, connect } from 'amqplib';
import type { Comparison, SuiteResult } from '../report.js';

export const url = process.env.THRUN_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5682';
const PUBLISH_ONE = 2_000;
const PUBLISH_MANY = 10_000;
const CONSUME = 10_000;
const PREFETCH = 100;
const TARGET = 0.85;
const ROUNDS = 2;
const body = new TextEncoder().encode(
  JSON.stringify({
    event: 'order_created',
    payload: { order_id: 123, customer: 'bench', lines: [{ sku: 'a', qty: 1 }] },
    meta: {
      event_id: '0b7c2a8e-8f7e-4c7b-9a57-2f1f0c1d2e3f',
      timestamp: '2026-01-01T00:00:00Z',
      source: 'bench',
    },
  }),
);

/**
 * Thrun's RabbitMQ transport against raw amqplib with the same settings: a confirm channel,
 * persistent messages, quorum queues, prefetch 100 for consumers, manual acks.
 */
export async function rabbitmqSuite(): Promise<SuiteResult> {
  const raw = await connect(url, { noDelay: true }).catch((cause: unknown) => {
    throw new Error(
      'the rabbitmq suite needs a broker at THRUN_AMQP_URL: eval "$(bash scripts/brokers/rabbitmq.sh start)"',
      { cause },
    );
  });
  const thrun = rabbitmqTransport({ url, prefetch: PREFETCH });
  const queues: string[] = [];
  const name = (label: string) => {
    const queue = `bench-${label}-${randomBytes(3).toString('hex')}`;
    queues.push(queue);
    return queue;
  };
  const comparisons: Comparison[] = [];
  try {
    // Alternating rounds, best of each side: a busy machine slows whichever runs at the wrong moment.
    const best = async (peer: () => Promise<number>, ours: () => Promise<number>) => {
      let peerBest = 0;
      let oursBest = 0;
      for (let round = 0; round < ROUNDS; round++) {
        peerBest = Math.max(peerBest, await peer());
        oursBest = Math.max(oursBest, await ours());
      }
      return [oursBest, peerBest] as const;
    };
    for (const concurrency of [1, 50]) {
      const count = concurrency === 1 ? PUBLISH_ONE : PUBLISH_MANY;
      const [ours, peer] = await best(
        () => rawPublish(raw, name('raw-pub'), count, concurrency),
        () => thrunPublish(thrun, name('thrun-pub'), count, concurrency),
      );
      comparisons.push(row(`publish, ${concurrency} in flight (confirmed each)`, ours, peer));
    }
    for (const concurrency of [1, 50]) {
      const [ours, peer] = await best(
        () => rawConsume(raw, name('raw-con'), CONSUME, concurrency),
        () => thrunConsume(thrun, name('thrun-con'), CONSUME, concurrency),
      );
      comparisons.push(row(`consume, concurrency ${concurrency}`, ours, peer));
    }
  } finally {
    await thrun.close({ drainTimeoutMs: 1000 });
    const channel = await raw.createChannel();
    for (const queue of queues) {
      await channel.deleteQueue(queue).catch(() => {});
      await channel.deleteExchange(`thrun.${queue}`).catch(() => {});
    }
    await raw.close();
  }
  return {
    suite: 'rabbitmq',
    workload:
      `${body.byteLength}-byte envelopes on RabbitMQ (${url.replace(/\/\/[^@]*@/, '//')}), quorum queues, persistent, publisher confirms; ` +
      `publish: ${PUBLISH_ONE} messages one at a time, ${PUBLISH_MANY} with 50 publishes in flight; ` +
      `consume: ${CONSUME} preloaded messages, prefetch ${PREFETCH}, manual acks (Thrun coalesces them into multiple acks), handler does nothing; ` +
      `best of ${ROUNDS} alternating rounds.`,
    comparisons,
  };
}

function row(label: string, thrun: number, peer: number): Comparison {
  return { case: label, unit: 'msg/s', thrun, peer, peerName: 'amqplib', better: 'higher', target: TARGET };
}

async function inParallel(count: number, concurrency: number, task: () => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        await task();
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function rawQueue(channel: Channel, queue: string): Promise<void> {
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
}

function rawSend(channel: ConfirmChannel, queue: string): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.sendToQueue(queue, Buffer.from(body), { persistent: true, mandatory: true }, (error: unknown) =>
      error ? reject(error) : resolve(),
    );
  });
}

async function rawPublish(
  model: ChannelModel,
  queue: string,
  count: number,
  concurrency: number,
): Promise<number> {
  const channel = await model.createConfirmChannel();
  await rawQueue(channel, queue);
  const rate = await inParallel(count, concurrency, () => rawSend(channel, queue));
  await channel.close();
  return rate;
}

async function thrunPublish(
  transport: Transport,
  queue: string,
  count: number,
  concurrency: number,
): Promise<number> {
  await transport.publish(queue, [{ body }]); // declares the topology, as the raw side's assertQueue does
  return inParallel(count, concurrency, () => transport.publish(queue, [{ body }]));
}

export async function rawConsume(
  model: ChannelModel,
  queue: string,
  count: number,
  concurrency: number,
  payload: Uint8Array = body,
): Promise<number> {
  const loader = await model.createConfirmChannel();
  await rawQueue(loader, queue);
  for (let i = 0; i < count; i++) loader.sendToQueue(queue, Buffer.from(payload), { persistent: true });
  await loader.waitForConfirms();
  await loader.close();

  const channel = await model.createChannel();
  await channel.prefetch(PREFETCH);
  let handled = 0;
  let active = 0;
  const waiting: Array<() => void> = [];
  const started = performance.now();
  await new Promise<void>((resolve) => {
    void channel.consume(queue, (message) => {
      if (!message) return;
      // The same bound on handlers as Thrun's `concurrency`, with an async handler like Thrun's.
      const run = async () => {
        active++;
        await Promise.resolve();
        channel.ack(message);
        active--;
        waiting.shift()?.();
        if (++handled === count) resolve();
      };
      if (active < concurrency) void run();
      else waiting.push(() => void run());
    });
  });
  const rate = count / ((performance.now() - started) / 1000);
  await channel.close();
  return rate;
}

export async function thrunConsume(
  transport: Transport,
  queue: string,
  count: number,
  concurrency: number,
  payload: Uint8Array = body,
): Promise<number> {
  // Up to 1,000 messages and about 4 MB per publish.
  const size = Math.max(1, Math.min(1000, Math.floor(4_000_000 / payload.byteLength)));
  for (let i = 0; i < count; i += size) {
    await transport.publish(
      queue,
      Array.from({ length: Math.min(size, count - i) }, () => ({ body: payload })),
    );
  }
  let handled = 0;
  let subscription: { close(): Promise<void> } | undefined;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    transport
      .consume(
        queue,
        async (delivery) => {
          await delivery.ack();
          if (++handled === count) resolve();
        },
        { concurrency },
      )
      .then((s) => {
        subscription = s;
      }, reject);
  });
  const rate = count / ((performance.now() - started) / 1000);
  await subscription?.close();
  return rate;
}
