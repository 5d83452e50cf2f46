/**
 * How the cost grows with the work: queue depth, payload size, number of queues and number of worker
 * processes, each case beside the peer a user would pick instead (BullMQ, or the transport's raw
 * client), on the brokers of the other suites. Every series runs its cases in growing order and skips
 * those that its share of the time budget (THRUN_BENCH_SCALING_SECONDS, default 480, which keeps the whole
 * suite under 10 minutes) cannot hold,
 * judged by extrapolating the previous case linearly; a skipped case is a dash in its table.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import type { Transport } from '@thrun/contract';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { connect } from 'amqplib';
import { FlowProducer, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { compact } from '../chart.js';
import { describeGrowth, type SuiteResult, type Table } from '../report.js';
import { WORKERS_QUEUE } from '../scaling-worker-queue.js';
import * as kafka from './kafka.js';
import * as rabbit from './rabbitmq.js';
import * as redis from './redis.js';

const BUDGET_S = Number(process.env.THRUN_BENCH_SCALING_SECONDS ?? 480);
/**
 * Share of the budget per series, in the order they run (the shares sum to 1). BullMQ's are the larger:
 * its cases cost the most (a hash per job, a Worker per queue) and are what the comparison is about.
 * Payload runs last and takes what is left.
 */
const WEIGHT = {
  depthThrun: 0.08,
  depthBull: 0.14,
  workersThrun: 0.12,
  workersBull: 0.16,
  queuesThrun: 0.1,
  queuesBull: 0.18,
  queuesRabbit: 0.12,
  payload: 0.1 / 6,
};

const DEPTHS = [1_000, 10_000, 100_000, 1_000_000];
/**
 * Jobs consumed at each depth, or as many as DEPTH_WINDOW_MS allows: the rate of a consumer that has
 * the whole backlog in front of it, without draining it.
 */
const DEPTH_SAMPLE = 20_000;
const DEPTH_WINDOW_MS = 5_000;
const DEPTH_CONCURRENCY = 50;
/** Filling a Thrun list entry through the Lua loop (and deleting it) costs about a twentieth of consuming one. */
const depthWork = (depth: number) => depth / 20 + Math.min(depth, DEPTH_SAMPLE);
/** A BullMQ job's hash costs about as much to write and delete as a job to consume. */
const bullDepthWork = (depth: number) => depth + Math.min(depth, DEPTH_SAMPLE);
const SIZES = [100, 10_000, 1_000_000];
const PAYLOAD_CONCURRENCY = 10;
const QUEUE_COUNTS = [1, 10, 100, 1_000];
/** Messages spread evenly over the queues of the many-queues case. */
const QUEUE_MESSAGES = 2_000;
const WORKER_COUNTS = [1, 2, 4];
/** Jobs waiting for the worker processes: more than they handle in the window, so it never runs dry. */
const WORKER_JOBS = 40_000;
const WORKER_WINDOW_MS = 4_000;
const WORKER_CONCURRENCY = 50;

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bullConnection = { ...redis.connection, maxRetriesPerRequest: null };
const bullPrefix = `${redis.PREFIX}bull`;

/**
 * The suite's time: each series takes its weight's share of what is left, so the time a series did
 * not use goes to the ones after it.
 */
const budget = {
  deadline: 0,
  weightLeft: 0,
  start(): void {
    this.deadline = now() + BUDGET_S * 1000;
    this.weightLeft = 1;
  },
  take(weight: number): number {
    const seconds = (Math.max(0, this.deadline - now()) / 1000) * Math.min(1, weight / this.weightLeft);
    this.weightLeft -= weight;
    return seconds;
  },
};

interface Measured<T> {
  values: Array<T | null>;
  skipped: string[];
}

/**
 * Runs `run` for each x in order, skipping the cases that would pass this series' deadline: a case is
 * expected to take the previous one's time scaled by `work`, a rough model of what it costs. The first
 * case always runs, so every series has a figure even when the ones before it overran.
 */
async function ascending<T>(
  label: string,
  xs: number[],
  weight: number,
  work: (x: number) => number,
  run: (x: number) => Promise<T>,
): Promise<Measured<T>> {
  const seconds = budget.take(weight);
  const deadline = now() + seconds * 1000;
  const values: Array<T | null> = [];
  const skipped: string[] = [];
  let last: { x: number; ms: number } | undefined;
  for (const x of xs) {
    const estimate = last ? (last.ms * work(x)) / work(last.x) : 0;
    if (last && now() + estimate > deadline) {
      values.push(null);
      skipped.push(
        `${label} at ${compact(x)} (about ${Math.round(estimate / 1000)} s more, past the ${Math.round(seconds)} s of the series)`,
      );
      continue;
    }
    const started = now();
    try {
      values.push(await run(x));
    } catch (error) {
      // A case that fails (a broker too slow to answer on a loaded machine) ends its series, not the suite.
      values.push(...xs.slice(values.length).map(() => null));
      skipped.push(
        `${label} at ${compact(x)} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      break;
    }
    last = { x, ms: now() - started };
    console.error(`scaling: ${label} at ${compact(x)} took ${(last.ms / 1000).toFixed(1)} s`);
  }
  return { values, skipped };
}

interface Counted {
  count: number;
  firstAt: number;
  lastAt: number;
}

/**
 * Counts deliveries up to `total`, or for `windowMs` after the first one, whichever comes first (a
 * fixed sample of a deep queue, so a slow consumer does not take the suite's time); resolves with the
 * count and the times of the first and the last.
 */
function countTo(total: number, windowMs = Number.POSITIVE_INFINITY) {
  let count = 0;
  let firstAt = 0;
  let lastAt = 0;
  let done: (counted: Counted) => void = () => {};
  const finished = new Promise<Counted>((resolve) => {
    done = resolve;
  });
  let window: NodeJS.Timeout | undefined;
  const finish = () => {
    clearTimeout(window);
    done({ count, firstAt, lastAt });
  };
  return {
    seen() {
      lastAt = now();
      if (count === 0) {
        firstAt = lastAt;
        if (Number.isFinite(windowMs)) window = setTimeout(finish, windowMs);
      }
      if (++count === total) finish();
    },
    finished,
  };
}

function perSecond({ count, firstAt, lastAt }: Counted): number {
  return count <= 1 || lastAt === firstAt ? Number.NaN : ((count - 1) / (lastAt - firstAt)) * 1000;
}

function pick<T>(measured: Measured<T>, figure: (value: T) => number): Array<number | null> {
  return measured.values.map((value) => (value === null ? null : figure(value)));
}

/** One figure of the Thrun (Redis Lists) and the BullMQ series, as the two lines of a table. */
function besideBull<T>(thrun: Measured<T>, bull: Measured<T>, figure: (value: T) => number) {
  return [
    { name: 'Thrun, Redis Lists', values: pick(thrun, figure) },
    { name: 'BullMQ', values: pick(bull, figure) },
  ];
}

function skippedNote(...measured: Array<Measured<unknown>>): string[] {
  const skipped = measured.flatMap((m) => m.skipped);
  return skipped.length === 0 ? [] : [`Not measured: ${skipped.join('; ')}.`];
}

/** A table with its growth sentence first under it: `cost` turns a figure into what grows (time, bytes…). */
function table(spec: Table, quantity: string, cost: (x: number, figure: number) => number): Table {
  return { ...spec, notes: [describeGrowth(spec, quantity, cost), ...spec.notes] };
}

// ---- queue depth ---------------------------------------------------------------------------------

interface DepthFigures {
  rate: number;
  memoryMb: number;
}

/** Values pushed per LPUSH, and jobs written per script call (so no call holds Redis for long). */
const LPUSH_VALUES = 1_000;
const FILL_CHUNK = 50_000;

/**
 * Thrun's Lists mode keeps the plain envelope bytes in the queue's list, so a Lua loop writes exactly
 * what `publish` would: `redis.envelope(i)` for i from ARGV[3] to ARGV[4], cut around the order id.
 */
const FILL_LIST = `
local batch = {}
for i = tonumber(ARGV[3]), tonumber(ARGV[4]) do
  batch[#batch + 1] = ARGV[1] .. i .. ARGV[2]
  if #batch == ${LPUSH_VALUES} then redis.call('LPUSH', KEYS[1], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('LPUSH', KEYS[1], unpack(batch)) end
return 0`;

/**
 * Copies of a job BullMQ wrote (KEYS[1], its hash) under the ids ARGV[1] to ARGV[2], each queued on
 * the wait list (KEYS[2]) as BullMQ's own addJob does (LPUSH, FIFO); the id counter (KEYS[3]) is moved
 * past them so later adds do not collide.
 */
const COPY_BULL_JOB = `
local job = redis.call('HGETALL', KEYS[1])
local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[3])
local ids = {}
for id = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  redis.call('HSET', prefix .. id, unpack(job))
  ids[#ids + 1] = id
  if #ids == ${LPUSH_VALUES} then redis.call('LPUSH', KEYS[2], unpack(ids)); ids = {} end
end
if #ids > 0 then redis.call('LPUSH', KEYS[2], unpack(ids)) end
redis.call('SET', KEYS[3], ARGV[2])
return 0`;

/** Writes `depth` envelopes to a Thrun Lists queue, in script calls of FILL_CHUNK jobs. */
async function fillThrunQueue(admin: Redis, queue: string, depth: number): Promise<void> {
  const text = redis.envelope(0).toString();
  const at = text.indexOf('"order_id":0') + '"order_id":'.length;
  for (let from = 0; from < depth; from += FILL_CHUNK) {
    const to = Math.min(depth, from + FILL_CHUNK) - 1;
    await admin.eval(
      FILL_LIST,
      1,
      `${redis.PREFIX}${queue}`,
      text.slice(0, at),
      text.slice(at + 1),
      from,
      to,
    );
  }
}

/** BullMQ's own jobs added through addBulk before the Lua copies of the first one. */
const BULL_ADDED = 1_000;

/**
 * Queues `depth` BullMQ jobs: the first BULL_ADDED through `addBulk` (which also writes the queue's
 * meta, marker and events), the rest as copies of job 1 written by a Lua loop: the same hash and the
 * same wait-list entry BullMQ writes, in seconds rather than the minutes a million addJob calls take.
 */
async function fillBullQueue(admin: Redis, name: string, depth: number): Promise<void> {
  const queue = redis.bullQueue(name);
  await queue.addBulk(
    Array.from({ length: Math.min(depth, BULL_ADDED) }, (_, i) => ({
      name: 'order_created',
      data: redis.payload(i),
      opts: { removeOnComplete: true, removeOnFail: true },
    })),
  );
  await queue.close();
  const key = `${bullPrefix}:${name}`;
  for (let from = BULL_ADDED + 1; from <= depth; from += FILL_CHUNK) {
    const to = Math.min(depth, from + FILL_CHUNK - 1);
    await admin.eval(COPY_BULL_JOB, 3, `${key}:1`, `${key}:wait`, `${key}:id`, from, to, '1');
  }
}

/**
 * Fills the queue `depth` to `depth` jobs, then takes Redis's memory growth and the rate of a sample
 * consumed by what `consume` starts (it returns how to stop).
 */
async function atDepth(
  admin: Redis,
  depth: number,
  fill: (admin: Redis, queue: string, depth: number) => Promise<void>,
  consume: (seen: () => void) => Promise<() => Promise<void>>,
): Promise<DepthFigures> {
  await redis.clean(admin);
  const before = await redis.usedMemory(admin);
  await fill(admin, 'depth', depth);
  const memoryMb = ((await redis.usedMemory(admin)) - before) / 1e6;
  const count = countTo(Math.min(depth, DEPTH_SAMPLE), DEPTH_WINDOW_MS);
  const stop = await consume(() => count.seen());
  const rate = perSecond(await count.finished);
  await stop();
  await redis.clean(admin);
  return { rate, memoryMb };
}

const thrunAtDepth = (admin: Redis, depth: number) =>
  atDepth(admin, depth, fillThrunQueue, async (seen) => {
    const transport = redis.thrun();
    await transport.consume(
      'depth',
      async (delivery) => {
        await delivery.ack();
        seen();
      },
      { concurrency: DEPTH_CONCURRENCY },
    );
    return () => transport.close({ drainTimeoutMs: 1000 });
  });

const bullAtDepth = (admin: Redis, depth: number) =>
  atDepth(admin, depth, fillBullQueue, async (seen) => {
    const worker = new Worker('depth', async () => seen(), {
      connection: bullConnection,
      prefix: bullPrefix,
      concurrency: DEPTH_CONCURRENCY,
    });
    return () => worker.close();
  });

async function depthTables(admin: Redis): Promise<Table[]> {
  const thrun = await ascending('Thrun', DEPTHS, WEIGHT.depthThrun, depthWork, (d) => thrunAtDepth(admin, d));
  const bull = await ascending('BullMQ', DEPTHS, WEIGHT.depthBull, bullDepthWork, (d) =>
    bullAtDepth(admin, d),
  );
  const x = { label: 'waiting jobs', values: DEPTHS, names: DEPTHS.map(compact) };
  const notes = skippedNote(thrun, bull);
  return [
    table(
      {
        id: 'depth-throughput',
        title: `Consume rate against queue depth (first ${compact(DEPTH_SAMPLE)} jobs or ${DEPTH_WINDOW_MS / 1000} s, concurrency ${DEPTH_CONCURRENCY})`,
        x,
        unit: 'jobs/s',
        series: besideBull(thrun, bull, (f) => f.rate),
        notes,
      },
      'the time per consumed job',
      (_, rate) => 1 / rate,
    ),
    table(
      {
        id: 'depth-memory',
        title: 'Redis memory (INFO used_memory growth) against queue depth',
        x,
        unit: 'MB',
        series: besideBull(thrun, bull, (f) => f.memoryMb),
        notes,
      },
      'memory',
      (_, mb) => mb,
    ),
  ];
}

// ---- payload size --------------------------------------------------------------------------------

/** A JSON body of exactly `size` bytes. */
function bodyOf(size: number): Buffer {
  const frame = '{"event":"bench","payload":""}';
  return Buffer.from(frame.replace('""', `"${'x'.repeat(Math.max(0, size - frame.length))}"`));
}

/** Fewer messages as they grow, so every case moves a few megabytes at most. */
function messagesOf(size: number): number {
  return size <= 100 ? 5_000 : size <= 10_000 ? 2_000 : 40;
}

/** A message costs about as much as 2 kB of body, besides its body. */
const payloadWork = (size: number) => messagesOf(size) * (size + 2_000);

async function payloadTable(admin: Redis): Promise<Table> {
  const inRedis =
    <T>(run: () => Promise<T>) =>
    async () => {
      await redis.clean(admin);
      try {
        return await run();
      } finally {
        await redis.clean(admin);
      }
    };
  const redisThrun = await ascending('Thrun Redis', SIZES, WEIGHT.payload, payloadWork, (size) =>
    inRedis(() => redis.thrunConsume(PAYLOAD_CONCURRENCY, messagesOf(size), () => bodyOf(size)))(),
  );
  const redisRaw = await ascending('raw ioredis', SIZES, WEIGHT.payload, payloadWork, (size) =>
    inRedis(() => redis.rawConsume(PAYLOAD_CONCURRENCY, messagesOf(size), () => bodyOf(size)))(),
  );

  const model = await connect(rabbit.url);
  const transport = rabbitmqTransport({ url: rabbit.url, prefetch: 100 });
  const queues: string[] = [];
  const queue = () => {
    const name = `bench-scaling-${randomBytes(3).toString('hex')}`;
    queues.push(name);
    return name;
  };
  let rabbitThrun: Measured<number>;
  let rabbitRaw: Measured<number>;
  try {
    rabbitThrun = await ascending('Thrun RabbitMQ', SIZES, WEIGHT.payload, payloadWork, (size) =>
      rabbit.thrunConsume(transport, queue(), messagesOf(size), PAYLOAD_CONCURRENCY, bodyOf(size)),
    );
    rabbitRaw = await ascending('amqplib', SIZES, WEIGHT.payload, payloadWork, (size) =>
      rabbit.rawConsume(model, queue(), messagesOf(size), PAYLOAD_CONCURRENCY, bodyOf(size)),
    );
  } finally {
    await transport.close({ drainTimeoutMs: 1000 });
    await deleteRabbitQueues(model, queues);
    await model.close();
  }

  const kafkaThrun = await ascending('Thrun Kafka', SIZES, WEIGHT.payload, payloadWork, async (size) => {
    const topic = await kafka.filledTopic(messagesOf(size), bodyOf(size));
    return (await kafka.thrunConsume(topic, PAYLOAD_CONCURRENCY, messagesOf(size))).rate;
  });
  const kafkaRaw = await ascending('kafkajs', SIZES, WEIGHT.payload, payloadWork, async (size) => {
    const topic = await kafka.filledTopic(messagesOf(size), bodyOf(size));
    return (await kafka.rawConsume(topic, PAYLOAD_CONCURRENCY, messagesOf(size))).rate;
  });

  const all = [redisThrun, redisRaw, rabbitThrun, rabbitRaw, kafkaThrun, kafkaRaw];
  const names = ['Thrun Redis', 'raw ioredis', 'Thrun RabbitMQ', 'amqplib', 'Thrun Kafka', 'kafkajs'];
  return table(
    {
      id: 'payload',
      title: `Consume rate against payload size (concurrency ${PAYLOAD_CONCURRENCY})`,
      x: { label: 'body size', values: SIZES, names: ['100 B', '10 kB', '1 MB'] },
      unit: 'msg/s',
      series: all.map((m, i) => ({ name: names[i]!, values: pick(m, (rate) => rate) })),
      notes: skippedNote(...all),
    },
    'the time per message',
    (_, rate) => 1 / rate,
  );
}

async function deleteRabbitQueues(
  model: Awaited<ReturnType<typeof connect>>,
  queues: string[],
): Promise<void> {
  let channel = await model.createChannel();
  for (const name of queues) {
    for (const remove of [
      () => channel.deleteQueue(name),
      () => channel.deleteQueue(`${name}.dead`),
      () => channel.deleteExchange(`thrun.${name}`),
    ]) {
      // A refused deletion closes the channel: open another for the next one.
      await remove().catch(async () => {
        channel = await model.createChannel();
      });
    }
  }
  await channel.close().catch(() => {});
}

// ---- many queues ---------------------------------------------------------------------------------

interface QueuesFigures {
  /** From the first consume call (or Worker) to every consumer subscribed. */
  readyMs: number;
  firstMs: number;
  rate: number;
  /** Redis connections the consuming side added; NaN for RabbitMQ. */
  connections: number;
  /** How much live heap the consuming side holds once subscribed (after a collection, under --expose-gc). */
  heapMb: number;
}

const names = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `many-${tag}-${i}`);
const perQueue = (n: number) => Math.ceil(QUEUE_MESSAGES / n);
/** Setting up a queue (and its Worker) costs about as much as 10 messages (runs of 100 and 1,000 queues). */
const queuesWork = (n: number) => n * perQueue(n) + n * 10;

/** A number from the text of Redis's INFO. */
function infoField(info: string, name: string): number {
  return Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
}

async function connectedClients(admin: Redis): Promise<number> {
  return infoField(await admin.info('clients'), 'connected_clients');
}

/** The heap still in use: collected first where `pnpm bench` exposes the collector (--expose-gc). */
function liveHeap(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/** Starts consuming every queue at once through `subscribe`; resolves with the figures once all arrived. */
async function consumeMany(
  total: number,
  subscribe: (seen: () => void) => Promise<() => Promise<void>>,
  connections: () => Promise<number>,
): Promise<QueuesFigures> {
  const count = countTo(total);
  const before = await connections();
  const heapBefore = liveHeap();
  const started = now();
  const stop = await subscribe(() => count.seen());
  const readyMs = now() - started;
  const heapMb = (liveHeap() - heapBefore) / 1e6;
  const added = (await connections()) - before;
  const counted = await count.finished;
  await stop();
  return {
    readyMs,
    firstMs: counted.firstAt - started,
    rate: perSecond(counted),
    connections: added,
    heapMb,
  };
}

/** One Thrun transport consuming every queue, with a handler that acks. */
function consumeEvery(consumer: Transport, queues: string[]) {
  return async (seen: () => void) => {
    await Promise.all(
      queues.map((q) =>
        consumer.consume(q, async (delivery) => {
          await delivery.ack();
          seen();
        }),
      ),
    );
    return () => consumer.close({ drainTimeoutMs: 1000 });
  };
}

async function thrunRedisQueues(admin: Redis, n: number): Promise<QueuesFigures> {
  await redis.clean(admin);
  const queues = names(n, 'thrun');
  const producer = redis.thrun();
  await Promise.all(
    queues.map((q) =>
      producer.publish(
        q,
        Array.from({ length: perQueue(n) }, (_, j) => ({ body: redis.envelope(j) })),
      ),
    ),
  );
  await producer.close();
  // Every consumed queue has its own blocking connection, opened at once: give a loaded Redis time.
  const consumer = redis.thrun({ connectTimeoutMs: 30_000 });
  const figures = await consumeMany(n * perQueue(n), consumeEvery(consumer, queues), () =>
    connectedClients(admin),
  );
  await redis.clean(admin);
  return figures;
}

async function bullQueues(admin: Redis, n: number): Promise<QueuesFigures> {
  await redis.clean(admin);
  const queues = names(n, 'bull');
  // One FlowProducer adds to every queue over one connection (a Queue per name would open n).
  const producer = new FlowProducer({ connection: redis.connection, prefix: bullPrefix });
  await producer.addBulk(
    queues.flatMap((queueName) =>
      Array.from({ length: perQueue(n) }, (_, j) => ({
        name: 'order_created',
        queueName,
        data: redis.payload(j),
        opts: { removeOnComplete: true, removeOnFail: true },
      })),
    ),
  );
  await producer.close();
  const figures = await consumeMany(
    n * perQueue(n),
    async (seen) => {
      // BullMQ's Worker serves one queue: a worker per queue, each with its own connections.
      const workers = queues.map(
        (q) =>
          new Worker(q, async () => seen(), {
            connection: bullConnection,
            prefix: bullPrefix,
            concurrency: 1,
          }),
      );
      await Promise.all(workers.map((w) => w.waitUntilReady()));
      return async () => {
        await Promise.all(workers.map((w) => w.close()));
      };
    },
    () => connectedClients(admin),
  );
  await redis.clean(admin);
  return figures;
}

async function thrunRabbitQueues(n: number): Promise<QueuesFigures> {
  const tag = randomBytes(3).toString('hex');
  const queues = names(n, `rabbit-${tag}`);
  const producer: Transport = rabbitmqTransport({ url: rabbit.url });
  const body = redis.envelope(0);
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      queues.slice(i, i + 50).map((q) =>
        producer.publish(
          q,
          Array.from({ length: perQueue(n) }, () => ({ body })),
        ),
      ),
    );
  }
  await producer.close();
  const consumer: Transport = rabbitmqTransport({ url: rabbit.url, prefetch: 100 });
  const figures = await consumeMany(n * perQueue(n), consumeEvery(consumer, queues), async () => Number.NaN);
  const model = await connect(rabbit.url);
  await deleteRabbitQueues(model, queues);
  await model.close();
  return figures;
}

async function queuesTables(admin: Redis): Promise<Table[]> {
  const thrunRedis = await ascending('Thrun Redis', QUEUE_COUNTS, WEIGHT.queuesThrun, queuesWork, (n) =>
    thrunRedisQueues(admin, n),
  );
  const bull = await ascending('BullMQ', QUEUE_COUNTS, WEIGHT.queuesBull, queuesWork, (n) =>
    bullQueues(admin, n),
  );
  const thrunRabbit = await ascending(
    'Thrun RabbitMQ',
    QUEUE_COUNTS,
    WEIGHT.queuesRabbit,
    queuesWork,
    thrunRabbitQueues,
  );
  const x = { label: 'queues', values: QUEUE_COUNTS, names: QUEUE_COUNTS.map(compact) };
  const notes = skippedNote(thrunRedis, bull, thrunRabbit);
  // A count or growth of 0 has no logarithm: the growth sentence counts it as a small positive value.
  const cost = (_: number, value: number) => Math.max(value, 1e-3);
  const figures: Array<{
    id: string;
    title: string;
    unit: string;
    figure: (f: QueuesFigures) => number;
    quantity: string;
    cost: (x: number, figure: number) => number;
    redisOnly?: boolean;
  }> = [
    {
      id: 'ready',
      title: 'time until every queue is subscribed',
      unit: 'ms',
      figure: (f) => f.readyMs,
      quantity: 'the time to subscribe',
      cost,
    },
    {
      id: 'first',
      title: 'time to the first message',
      unit: 'ms',
      figure: (f) => f.firstMs,
      quantity: 'the time to the first message',
      cost,
    },
    {
      id: 'throughput',
      title: `consume rate (${compact(QUEUE_MESSAGES)} messages spread over them)`,
      unit: 'msg/s',
      figure: (f) => f.rate,
      quantity: 'the time per message',
      cost: (_, rate) => 1 / rate,
    },
    {
      id: 'connections',
      title: 'Redis connections it opens',
      unit: 'connections',
      figure: (f) => f.connections,
      quantity: 'the number of connections',
      cost,
      redisOnly: true,
    },
    {
      id: 'heap',
      title: 'live heap of the consuming process',
      unit: 'MB',
      figure: (f) => f.heapMb,
      quantity: 'the heap',
      cost,
    },
  ];
  return figures.map(({ id, title, unit, figure, quantity, cost, redisOnly }) =>
    table(
      {
        id: `queues-${id}`,
        title: `One consumer on many queues: ${title}`,
        x,
        unit,
        series: [
          { name: 'Thrun Redis (1 transport)', values: pick(thrunRedis, figure) },
          { name: 'BullMQ (1 Worker per queue)', values: pick(bull, figure) },
          ...(redisOnly ? [] : [{ name: 'Thrun RabbitMQ (1 transport)', values: pick(thrunRabbit, figure) }]),
        ],
        notes,
      },
      quantity,
      cost,
    ),
  );
}

// ---- worker processes ----------------------------------------------------------------------------

interface WorkersFigures {
  rate: number;
  /** redis-server's CPU time over the wall time: 100 is one core, all it can use. */
  redisCpu: number;
  /** Both cores' busy share, 0 to 100. */
  machineCpu: number;
  /** The one-minute load average at the end of the window: how many other processes wanted the cores. */
  load: number;
}

async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  return infoField(info, 'used_cpu_sys') + infoField(info, 'used_cpu_user');
}

function machineTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

async function workers(admin: Redis, side: 'thrun' | 'bullmq', processes: number): Promise<WorkersFigures> {
  await redis.clean(admin);
  if (side === 'thrun') await fillThrunQueue(admin, WORKERS_QUEUE, WORKER_JOBS);
  else await fillBullQueue(admin, WORKERS_QUEUE, WORKER_JOBS);
  const script = new URL('../scaling-worker.js', import.meta.url);
  let handled = 0;
  const children: ChildProcess[] = [];
  const ready = Array.from({ length: processes }, () => {
    const child = fork(script, [side, String(WORKER_CONCURRENCY)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    return new Promise<void>((resolve) => {
      child.on('message', (message: unknown) => {
        if (message === 'ready') resolve();
        else if (typeof message === 'object' && message !== null && 'handled' in message)
          handled += Number(message.handled);
      });
    });
  });
  await Promise.all(ready);
  for (const child of children) child.send('go');
  // The window opens at the first job handled, so connecting and the first fetch stay out of it.
  while (handled === 0) await sleep(5);
  const handledBefore = handled;
  const cpuBefore = await redisCpuSeconds(admin);
  const machineBefore = machineTimes();
  const started = now();
  while (now() - started < WORKER_WINDOW_MS && handled < WORKER_JOBS) await sleep(5);
  const ms = now() - started;
  const jobs = handled - handledBefore;
  const redisCpu = (((await redisCpuSeconds(admin)) - cpuBefore) / (ms / 1000)) * 100;
  const machineAfter = machineTimes();
  const machineCpu =
    ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.send('stop');
        }),
    ),
  );
  await redis.clean(admin);
  return { rate: (jobs / ms) * 1000, redisCpu, machineCpu, load: loadavg()[0]! };
}

/** Which of the two ran out at the largest number of processes: one sentence from the CPU figures. */
function limitOf(side: string, measured: Measured<WorkersFigures>): string {
  const index = measured.values.findLastIndex((v) => v !== null);
  const last = measured.values[index];
  if (!last) return `${side}: not measured.`;
  const cores = cpus().length;
  const at = `${side} at ${WORKER_COUNTS[index]} processes: redis-server used ${last.redisCpu.toFixed(0)}% of one core, the machine (every process on it) ${last.machineCpu.toFixed(0)}% of its ${cores} cores (load average ${last.load.toFixed(0)})`;
  // A saturated Redis is the limit whatever else runs: it executes commands on one thread.
  if (last.redisCpu >= 85) return `${at}, so the broker (single-threaded Redis) is the limit.`;
  if (last.machineCpu >= 90) return `${at}, so the ${cores} cores are the limit, not the broker.`;
  return `${at}: neither was saturated, so the workers' own round trips are the limit.`;
}

async function workersTables(admin: Redis): Promise<Table[]> {
  const thrun = await ascending(
    'Thrun',
    WORKER_COUNTS,
    WEIGHT.workersThrun,
    (k) => 1 + k / 4,
    (k) => workers(admin, 'thrun', k),
  );
  const bull = await ascending(
    'BullMQ',
    WORKER_COUNTS,
    WEIGHT.workersBull,
    (k) => 1 + k / 4,
    (k) => workers(admin, 'bullmq', k),
  );
  const x = { label: 'worker processes', values: WORKER_COUNTS, names: WORKER_COUNTS.map(String) };
  const notes = skippedNote(thrun, bull);
  return [
    table(
      {
        id: 'workers-throughput',
        title: `Worker processes on one Redis queue (${WORKER_WINDOW_MS / 1000} s of a ${compact(WORKER_JOBS)}-job backlog, concurrency ${WORKER_CONCURRENCY} each)`,
        x,
        unit: 'jobs/s',
        series: besideBull(thrun, bull, (f) => f.rate),
        notes: [...notes, limitOf('Thrun', thrun), limitOf('BullMQ', bull)],
      },
      'the throughput',
      (_, rate) => rate,
    ),
    table(
      {
        id: 'workers-cpu',
        title: 'Worker processes on one Redis queue: CPU busy during the run',
        x,
        unit: '% (redis-server: of one core; machine: of both)',
        series: [
          { name: 'redis-server, Thrun', values: pick(thrun, (f) => f.redisCpu) },
          { name: 'machine, Thrun', values: pick(thrun, (f) => f.machineCpu) },
          { name: 'redis-server, BullMQ', values: pick(bull, (f) => f.redisCpu) },
          { name: 'machine, BullMQ', values: pick(bull, (f) => f.machineCpu) },
        ],
        notes,
      },
      'the CPU share',
      (_, share) => share,
    ),
  ];
}

export async function scalingSuite(): Promise<SuiteResult> {
  const admin = new Redis(redis.URL_);
  const tables: Table[] = [];
  const started = now();
  budget.start();
  try {
    tables.push(...(await depthTables(admin)));
    tables.push(...(await workersTables(admin)));
    tables.push(...(await queuesTables(admin)));
    // Last, with what is left: a thousand queues can take far longer than their estimate on a loaded broker.
    tables.push(await payloadTable(admin));
  } finally {
    await redis.clean(admin);
    admin.disconnect();
  }
  return {
    suite: 'scaling',
    workload:
      `Redis 127.0.0.1 db ${redis.connection.db}, RabbitMQ and Kafka of the other suites; depth: jobs of a ${redis.envelope(0).byteLength}-byte envelope ` +
      `left waiting (written by a Lua loop: Thrun's list entries, and for BullMQ ${compact(BULL_ADDED)} jobs through addBulk, then copies of its job 1), ` +
      `then the first ${compact(DEPTH_SAMPLE)} consumed or as many as ${DEPTH_WINDOW_MS / 1000} s allow; ` +
      `payload: ${SIZES.map(compact).join(', ')}-byte bodies, ${SIZES.map(messagesOf).join(', ')} messages; ` +
      `many queues: ${compact(QUEUE_MESSAGES)} messages spread evenly; workers: the rate over ${WORKER_WINDOW_MS / 1000} s ` +
      `of forked processes on a ${compact(WORKER_JOBS)}-job backlog. Depth and many-queues rates run from the first delivery to the last, ` +
      'payload rates are measured as in the redis, rabbitmq and kafka suites. ' +
      `Took ${Math.round((now() - started) / 1000)} s of a ${BUDGET_S} s budget.`,
    comparisons: [],
    tables,
  };
}
