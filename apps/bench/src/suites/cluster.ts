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
import { cpuSecondsOf, listeningPids } from '../process-cpu.js';
import { type Comparison, format, type SuiteResult, type Table } from '../report.js';
import type { FromWorker, ToWorker, WorkerBroker, WorkerConfig } from './cluster-worker.js';

const MESSAGES = Number(process.env.THRUN_BENCH_CLUSTER_MESSAGES ?? 12_000);
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
  /** CPU seconds the broker's processes have used so far, where known (Redis: INFO cpu; RabbitMQ on this host: /proc). */
  cpuSeconds?(): Promise<number>;
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
  /** The broker family's name: `Redis`, `RabbitMQ`. */
  family: string;
  single: boolean;
  /** Index of the layout in the family's layouts, and its label. */
  layoutIndex: number;
  layout: string;
  workers: number;
  rate: number;
  /** Cores kept busy during the drain: by the workers, and by the broker's processes where known. */
  workerCores: number;
  brokerCores: number | undefined;
}

// ---- one drain ------------------------------------------------------------------------------------

type Progress = Extract<FromWorker, { type: 'progress' }>;

/**
 * The worker processes, started once and reused by every drain: starting Node and loading the transports
 * takes seconds on a loaded host. A worker that exits fails the drain under way.
 */
class WorkerPool {
  private readonly children: ChildProcess[];
  private onMessage: (worker: number, message: FromWorker) => void = () => {};
  private onFailure: (error: Error) => void = () => {};
  private closing = false;

  constructor(size: number) {
    this.children = Array.from({ length: size }, (_, worker) => {
      const child = fork(workerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (message: FromWorker) => this.onMessage(worker, message));
      // A send to a worker that died: its exit fails the drain.
      child.on('error', () => {});
      child.on('exit', (code) => {
        if (!this.closing) this.onFailure(new Error(`bench worker ${worker} exited with ${code}`));
      });
      return child;
    });
  }

  /** Runs one drain on the first `configs.length` workers; resolves with each worker's final progress. */
  async drain(
    configs: WorkerConfig[],
    total: number,
  ): Promise<{ progress: Progress[]; startMs: number; goAt: number; stopAt: number }> {
    const workers = this.children.slice(0, configs.length);
    if (workers.some((child) => child.exitCode !== null || child.signalCode !== null)) {
      throw new Error('a bench worker exited between drains');
    }
    const progress = new Map<number, Progress>();
    const handled = () => [...progress.values()].reduce((sum, p) => sum + p.handled, 0);
    const ready = deferred();
    const done = deferred();
    const stopped = deferred();
    let readyCount = 0;
    let finals = 0;
    this.onFailure = (error) => {
      for (const phase of [ready, done, stopped]) phase.reject(error);
    };
    this.onMessage = (worker, message) => {
      if (message.type === 'ready') {
        if (++readyCount === workers.length) ready.resolve();
        return;
      }
      progress.set(worker, message);
      if (handled() >= total) done.resolve();
      if (message.final && ++finals === workers.length) stopped.resolve();
    };
    const starting = performance.now();
    for (const [i, child] of workers.entries()) {
      child.send({ type: 'start', config: configs[i]! } satisfies ToWorker);
    }
    await within(ready.promise, 60_000, 'workers connected');
    const goAt = performance.now();
    const startMs = goAt - starting;
    for (const child of workers) child.send({ type: 'go' } satisfies ToWorker);
    await within(done.promise, DRAIN_TIMEOUT_MS, `${total} messages handled`);
    for (const child of workers) child.send({ type: 'stop' } satisfies ToWorker);
    await within(stopped.promise, 30_000, 'workers closed');
    return { progress: [...progress.values()], startMs, goAt, stopAt: performance.now() };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

function deferred() {
  let resolve: () => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

async function within(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench cluster: not ${what} within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Drain {
  rate: number;
  workerCores: number;
  brokerCores: number | undefined;
  /** Wall times of the steps, for the progress line. */
  fillMs: number;
  startMs: number;
  drainMs: number;
}

async function drain(pool: WorkerPool, target: Target, layout: Layout, workers: number): Promise<Drain> {
  const queues = layout.queues();
  const perQueue = Math.floor(MESSAGES / queues.length);
  const total = perQueue * queues.length;
  const filling = performance.now();
  await target.clean(queues);
  await Promise.all(queues.map((queue, index) => target.fill(queue, perQueue, index)));
  const fillMs = performance.now() - filling;
  try {
    const configs = Array.from(
      { length: workers },
      (_, i): WorkerConfig => ({
        broker: rotate(target.broker, i),
        keyPrefix: PREFIX,
        queues,
        concurrency: Math.max(1, Math.floor(WORKER_CONCURRENCY / queues.length)),
      }),
    );
    const brokerCpuBefore = await target.cpuSeconds?.();
    const { progress, startMs, goAt, stopAt } = await pool.drain(configs, total);
    const brokerCpuAfter = await target.cpuSeconds?.();
    const wallSeconds = (stopAt - goAt) / 1000;
    const active = progress.filter((p) => p.handled > 0);
    const first = Math.min(...active.map((p) => p.firstAt));
    const last = Math.max(...active.map((p) => p.lastAt));
    const handled = active.reduce((sum, p) => sum + p.handled, 0);
    return {
      rate: ((handled - 1) / (last - first)) * 1000,
      workerCores: progress.reduce((sum, p) => sum + p.cpuMs, 0) / 1000 / wallSeconds,
      brokerCores:
        brokerCpuBefore === undefined || brokerCpuAfter === undefined
          ? undefined
          : (brokerCpuAfter - brokerCpuBefore) / wallSeconds,
      fillMs,
      startMs,
      drainMs: last - first,
    };
  } finally {
    await target.clean(queues);
  }
}

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
  clusterClient.on('error', () => {});
  const sharded = await queuesOnEveryMaster(clusterClient, REDIS_SHARDED_QUEUES);
  const layouts: Layout[] = [
    { label: '1', queues: () => ['q'] },
    { label: `${sharded.length} (2 per cluster master)`, queues: () => sharded },
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
      // Every server, replicas included: they replay their masters' writes.
      cpuSeconds: async () => {
        const servers = client instanceof Cluster ? client.nodes('all') : [client];
        let total = 0;
        for (const server of servers) {
          const info = await server.info('cpu');
          total +=
            Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) +
            Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
        }
        return total;
      },
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
    target(`Redis at ${url.host}`, redis, { kind: 'redis', url: url.toString() }),
    target(`a Redis Cluster of 3 masters and 3 replicas (${cluster.address})`, clusterClient, {
      kind: 'redis-cluster',
      nodes,
    }),
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
    const spread = `${RABBITMQ_SHARDED_QUEUES} (a leader per cluster node)`;
    const fresh = (count: number) => () =>
      Array.from({ length: count }, (_, i) => `bench-cluster-${randomBytes(3).toString('hex')}-${i}`);
    // RabbitMQ does not report its CPU: read the nodes' Erlang VMs from /proc where they run on this host.
    const nodes = listeningPids(urls.map((url) => Number(new URL(url).port || 5672)));
    return {
      name,
      single: urls.length === 1,
      broker: { kind: 'rabbitmq', urls },
      layouts: [
        { label: '1', queues: fresh(1) },
        { label: spread, queues: fresh(RABBITMQ_SHARDED_QUEUES) },
      ],
      fill: (queue, count, index) => publishAll(producers[index % producers.length]!, queue, count),
      ...(nodes ? { cpuSeconds: async () => cpuSecondsOf(nodes) } : {}),
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
    target(`RabbitMQ at ${new URL(single.address).host}`, [single.address]),
    target(
      `a 3-node RabbitMQ cluster (${clusterUrls.map((u) => new URL(u).host).join(',')}), quorum queues on all`,
      clusterUrls,
    ),
  ];
}

// ---- the suite ------------------------------------------------------------------------------------

interface Family {
  name: string;
  /** The brokers, started when not given. */
  brokers: () => Promise<Broker[]>;
  /** The single node first, then the cluster. */
  targets: (brokers: Broker[]) => Promise<Target[]>;
  /** Why it stops growing, for this family. */
  why: string;
}

const families: Record<string, Family> = {
  redis: {
    name: 'Redis',
    brokers: async () => [
      await useBroker('redis.sh', 'THRUN_REDIS_URL'),
      await useBroker('redis-cluster.sh', 'THRUN_REDIS_CLUSTER_NODES'),
    ],
    targets: ([single, cluster]) => redisTargets(single!, cluster!),
    why:
      "the cluster's 6 redis-server processes (3 masters, and 3 replicas replaying every write) compete with " +
      'the workers for the same cores',
  },
  rabbitmq: {
    name: 'RabbitMQ',
    brokers: async () => [
      await useBroker('rabbitmq.sh', 'THRUN_AMQP_URL'),
      await useBroker('cluster/rabbitmq-cluster.sh', 'THRUN_AMQP_CLUSTER_URLS'),
    ],
    targets: async ([single, cluster]) => rabbitmqTargets(single!, cluster!),
    why:
      "the cluster's 3 Erlang VMs (every quorum queue replicated on all three, each VM's schedulers on " +
      'every core) compete with the workers for the same cores',
  },
};

export async function clusterSuite(): Promise<SuiteResult> {
  const figures: Figure[] = [];
  const deployments: string[] = [];
  const loads: number[] = [];
  const startedAt = Date.now();
  const pool = new WorkerPool(Math.max(...WORKER_COUNTS));
  try {
    for (const familyKey of FAMILIES) {
      const family = families[familyKey];
      if (!family) {
        throw new Error(
          `THRUN_BENCH_CLUSTER_BROKERS: unknown ${familyKey}; known: ${Object.keys(families).join(', ')}`,
        );
      }
      const brokers: Broker[] = [];
      let targets: Target[] = [];
      try {
        brokers.push(...(await family.brokers()));
        targets = await family.targets(brokers);
        deployments.push(targets.map((t) => t.name).join(' beside '));
        // The single node and the cluster back to back for each configuration, so drift hits both alike.
        for (const [layoutIndex] of targets[0]!.layouts.entries()) {
          for (const workers of WORKER_COUNTS) {
            for (const target of targets) {
              const layout = target.layouts[layoutIndex]!;
              loads.push(loadavg()[0]!);
              const { rate, workerCores, brokerCores, fillMs, startMs, drainMs } = await drain(
                pool,
                target,
                layout,
                workers,
              );
              console.error(
                `[bench cluster] ${target.name}, ${layout.label} queue(s), ${workers} worker(s): ${format(rate)} msg/s ` +
                  `(fill ${ms(fillMs)}, workers connected ${ms(startMs)}, drain ${ms(drainMs)})`,
              );
              figures.push({
                family: family.name,
                single: target.single,
                layoutIndex,
                layout: layout.label,
                workers,
                rate,
                workerCores,
                brokerCores,
              });
            }
          }
        }
      } finally {
        for (const target of targets) await target.close();
        for (const broker of brokers.reverse()) await broker.stop();
      }
    }
  } finally {
    await pool.close();
  }

  const find = (family: string, single: boolean, layoutIndex: number, workers: number) =>
    figures.find(
      (f) =>
        f.family === family && f.single === single && f.layoutIndex === layoutIndex && f.workers === workers,
    );
  const baselineOf = (f: Figure) => find(f.family, true, 0, 1)?.rate ?? Number.NaN;
  const comparisons: Comparison[] = figures.map((f) => ({
    case: `${f.family} ${f.single ? 'single node' : 'cluster'}, ${f.layout} queue(s), ${f.workers} worker(s)`,
    unit: 'msg/s',
    thrun: f.rate,
    peer: baselineOf(f),
    peerName: `${f.family} single node, 1 queue, 1 worker`,
    better: 'higher',
  }));
  const cores = availableParallelism();
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  return {
    suite: 'cluster',
    workload:
      `consume throughput of 1, 2 and 4 worker processes (each the Thrun transport's consume loop, ${WORKER_CONCURRENCY} ` +
      `handlers per worker shared among its queues, a handler that only acks) draining ${MESSAGES} pre-filled ` +
      `${body.byteLength}-byte messages; rate from the first delivery to the last; × is the ratio to 1 worker on ` +
      `1 queue of the single node, same run; cores = CPU seconds per second of the drain, the workers' + the broker's ` +
      `(Redis INFO cpu of every server, replicas included; RabbitMQ's Erlang VMs from /proc; ? where not known). ${deployments.join('; ')}. Redis in Lists mode; RabbitMQ with quorum ` +
      `queues and publisher confirms. ${cores} cores, load average ${Math.min(...loads).toFixed(1)}–` +
      `${Math.max(...loads).toFixed(1)} during the drains; ${seconds} s in all.`,
    comparisons,
    tables: tablesOf(figures, baselineOf),
    conclusion: conclusion(figures, cores, [Math.min(...loads), Math.max(...loads)]),
  };
}

/**
 * Per broker family, x the worker processes: msg/s with its × against the family's 1 worker on 1 queue
 * of the single node, and the cores the drain kept busy; one series per deployment and queue layout.
 */
function tablesOf(figures: Figure[], baselineOf: (f: Figure) => number): Table[] {
  const x = { label: 'worker processes', values: WORKER_COUNTS, names: WORKER_COUNTS.map(String) };
  return [...new Set(figures.map((f) => f.family))].flatMap((family) => {
    const ofFamily = figures.filter((f) => f.family === family);
    const seriesNames = [...new Set(ofFamily.map(seriesOf))];
    const series = (figure: (f: Figure) => number) =>
      seriesNames.map((name) => ({
        name,
        values: WORKER_COUNTS.map((workers) => {
          const f = ofFamily.find((g) => seriesOf(g) === name && g.workers === workers);
          return f === undefined ? null : figure(f);
        }),
      }));
    const baseline = baselineOf(ofFamily[0]!);
    const id = family.toLowerCase();
    return [
      {
        id: `cluster-${id}-throughput`,
        title: `${family}: consume rate against worker processes`,
        x,
        unit: 'msg/s',
        series: series((f) => f.rate),
        notes: [
          ...series((f) => f.rate / baseline).map(
            (s) =>
              `${s.name}: ${s.values.map((v) => (v === null ? '–' : `${v.toFixed(2)}×`)).join(' → ')} ` +
              `against 1 worker on 1 queue of the single node (${format(baseline)} msg/s)`,
          ),
          `Queues: ${[...new Set(ofFamily.map((f) => f.layout))].join('; ')}.`,
        ],
      },
      {
        id: `cluster-${id}-cores`,
        title: `${family}: cores kept busy during the drain (workers + broker)`,
        x,
        unit: 'cores',
        series: series((f) => f.workerCores + (f.brokerCores ?? 0)),
        notes: ofFamily.some((f) => f.brokerCores === undefined)
          ? [
              "The broker's share is missing where it is not known (a RabbitMQ node on another host): those figures are the workers' alone.",
            ]
          : [],
      },
    ];
  });
}

/** Short enough for a chart's legend: the layout's queue count (its label leads with it); the notes say how they are spread. */
const seriesOf = (f: Figure) =>
  `${f.single ? 'single node' : 'cluster'}, ${Number.parseInt(f.layout, 10)} queue(s)`;

const ms = (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`;

/**
 * Where each series (one broker, one queue layout, single node or cluster) stops growing: the first worker
 * count whose doubling gains less than GROWTH; and why, given the host's cores.
 */
function conclusion(figures: Figure[], cores: number, loads: [number, number]): string {
  const series = new Map<string, Figure[]>();
  for (const f of figures) {
    const key = `${f.family} ${f.single ? 'single node' : 'cluster'}, ${f.layout} queue(s)`;
    series.set(key, [...(series.get(key) ?? []), f]);
  }
  const parts = [...series].map(([name, points]) => {
    points.sort((a, b) => a.workers - b.workers);
    const one = points[0]!.rate;
    const steps = points.map((p) => `${(p.rate / one).toFixed(2)}×`).join(' → ');
    const stop = points.findIndex((p, i) => {
      const next = points[i + 1];
      return next === undefined || next.rate < p.rate * GROWTH;
    });
    const at = points[stop]!.workers;
    const where =
      stop === points.length - 1
        ? `still grows at ${at} workers`
        : stop === 0
          ? 'does not grow past 1 worker'
          : `stops growing at ${at} workers`;
    return `${name} ${where} (${steps})`;
  });
  const whys = FAMILIES.map((key) => families[key]).filter(
    (f): f is Family => f !== undefined && figures.some((g) => g.family === f.name),
  );
  const busiest = Math.max(...figures.map((f) => f.workerCores + (f.brokerCores ?? 0)));
  return (
    `Where it stops growing (1 → 2 → 4 workers, against the series' 1 worker): ${parts.join('; ')}.\n` +
    `Why: one host with ${cores} cores runs the workers, the producer and every broker process, and at most ` +
    `${busiest.toFixed(1)} of them went to this run (the workers' CPU and the brokers' where known; load average ` +
    `${loads[0]?.toFixed(0)}–${loads[1]?.toFixed(0)} from other work): once the cores are taken another worker or ` +
    `another master adds contention, not capacity: ${whys.map((f) => `on ${f.name}, ${f.why}`).join('; ')}. ` +
    'On separate machines each master or queue leader would bring cores of its own.'
  );
}
