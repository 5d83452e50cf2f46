/**
 * Scale-out: how consume throughput grows with 1, 2 and 4 worker processes (cluster-worker.ts, each a
 * Thrun transport's consume loop in a process of its own), on a cluster beside a single node of the same
 * broker, measured in the same run:
 *
 * - Redis: the Redis Cluster of scripts/brokers/redis-cluster.sh (3 masters, 3 replicas) beside the Redis
 *   of scripts/brokers/redis.sh, with 1 queue (every key in one slot, so one master does all the work) and
 *   with 6 queues whose names hash to slots of different masters, two per master.
 * - RabbitMQ: the 3-node cluster of scripts/brokers/cluster/rabbitmq-cluster.sh with quorum queues
 *   (replicated on the three nodes) beside the node of scripts/brokers/rabbitmq.sh, with 1 queue and with
 *   3 queues whose leaders are on different nodes (each declared through a connection to its node: the
 *   default leader locator is client-local); worker i connects to node i mod 3 first.
 *
 * Each drain pre-fills its queues with MESSAGES messages in all, starts the workers, waits until every
 * one is connected, lets them go and counts until all are handled: the figure is the rate from the first
 * delivery (in any worker) to the last. The ratio is to 1 worker on 1 queue of the single node.
 *
 * The brokers come from THRUN_REDIS_URL, THRUN_REDIS_CLUSTER_NODES, THRUN_AMQP_URL and
 * THRUN_AMQP_CLUSTER_URLS; a broker whose variable is unset is started through its script (on the
 * script's ports, from its own environment) and stopped at the end, one broker family at a time so an
 * idle cluster does not take CPU from the other's drains.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import type { Transport } from '@thrun/contract';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { redisTransport } from '@thrun/transport-redis';
import { connect } from 'amqplib';
import { Cluster, Redis } from 'ioredis';
import { type Broker, useBroker } from '../brokers.js';
import { type Comparison, format, type SuiteResult } from '../report.js';
import type { WorkerBroker, WorkerConfig, WorkerMessage } from './cluster-worker.js';

const MESSAGES = Number(process.env.THRUN_BENCH_CLUSTER_MESSAGES ?? 24_000);
const FAMILIES = (process.env.THRUN_BENCH_CLUSTER_BROKERS ?? 'redis,rabbitmq').split(',').filter(Boolean);
const WORKER_COUNTS = [1, 2, 4];
/** Handlers at once in each worker, shared among its queues (48 on 1 queue, 8 on each of 6). */
const WORKER_CONCURRENCY = 48;
const REDIS_SHARDED_QUEUES = 6;
const RABBITMQ_SHARDED_QUEUES = 3;
const PREFIX = 'thrun-bench-cluster:';
const DRAIN_TIMEOUT_MS = 120_000;
/** Below this gain from doubling the workers, throughput has stopped growing. */
const GROWTH = 1.1;
const workerScript = new URL('./cluster-worker.js', import.meta.url);

const body = new TextEncoder().encode(
  JSON.stringify({
    event: 'order_created',
    payload: { order_id: 123, customer: 'bench' },
    meta: {
      event_id: '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e',
      timestamp: '2026-01-01T00:00:00Z',
      source: 'bench',
    },
  }),
);

/** One broker deployment the workers drain: a single node or a cluster. */
interface Target {
  name: string;
  /** Single node or cluster: the baseline is the single node's. */
  single: boolean;
  broker: WorkerBroker;
  /** The queue layouts: 1 queue first, then queues spread over the nodes. */
  layouts: Layout[];
  /** Publishes `count` messages to `queue`, the `index`-th of its layout. */
  fill(queue: string, count: number, index: number): Promise<void>;
  /** Removes what a drain left of `queues`. */
  clean(queues: string[]): Promise<void>;
  close(): Promise<void>;
}

interface Layout {
  /** `1`, `6 (2 per master)`. */
  label: string;
  /** The queue names of one drain (fresh ones where the broker needs them). */
  queues(): string[];
}

interface Figure {
  target: string;
  single: boolean;
  layout: string;
  queues: number;
  workers: number;
  rate: number;
}

// ---- one drain ------------------------------------------------------------------------------------

async function drain(target: Target, layout: Layout, workers: number): Promise<{ rate: number; queues: number }> {
  const queues = layout.queues();
  const perQueue = Math.floor(MESSAGES / queues.length);
  const total = perQueue * queues.length;
  await target.clean(queues);
  for (const [index, queue] of queues.entries()) await target.fill(queue, perQueue, index);

  const children: ChildProcess[] = [];
  const progress = new Map<ChildProcess, Extract<WorkerMessage, { type: 'progress' }>>();
  try {
    let allReady: () => void = () => {};
    let allDone: () => void = () => {};
    let failed: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolve) => {
      allReady = resolve;
    });
    const done = new Promise<void>((resolve, reject) => {
      allDone = resolve;
      failed = reject;
    });
    let readyCount = 0;
    for (let i = 0; i < workers; i++) {
      const config: WorkerConfig = {
        broker: rotate(target.broker, i),
        keyPrefix: PREFIX,
        queues,
        concurrency: Math.max(1, Math.floor(WORKER_CONCURRENCY / queues.length)),
      };
      const child = fork(workerScript, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      child.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          if (++readyCount === workers) allReady();
          return;
        }
        progress.set(child, message);
        if (handledOf(progress) >= total) allDone();
      });
      child.on('exit', (code) => {
        if (code !== 0) failed(new Error(`a ${target.name} worker exited with ${code}`));
      });
    }
    const timeout = setTimeout(() => failed(new Error(`${target.name} drain not done in time`)), DRAIN_TIMEOUT_MS);
    await Promise.race([ready, done]);
    for (const child of children) child.send({ type: 'go' });
    await done;
    clearTimeout(timeout);
    // Each worker closes and sends its final figures.
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.send({ type: 'stop' });
          }),
      ),
    );
    const figures = [...progress.values()].filter((p) => p.handled > 0);
    const first = Math.min(...figures.map((p) => p.firstAt));
    const last = Math.max(...figures.map((p) => p.lastAt));
    return { rate: ((handledOf(progress) - 1) / (last - first)) * 1000, queues: queues.length };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await target.clean(queues);
  }
}

const handledOf = (progress: Map<unknown, { handled: number }>) =>
  [...progress.values()].reduce((sum, p) => sum + p.handled, 0);

/** Worker i connects to node i mod n first, so the workers of a cluster spread over its nodes. */
function rotate(broker: WorkerBroker, i: number): WorkerBroker {
  return broker.kind === 'rabbitmq' ? { kind: 'rabbitmq', urls: startingAt(broker.urls, i) } : broker;
}

const startingAt = (urls: string[], i: number) => {
  const n = i % urls.length;
  return [...urls.slice(n), ...urls.slice(0, n)];
};

// ---- Redis ----------------------------------------------------------------------------------------

async function redisTargets(single: Broker, cluster: Broker): Promise<Target[]> {
  const url = new URL(single.address);
  url.pathname = `/${process.env.THRUN_BENCH_REDIS_DB ?? '1'}`;
  const nodes = cluster.address.split(',').map((address) => {
    const [host = '127.0.0.1', port = '0'] = address.split(':');
    return { host, port: Number(port) };
  });
  const redis = new Redis(url.toString());
  const clusterClient = new Cluster(nodes);
  const sharded = await queuesOnEveryMaster(clusterClient, REDIS_SHARDED_QUEUES);
  const layouts: Layout[] = [
    { label: '1', queues: () => ['q'] },
    { label: `${sharded.length} (2 per master)`, queues: () => sharded },
  ];
  const target = (name: string, client: Redis | Cluster, broker: WorkerBroker): Target => {
    const producer = redisTransport({ client, keyPrefix: PREFIX });
    const masters = () => (client instanceof Cluster ? client.nodes('master') : [client]);
    return {
      name,
      single: !(client instanceof Cluster),
      broker,
      layouts,
      fill: (queue, count) => publishAll(producer, queue, count),
      clean: async () => {
        for (const node of masters()) await deleteKeys(node, `*${PREFIX}*`);
      },
      close: async () => {
        await producer.close();
        client.disconnect();
      },
    };
  };
  return [
    target(`Redis (${url.host})`, redis, { kind: 'redis', url: url.toString() }),
    target(`Redis Cluster (3 masters + 3 replicas)`, clusterClient, { kind: 'redis-cluster', nodes }),
  ];
}

/**
 * `count` queue names whose keys hash to slots of different masters, the same number on each. A queue's
 * own key hashes its whole name and every other key of the queue carries that name as its hash tag
 * (packages/transport-redis/src/keys.ts), so the queue key's slot is the slot of all of them: checked here.
 */
async function queuesOnEveryMaster(cluster: Cluster, count: number): Promise<string[]> {
  const ranges = (await cluster.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const masters = [...new Set(ranges.map(([, , [, port]]) => port))];
  const perMaster = count / masters.length;
  const chosen = new Map<number, string[]>(masters.map((port) => [port, []]));
  for (let i = 0; [...chosen.values()].some((names) => names.length < perMaster); i++) {
    const queue = `q${i}`;
    const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', `${PREFIX}${queue}`));
    const tagged = Number(await cluster.call('CLUSTER', 'KEYSLOT', `{${PREFIX}${queue}}:consumers`));
    if (tagged !== slot) throw new Error(`${queue}: its keys hash to slots ${slot} and ${tagged}`);
    const port = ranges.find(([first, last]) => slot >= first && slot <= last)?.[2][1];
    const names = port === undefined ? undefined : chosen.get(port);
    if (names && names.length < perMaster) names.push(queue);
  }
  return [...chosen.values()].flat();
}

async function deleteKeys(node: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    // One key per DEL: in a Cluster the keys of one node still span slots.
    for (const key of keys) await node.del(key);
  } while (cursor !== '0');
}

async function publishAll(producer: Transport, queue: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1_000) {
    await producer.publish(
      queue,
      Array.from({ length: Math.min(1_000, count - i) }, () => ({ body })),
    );
  }
}

// ---- RabbitMQ -------------------------------------------------------------------------------------

function rabbitmqTargets(single: Broker, cluster: Broker): Target[] {
  const clusterUrls = cluster.address.split(',');
  const target = (name: string, urls: string[]): Target => {
    // One producer per node: a quorum queue's leader is placed on the node of the connection declaring it.
    const producers = urls.map((_, n) => rabbitmqTransport({ urls: startingAt(urls, n) }));
    const spread = urls.length > 1 ? `${RABBITMQ_SHARDED_QUEUES} (a leader per node)` : `${RABBITMQ_SHARDED_QUEUES}`;
    const fresh = (count: number) => () =>
      Array.from({ length: count }, (_, i) => `bench-cluster-${randomBytes(3).toString('hex')}-${i}`);
    return {
      name,
      single: urls.length === 1,
      broker: { kind: 'rabbitmq', urls },
      layouts: [
        { label: '1', queues: fresh(1) },
        { label: spread, queues: fresh(RABBITMQ_SHARDED_QUEUES) },
      ],
      fill: (queue, count, index) => publishAll(producers[index % producers.length]!, queue, count),
      clean: async (queues) => {
        const connection = await connect(urls[0]!);
        const channel = await connection.createChannel();
        for (const queue of queues) {
          await channel.deleteQueue(queue).catch(() => {});
          await channel.deleteExchange(`thrun.${queue}`).catch(() => {});
        }
        await connection.close();
      },
      close: async () => {
        for (const producer of producers) await producer.close();
      },
    };
  };
  return [
    target(`RabbitMQ (${new URL(single.address).host}), quorum queues`, [single.address]),
    target('RabbitMQ cluster (3 nodes), quorum queues', clusterUrls),
  ];
}

// ---- the suite ------------------------------------------------------------------------------------

interface Family {
  name: string;
  /** The brokers, started when not given. */
  brokers: () => Promise<Broker[]>;
  targets: (brokers: Broker[]) => Promise<Target[]>;
}

const families: Record<string, Family> = {
  redis: {
    name: 'Redis',
    brokers: async () => [
      await useBroker('redis.sh', 'THRUN_REDIS_URL'),
      await useBroker('redis-cluster.sh', 'THRUN_REDIS_CLUSTER_NODES'),
    ],
    targets: ([single, cluster]) => redisTargets(single!, cluster!),
  },
  rabbitmq: {
    name: 'RabbitMQ',
    brokers: async () => [
      await useBroker('rabbitmq.sh', 'THRUN_AMQP_URL'),
      await useBroker('cluster/rabbitmq-cluster.sh', 'THRUN_AMQP_CLUSTER_URLS'),
    ],
    targets: async ([single, cluster]) => rabbitmqTargets(single!, cluster!),
  },
};

export async function clusterSuite(): Promise<SuiteResult> {
  const figures: Figure[] = [];
  const loads: number[] = [];
  const startedAt = Date.now();
  for (const familyName of FAMILIES) {
    const family = families[familyName];
    if (!family) throw new Error(`THRUN_BENCH_CLUSTER_BROKERS: unknown ${familyName}; known: redis, rabbitmq`);
    const brokers: Broker[] = [];
    let targets: Target[] = [];
    try {
      brokers.push(...(await family.brokers()));
      targets = await family.targets(brokers);
      // The single node and the cluster back to back for each configuration, so drift hits both alike.
      for (const [layoutIndex] of targets[0]!.layouts.entries()) {
        for (const workers of WORKER_COUNTS) {
          for (const target of targets) {
            const layout = target.layouts[layoutIndex]!;
            loads.push(loadavg()[0]!);
            const { rate, queues } = await drain(target, layout, workers);
            console.error(`[bench cluster] ${target.name}, ${layout.label} queue(s), ${workers} worker(s): ${format(rate)} msg/s`);
            figures.push({
              target: target.name,
              single: target.single,
              layout: layout.label,
              queues,
              workers,
              rate,
            });
          }
        }
      }
    } finally {
      for (const target of targets) await target.close();
      for (const broker of brokers.reverse()) await broker.stop();
    }
  }

  const baselineOf = (figure: Figure) =>
    figures.find((f) => f.single && f.workers === 1 && f.layout === '1' && sameFamily(f, figure));
  const sameFamily = (a: Figure, b: Figure) => a.target.split(' ')[0] === b.target.split(' ')[0];
  const ordered = [...figures].sort(
    (a, b) =>
      FAMILIES.indexOf(familyOf(a)) - FAMILIES.indexOf(familyOf(b)) ||
      Number(b.single) - Number(a.single) ||
      a.layout.localeCompare(b.layout) ||
      a.workers - b.workers,
  );
  const comparisons: Comparison[] = ordered.map((f) => ({
    case: `${f.target}, ${f.layout} queue(s), ${f.workers} worker(s)`,
    unit: 'msg/s',
    thrun: f.rate,
    peer: baselineOf(f)?.rate ?? Number.NaN,
    peerName: '1 worker, 1 queue, single node',
    better: 'higher',
  }));
  const cores = availableParallelism();
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  return {
    suite: 'cluster',
    workload:
      `consume throughput of 1, 2 and 4 worker processes (the Thrun transport's consume loop, ${WORKER_CONCURRENCY} handlers ` +
      `per worker shared among its queues, a handler that only acks) draining ${MESSAGES} pre-filled ${body.byteLength}-byte ` +
      `messages, rate from the first delivery to the last; Redis in Lists mode; RabbitMQ with quorum queues and ` +
      `publisher confirms. Ratio to 1 worker on 1 queue of the single node of the same run. ${cores} cores, load ` +
      `average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} during the drains; ${seconds} s in all.`,
    comparisons,
    table: {
      header: ['broker', 'queues', 'workers', 'msg/s', '× 1 worker, single node'],
      rows: ordered.map((f, i) => [
        f.target,
        f.layout,
        String(f.workers),
        format(f.rate),
        `${ratioText(comparisons[i]!)}`,
      ]),
    },
    conclusion: conclusion(figures, cores),
  };
}

const familyOf = (f: Figure) => (f.target.startsWith('Redis') ? 'redis' : 'rabbitmq');
const ratioText = (c: Comparison) => `${(c.thrun / c.peer).toFixed(2)}×`;

/**
 * Where each series (one broker, one queue layout) stops growing: the first worker count whose doubling
 * gains less than GROWTH, and why, given the host's cores.
 */
function conclusion(figures: Figure[], cores: number): string {
  const series = new Map<string, Figure[]>();
  for (const f of figures) {
    const key = `${f.target}, ${f.layout} queue(s)`;
    series.set(key, [...(series.get(key) ?? []), f]);
  }
  const parts = [...series].map(([name, points]) => {
    points.sort((a, b) => a.workers - b.workers);
    const stop = points.find((p, i) => {
      const next = points[i + 1];
      return next === undefined || next.rate < p.rate * GROWTH;
    });
    const one = points[0]!.rate;
    const steps = points.map((p) => `${p.workers}: ${(p.rate / one).toFixed(2)}×`).join(', ');
    return stop === points[points.length - 1]
      ? `${name} still grows at ${stop?.workers} workers (${steps})`
      : `${name} stops growing at ${stop?.workers} worker(s) (${steps})`;
  });
  return (
    `Where it stops growing (throughput against the same series' 1 worker): ${parts.join('; ')}. ` +
    `Why: this is one host with ${cores} cores, and the workers, the producer and every broker process share ` +
    `them: the Redis Cluster's 6 redis-server processes (the replicas replay every write of their masters) ` +
    `and the RabbitMQ cluster's 3 Erlang VMs compete with the workers for the same ${cores} cores, so past ` +
    `${cores} busy processes another worker or another master adds contention, not capacity; on separate ` +
    `machines each master (or queue leader) would bring its own core.`
  );
}
