/**
 * One worker process of the scale-out suite (cluster.ts): a Thrun transport's consume loop on each of its
 * queues, a handler that only acks. The process serves one drain after another (starting Node and loading
 * the transports takes seconds on a loaded host, which would otherwise dominate the run). It talks to
 * its parent over the IPC channel:
 *
 *   parent → worker  { type: 'start', config }          connect to the broker of the next drain
 *   worker → parent  { type: 'ready' }                  connected, not yet consuming
 *   parent → worker  { type: 'go' }                     consume
 *   worker → parent  { type: 'progress', … }            every PROGRESS_MS while consuming
 *   parent → worker  { type: 'stop' }                   close the transport; the last progress is final
 *
 * The worker exits when its parent disconnects. Times are epoch milliseconds with sub-millisecond
 * precision (`performance.timeOrigin + now()`), so the parent can compare them across processes.
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

export type ToWorker = { type: 'start'; config: WorkerConfig } | { type: 'go' } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | {
      type: 'progress';
      handled: number;
      firstAt: number;
      lastAt: number;
      /** CPU time (user + system) this process spent since `go`. */
      cpuMs: number;
      final: boolean;
    };

const PROGRESS_MS = 50;
/** Generous: on a loaded host a Cluster client takes seconds to learn the slots of every node. */
const CONNECT_TIMEOUT_MS = 30_000;
const clock = () => performance.timeOrigin + performance.now();
const send = (message: FromWorker) => process.send?.(message);
const fail = (error: unknown) => {
  console.error('[bench cluster worker]', error);
  process.exit(1);
};

/** One drain's connection and counts. */
class Drain {
  private client: Redis | Cluster | undefined;
  private readonly transport: Transport;
  private handled = 0;
  private firstAt = 0;
  private lastAt = 0;
  private ticker: NodeJS.Timeout | undefined;
  private cpuAtGo: NodeJS.CpuUsage | undefined;

  constructor(private readonly config: WorkerConfig) {
    const { broker } = config;
    if (broker.kind === 'rabbitmq') {
      this.transport = rabbitmqTransport({
        urls: broker.urls,
        prefetch: 2 * config.concurrency,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
      });
    } else {
      this.client =
        broker.kind === 'redis'
          ? new Redis(broker.url)
          : new Cluster(broker.nodes, { redisOptions: { connectTimeout: CONNECT_TIMEOUT_MS } });
      // Failures surface through the transport's calls; the events would only repeat them.
      this.client.on('error', () => {});
      this.transport = redisTransport({
        client: this.client,
        keyPrefix: config.keyPrefix,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
      });
    }
  }

  /** Connected before `ready`, so connecting is not timed (the RabbitMQ transport connects on consume). */
  async connect(): Promise<void> {
    await this.client?.ping();
  }

  go(): void {
    this.cpuAtGo = process.cpuUsage();
    this.ticker = setInterval(() => this.progress(false), PROGRESS_MS);
    for (const queue of this.config.queues) {
      this.transport
        .consume(
          queue,
          async (delivery) => {
            if (this.handled === 0) this.firstAt = clock();
            await delivery.ack();
            this.handled += 1;
            this.lastAt = clock();
          },
          { concurrency: this.config.concurrency },
        )
        .catch(fail);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    await this.transport.close({ drainTimeoutMs: 5_000 });
    this.client?.disconnect();
    this.progress(true);
  }

  private progress(final: boolean): void {
    const cpu = process.cpuUsage(this.cpuAtGo);
    send({
      type: 'progress',
      handled: this.handled,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
      cpuMs: (cpu.user + cpu.system) / 1000,
      final,
    });
  }
}

let drain: Drain | undefined;
process.on('message', (message: ToWorker) => {
  if (message.type === 'start') {
    drain = new Drain(message.config);
    drain.connect().then(() => send({ type: 'ready' }), fail);
  } else if (message.type === 'go') {
    drain?.go();
  } else {
    drain?.stop().catch(fail);
    drain = undefined;
  }
});
process.on('disconnect', () => process.exit(0));
