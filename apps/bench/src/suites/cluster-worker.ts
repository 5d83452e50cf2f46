/**
 * One worker process of the scale-out suite (cluster.ts): a Thrun transport's consume loop on each of its
 * queues, a handler that only acks. Talks to its parent over the IPC channel:
 *
 *   worker → parent  { type: 'ready' }                  connected, not yet consuming
 *   parent → worker  { type: 'go' }                     start consuming
 *   worker → parent  { type: 'progress', … }            every PROGRESS_MS, and once more after close
 *   parent → worker  { type: 'stop' }                   close the transport and exit
 *
 * Times are epoch milliseconds with sub-millisecond precision (`performance.timeOrigin + now()`), so the
 * parent can compare them across processes.
 */
import type { Transport } from '@thrun/contract';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { redisTransport } from '@thrun/transport-redis';
import { Cluster, Redis } from 'ioredis';

export type WorkerBroker =
  | { kind: 'redis'; url: string }
  | { kind: 'redis-cluster'; nodes: { host: string; port: number }[] }
  | { kind: 'rabbitmq'; urls: string[] };

export interface WorkerConfig {
  broker: WorkerBroker;
  keyPrefix: string;
  queues: string[];
  /** Handlers at once on each queue. */
  concurrency: number;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; handled: number; firstAt: number; lastAt: number; final: boolean };

const PROGRESS_MS = 50;
const clock = () => performance.timeOrigin + performance.now();

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig;
const send = (message: WorkerMessage, then: () => void = () => {}) => process.send?.(message, then);

let client: Redis | Cluster | undefined;
let transport: Transport;
if (config.broker.kind === 'rabbitmq') {
  transport = rabbitmqTransport({ urls: config.broker.urls, prefetch: 2 * config.concurrency });
} else {
  client =
    config.broker.kind === 'redis'
      ? new Redis(config.broker.url)
      : new Cluster(config.broker.nodes, { redisOptions: { connectTimeout: 5_000 } });
  transport = redisTransport({ client, keyPrefix: config.keyPrefix });
  // Connected before `ready`, so start-up is not timed.
  await client.ping();
}

let handled = 0;
let firstAt = 0;
let lastAt = 0;
const progress = (final: boolean, then?: () => void) =>
  send({ type: 'progress', handled, firstAt, lastAt, final }, then);
const fail = (error: unknown) => {
  console.error('[bench cluster worker]', error);
  process.exit(1);
};

process.on('message', (message: { type: 'go' | 'stop' }) => {
  if (message.type === 'go') {
    setInterval(() => progress(false), PROGRESS_MS).unref();
    for (const queue of config.queues) {
      transport
        .consume(
        queue,
        async (delivery) => {
          if (handled === 0) firstAt = clock();
          await delivery.ack();
          handled += 1;
          lastAt = clock();
        },
          { concurrency: config.concurrency },
        )
        .catch(fail);
    }
  } else {
    transport.close({ drainTimeoutMs: 5_000 }).then(() => {
      client?.disconnect();
      progress(true, () => process.exit(0));
    }, fail);
  }
});
send({ type: 'ready' });
