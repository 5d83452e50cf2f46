/**
 * Thrun on Redis Lists against BullMQ and against a raw ioredis reliable queue (BLMOVE + LREM), in one
 * run, on the same Redis: enqueue (one awaited at a time, and bulk), consume at concurrency 1 and 50,
 * latency at a fixed offered rate, and Redis memory per queued job. Then deep queues near the broker's
 * limit: Streams mode and Lists mode against raw consumers that batch both fetches and acknowledgements
 * (XREADGROUP COUNT 100 + one XACK per batch; 100 pipelined LMOVEs + 100 pipelined LREMs).
 *
 * Everything lives in its own database (THRUN_BENCH_REDIS_DB, default 1) under the key prefix
 * `thrun-bench:`; only keys with that prefix are deleted.
 */
import { redisTransport } from '@thrun/transport-redis';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Comparison, SuiteResult } from '../report.js';

export const baseUrl = new URL(process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390');
baseUrl.pathname = `/${process.env.THRUN_BENCH_REDIS_DB ?? '1'}`;
export const URL_ = baseUrl.toString();
export const PREFIX = 'thrun-bench:';
const JOBS = Number(process.env.THRUN_BENCH_JOBS ?? 10_000);
const SINGLE_JOBS = Math.min(JOBS, 3_000);
// Jobs/s offered in the latency cases: a moderate load, and one past what a one-message loop can serve.
const RATE = 2_000;
const HIGH_RATE = 10_000;
const LATENCY_SECONDS = 5;
/** Latency runs per side, alternating, their samples pooled (see latencyRuns), after one warm-up run each. */
const LATENCY_ROUNDS = 2;
// Deep-queue cases: enough jobs that a consumer near 100,000/s runs for a while, best of ROUNDS.
const DEEP_JOBS = Number(process.env.THRUN_BENCH_DEEP_JOBS ?? 20_000);
const C1_JOBS = Math.max(1, Math.floor(DEEP_JOBS / 40));
const RAW_BATCH = 100;
const ROUNDS = 2;

export const connection = {
  host: baseUrl.hostname,
  port: Number(baseUrl.port || 6379),
  db: Number(baseUrl.pathname.slice(1)),
};

export function envelope(i: number, t = 0): Buffer {
  return Buffer.from(
    JSON.stringify({
      event: 'order_created',
      payload: { order_id: i, t },
      meta: {
        event_id: '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e',
        timestamp: '2026-01-01T00:00:00Z',
        source: 'node',
      },
    }),
  );
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function clean(admin: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `*${PREFIX}*`, 'COUNT', 10_000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}

export async function usedMemory(admin: Redis): Promise<number> {
  const info = await admin.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

function rate(count: number, ms: number): number {
  return (count / ms) * 1000;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

// ---- Thrun ---------------------------------------------------------------------------------------

export function thrun(options: Parameters<typeof redisTransport>[0] = {}) {
  return redisTransport({ url: URL_, keyPrefix: PREFIX, ...options });
}

async function thrunEnqueueSingle(): Promise<number> {
  const t = thrun();
  const start = now();
  for (let i = 0; i < SINGLE_JOBS; i++) await t.publish('jobs', [{ body: envelope(i) }]);
  const ms = now() - start;
  await t.close();
  return rate(SINGLE_JOBS, ms);
}

async function thrunEnqueueBulk(): Promise<number> {
  const t = thrun();
  const messages = Array.from({ length: JOBS }, (_, i) => ({ body: envelope(i) }));
  const start = now();
  await t.publish('jobs', messages);
  const ms = now() - start;
  await t.close();
  return rate(JOBS, ms);
}

/**
 * Drains `count` pre-filled jobs with a handler that acks (the payload suite passes its own body; the
 * deep-queue rows their own transport options, such as the mode and the prefetch).
 */
export async function thrunConsume(
  concurrency: number,
  count = JOBS,
  body: (i: number) => Uint8Array = envelope,
  options: Parameters<typeof redisTransport>[0] = {},
): Promise<number> {
  const t = thrun(options);
  await t.publish(
    'jobs',
    Array.from({ length: count }, (_, i) => ({ body: body(i) })),
  );
  let done = 0;
  let finished: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const start = now();
  await t.consume(
    'jobs',
    async (delivery) => {
      await delivery.ack();
      if (++done === count) finished();
    },
    { concurrency },
  );
  await all;
  const ms = now() - start;
  await t.close();
  return rate(count, ms);
}

async function thrunLatency(rate: number): Promise<LatencySample> {
  const producer = thrun();
  const consumer = thrun();
  const recorder = latencyRecorder();
  await consumer.consume('latency', async (delivery) => {
    recorder.record(JSON.parse(Buffer.from(delivery.body).toString()).payload.t as number);
    await delivery.ack();
  });
  const startedAt = await offer(rate, (i, due) => producer.publish('latency', [{ body: envelope(i, due) }]));
  await waitUntil(() => recorder.latencies.length >= rate * LATENCY_SECONDS);
  await consumer.close();
  await producer.close();
  return recorder.sample(startedAt);
}

// ---- raw ioredis reliable queue: LPUSH, BLMOVE into a processing list, LREM ------------------------

async function rawEnqueueSingle(): Promise<number> {
  const r = new Redis(URL_);
  const start = now();
  for (let i = 0; i < SINGLE_JOBS; i++) await r.lpush(`${PREFIX}raw`, envelope(i));
  const ms = now() - start;
  r.disconnect();
  return rate(SINGLE_JOBS, ms);
}

async function rawEnqueueBulk(): Promise<number> {
  const r = new Redis(URL_);
  const bodies = Array.from({ length: JOBS }, (_, i) => envelope(i));
  const start = now();
  const pipeline = r.pipeline();
  for (const body of bodies) pipeline.lpush(`${PREFIX}raw`, body);
  await pipeline.exec();
  const ms = now() - start;
  r.disconnect();
  return rate(JOBS, ms);
}

async function rawFill(
  r: Redis,
  key: string,
  count = JOBS,
  body: (i: number) => Uint8Array = envelope,
): Promise<void> {
  const pipeline = r.pipeline();
  for (let i = 0; i < count; i++) pipeline.lpush(key, Buffer.from(body(i)));
  await pipeline.exec();
}

/** `concurrency` loops, each with its own connection (BLMOVE blocks it): take, handle, LREM. */
export async function rawConsume(
  concurrency: number,
  count = JOBS,
  body: (i: number) => Uint8Array = envelope,
): Promise<number> {
  const admin = new Redis(URL_);
  await rawFill(admin, `${PREFIX}raw`, count, body);
  let done = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const r = new Redis(URL_);
      const processing = `${PREFIX}raw:processing:${worker}`;
      while (done < count) {
        const taken = await r.blmoveBuffer(`${PREFIX}raw`, processing, 'RIGHT', 'LEFT', 0.05);
        if (!taken) continue;
        await r.lrem(processing, 1, taken);
        done++;
      }
      r.disconnect();
    }),
  );
  const ms = now() - start;
  admin.disconnect();
  return rate(count, ms);
}

async function rawLatency(rate: number): Promise<LatencySample> {
  const producer = new Redis(URL_);
  const consumer = new Redis(URL_);
  const recorder = latencyRecorder();
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const body = await consumer.blmoveBuffer(
        `${PREFIX}raw-latency`,
        `${PREFIX}raw-latency:p`,
        'RIGHT',
        'LEFT',
        0.1,
      );
      if (!body) continue;
      recorder.record(JSON.parse(body.toString()).payload.t as number);
      await consumer.lrem(`${PREFIX}raw-latency:p`, 1, body);
    }
  })();
  const startedAt = await offer(rate, (i, due) => producer.lpush(`${PREFIX}raw-latency`, envelope(i, due)));
  await waitUntil(() => recorder.latencies.length >= rate * LATENCY_SECONDS);
  stop = true;
  await loop;
  producer.disconnect();
  consumer.disconnect();
  return recorder.sample(startedAt);
}

// ---- deep queues: Streams mode, and batched raw consumers ------------------------------------------

/** Calls `handle` on every item, at most `concurrency` at a time, and resolves when all are done. */
async function runAll<T>(items: T[], concurrency: number, handle: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await handle(items[next++]!);
    }),
  );
}

/** The no-op handler every raw consumer runs, awaited as Thrun awaits its handlers. */
const noop = async (_body: Buffer): Promise<void> => {};

/** Thrun consuming `jobs` jobs already waiting, in the given mode (default prefetch unless given). */
function thrunDeepConsume(
  mode: 'list' | 'stream',
  concurrency: number,
  jobs: number,
  prefetch?: number,
): Promise<number> {
  return thrunConsume(concurrency, jobs, envelope, { mode, ...(prefetch ? { prefetch } : {}) });
}

/**
 * A raw consumer group reader: XREADGROUP … COUNT 100, the batch's handlers (at most `concurrency` at a
 * time), then one XACK for the whole batch. One loop, one connection.
 */
async function rawStreamConsume(concurrency: number, jobs: number): Promise<number> {
  const key = `${PREFIX}raw-stream`;
  const admin = new Redis(URL_);
  const fill = admin.pipeline();
  for (let i = 0; i < jobs; i++) fill.xadd(key, '*', 'b', envelope(i));
  await fill.exec();
  await admin.xgroup('CREATE', key, 'g', '0');
  let done = 0;
  const start = now();
  const r = new Redis(URL_);
  while (done < jobs) {
    const reply = (await r.xreadgroupBuffer(
      'GROUP',
      'g',
      'c',
      'COUNT',
      RAW_BATCH,
      'BLOCK',
      50,
      'STREAMS',
      key,
      '>',
    )) as [Buffer, [Buffer, Buffer[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) continue;
    await runAll(entries, concurrency, ([, fields]) => noop(fields[1]!));
    await r.xack(key, 'g', ...entries.map(([id]) => id));
    done += entries.length;
  }
  const ms = now() - start;
  r.disconnect();
  admin.disconnect();
  return rate(jobs, ms);
}

/**
 * The reliable Lists queue with both halves batched: 100 LMOVEs into a processing list in one
 * pipeline, the batch's handlers (at most `concurrency` at a time), then 100 LREMs in one pipeline.
 */
async function rawListBatchConsume(concurrency: number): Promise<number> {
  const key = `${PREFIX}raw-deep`;
  const processing = `${PREFIX}raw-deep:processing`;
  const admin = new Redis(URL_);
  const fill = admin.pipeline();
  for (let i = 0; i < DEEP_JOBS; i++) fill.lpush(key, envelope(i));
  await fill.exec();
  let done = 0;
  const start = now();
  const r = new Redis(URL_);
  while (done < DEEP_JOBS) {
    const take = r.pipeline();
    for (let i = 0; i < RAW_BATCH; i++) take.lmoveBuffer(key, processing, 'RIGHT', 'LEFT');
    const bodies = ((await take.exec()) ?? []).flatMap(([, body]) => (body ? [body as Buffer] : []));
    if (bodies.length === 0) {
      await sleep(1);
      continue;
    }
    await runAll(bodies, concurrency, noop);
    const settle = r.pipeline();
    for (const body of bodies) settle.lrem(processing, -1, body);
    await settle.exec();
    done += bodies.length;
  }
  const ms = now() - start;
  r.disconnect();
  admin.disconnect();
  return rate(DEEP_JOBS, ms);
}

/**
 * The deep-queue rows: Thrun's Streams mode against the batched XREADGROUP reader at concurrency 1 and
 * 50 (at 50 also with the reader's window of 100 as prefetch: a Streams consumer reads only what it can
 * run by default, since a read entry counts as delivered), and Lists mode at concurrency 50 against that
 * Streams figure and the batched Lists loop. Alternating
 * rounds, best of each side: a busy machine slows whichever runs at the wrong moment.
 */
export async function deepQueueRows(): Promise<Comparison[]> {
  const admin = new Redis(URL_);
  const best = async (...sides: (() => Promise<number>)[]): Promise<number[]> => {
    const figures = sides.map(() => 0);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, side] of sides.entries()) {
        await clean(admin);
        try {
          figures[i] = Math.max(figures[i]!, await side());
        } finally {
          await clean(admin);
        }
      }
    }
    return figures;
  };
  const rows: Comparison[] = [];
  const jobsPerSecond = 'jobs/s';
  const batchedRead = `raw XREADGROUP COUNT ${RAW_BATCH} + XACK per batch`;
  // Concurrency 1 with the default prefetch reads one entry per round trip: fewer jobs keep it short.
  const [c1Thrun, c1Raw] = await best(
    () => thrunDeepConsume('stream', 1, C1_JOBS),
    () => rawStreamConsume(1, C1_JOBS),
  );
  const [c50Thrun, c50Window, c50Raw] = await best(
    () => thrunDeepConsume('stream', 50, DEEP_JOBS),
    () => thrunDeepConsume('stream', 50, DEEP_JOBS, RAW_BATCH),
    () => rawStreamConsume(50, DEEP_JOBS),
  );
  const [thrunLists, rawLists] = await best(
    () => thrunDeepConsume('list', 50, DEEP_JOBS),
    () => rawListBatchConsume(50),
  );
  const stream = (label: string, thrun: number, peer: number, target?: number): Comparison => ({
    case: `Streams consume, ${label}`,
    unit: jobsPerSecond,
    thrun,
    peer,
    peerName: batchedRead,
    better: 'higher',
    ...(target === undefined ? {} : { target }),
  });
  rows.push(
    stream(`${C1_JOBS} waiting, concurrency 1`, c1Thrun!, c1Raw!),
    stream(`${DEEP_JOBS} waiting, concurrency 50`, c50Thrun!, c50Raw!, 0.85),
    stream(`${DEEP_JOBS} waiting, concurrency 50, prefetch ${RAW_BATCH}`, c50Window!, c50Raw!, 0.85),
    {
      case: `Lists consume, ${DEEP_JOBS} waiting, concurrency 50`,
      unit: jobsPerSecond,
      thrun: thrunLists!,
      peer: c50Raw!,
      peerName: `${batchedRead} (Streams)`,
      better: 'higher',
    },
    {
      case: `Lists consume, ${DEEP_JOBS} waiting, concurrency 50`,
      unit: jobsPerSecond,
      thrun: thrunLists!,
      peer: rawLists!,
      peerName: `raw ${RAW_BATCH} LMOVE + ${RAW_BATCH} LREM, pipelined`,
      better: 'higher',
    },
  );
  admin.disconnect();
  return rows;
}

// ---- BullMQ ---------------------------------------------------------------------------------------

const bullPrefix = `${PREFIX}bull`;

export function bullQueue(name: string): Queue {
  return new Queue(name, { connection, prefix: bullPrefix });
}

export function payload(i: number, t = 0) {
  return JSON.parse(envelope(i, t).toString()) as Record<string, unknown>;
}

async function bullEnqueueSingle(): Promise<number> {
  const queue = bullQueue('single');
  await queue.waitUntilReady();
  const start = now();
  for (let i = 0; i < SINGLE_JOBS; i++)
    await queue.add('order_created', payload(i), { removeOnComplete: true });
  const ms = now() - start;
  await queue.close();
  return rate(SINGLE_JOBS, ms);
}

async function bullEnqueueBulk(): Promise<number> {
  const queue = bullQueue('bulk');
  await queue.waitUntilReady();
  const jobs = Array.from({ length: JOBS }, (_, i) => ({
    name: 'order_created',
    data: payload(i),
    opts: { removeOnComplete: true },
  }));
  const start = now();
  await queue.addBulk(jobs);
  const ms = now() - start;
  await queue.close();
  return rate(JOBS, ms);
}

async function bullConsume(concurrency: number): Promise<number> {
  const name = `consume-${concurrency}`;
  const queue = bullQueue(name);
  await queue.addBulk(
    Array.from({ length: JOBS }, (_, i) => ({
      name: 'order_created',
      data: payload(i),
      opts: { removeOnComplete: true, removeOnFail: true },
    })),
  );
  let done = 0;
  let finished: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const start = now();
  const worker = new Worker(
    name,
    async () => {
      if (++done === JOBS) finished();
    },
    { connection: { ...connection, maxRetriesPerRequest: null }, prefix: bullPrefix, concurrency },
  );
  await all;
  const ms = now() - start;
  await worker.close();
  await queue.close();
  return rate(JOBS, ms);
}

async function bullLatency(rate: number): Promise<LatencySample> {
  const queue = bullQueue('latency');
  await queue.waitUntilReady();
  const recorder = latencyRecorder();
  const worker = new Worker(
    'latency',
    async (job) => {
      recorder.record(job.data.payload.t as number);
    },
    { connection: { ...connection, maxRetriesPerRequest: null }, prefix: bullPrefix, concurrency: 1 },
  );
  await worker.waitUntilReady();
  const startedAt = await offer(rate, (i, due) =>
    queue.add('order_created', payload(i, due), { removeOnComplete: true }),
  );
  await waitUntil(() => recorder.latencies.length >= rate * LATENCY_SECONDS);
  await worker.close();
  await queue.close();
  return recorder.sample(startedAt);
}

// ---- shared -------------------------------------------------------------------------------------

/** A latency run's figures in arrival order, and the rate its consumer kept (below the offered rate when it fell behind). */
interface LatencySample {
  latencies: number[];
  drainedPerSecond: number;
}

function latencyRecorder() {
  const latencies: number[] = [];
  let lastAt = 0;
  return {
    latencies,
    /** At handler start: `sent` is when the job was meant to be sent. */
    record(sent: number): void {
      lastAt = now();
      latencies.push(lastAt - sent);
    },
    /** From the start of the offer to the last job handled. */
    sample(startedAt: number): LatencySample {
      return { latencies, drainedPerSecond: rate(latencies.length, lastAt - startedAt) };
    },
  };
}

/** A latency run with what it cost: CPU of this process (producer and consumer) and of Redis, per job. */
interface LatencyRun {
  sorted: number[];
  drainedPerSecond: number;
  nodeCpuUsPerJob: number;
  redisCpuUsPerJob: number;
}

async function redisCpuUs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/**
 * Each side's latency at `rate`, over LATENCY_ROUNDS runs taken in turn, with what it cost. The samples
 * of a side's runs are pooled: its p99 rests on the worst 1 % of the 5-ms batches, which one run of a
 * few seconds holds only a handful of, so a single stall of the machine would decide it. Taking turns
 * lets a busy spell fall on every side alike. A warm-up run of each side comes first and is not counted:
 * a cold run's tail is the compiler's (Thrun has more code to compile than a two-command loop).
 */
async function latencyRuns<Side extends string>(
  admin: Redis,
  rate: number,
  sides: Record<Side, (rate: number) => Promise<LatencySample>>,
): Promise<Record<Side, LatencyRun>> {
  const names = Object.keys(sides) as Side[];
  const pooled = new Map(
    names.map((name) => [name, { latencies: [] as number[], drained: 0, nodeUs: 0, redisUs: 0 }]),
  );
  for (const name of names) {
    await clean(admin);
    await sides[name](rate);
  }
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (const name of names) {
      const side = pooled.get(name)!;
      await clean(admin);
      const redisBefore = await redisCpuUs(admin);
      const before = process.cpuUsage();
      const { latencies, drainedPerSecond } = await sides[name](rate);
      const spent = process.cpuUsage(before);
      side.redisUs += (await redisCpuUs(admin)) - redisBefore;
      side.nodeUs += spent.user + spent.system;
      side.drained += drainedPerSecond / LATENCY_ROUNDS;
      for (const latency of latencies) side.latencies.push(latency);
      await clean(admin);
    }
  }
  const runs = {} as Record<Side, LatencyRun>;
  for (const [name, side] of pooled) {
    runs[name] = {
      sorted: side.latencies.sort((a, b) => a - b),
      drainedPerSecond: side.drained,
      nodeCpuUsPerJob: side.nodeUs / side.latencies.length,
      redisCpuUsPerJob: side.redisUs / side.latencies.length,
    };
  }
  return runs;
}

function latencyRows(rate: number, thrunRun: LatencyRun, raw: LatencyRun): Comparison[] {
  const peerName = 'raw BLMOVE+LREM';
  return [
    ...[50, 99].map(
      (p): Comparison => ({
        case: `latency p${p} at ${rate}/s`,
        unit: 'ms',
        thrun: percentile(thrunRun.sorted, p),
        peer: percentile(raw.sorted, p),
        peerName,
        better: 'lower',
        ...(p === 99 && rate === RATE ? { target: 1.5 } : {}),
      }),
    ),
    {
      case: `jobs/s drained at ${rate}/s offered`,
      unit: 'jobs/s',
      thrun: thrunRun.drainedPerSecond,
      peer: raw.drainedPerSecond,
      peerName,
      better: 'higher',
    },
    {
      case: `node CPU per job at ${rate}/s`,
      unit: 'µs',
      thrun: thrunRun.nodeCpuUsPerJob,
      peer: raw.nodeCpuUsPerJob,
      peerName,
      better: 'lower',
    },
    {
      case: `Redis CPU per job at ${rate}/s`,
      unit: 'µs',
      thrun: thrunRun.redisCpuUsPerJob,
      peer: raw.redisCpuUsPerJob,
      peerName,
      better: 'lower',
    },
  ];
}

/**
 * Only the latency cases of the Redis suite (`pnpm bench redis-latency`), Thrun and the raw loop
 * alternating, with the CPU each side spent per job: on a shared machine CPU time explains a latency
 * difference that wall-clock figures alone blur.
 */
export async function redisLatencySuite(): Promise<SuiteResult> {
  const admin = new Redis(URL_);
  const rows: Comparison[] = [];
  for (const rate of [RATE, HIGH_RATE]) {
    const runs = await latencyRuns(admin, rate, { thrun: thrunLatency, raw: rawLatency });
    rows.push(...latencyRows(rate, runs.thrun, runs.raw));
  }
  admin.disconnect();
  return {
    suite: 'redis-latency',
    workload:
      `offers ${RATE} and ${HIGH_RATE} jobs/s for ${LATENCY_SECONDS} s to one consumer at concurrency 1 on one Redis ` +
      `127.0.0.1 (db ${connection.db}), ${LATENCY_ROUNDS} runs a side after a warm-up, in turn, the samples pooled; latency from the ` +
      'intended send time to handler start; CPU is this ' +
      'process (producer and consumer) and Redis (INFO used_cpu_*), divided by the jobs. Thrun: Redis Lists mode, default prefetch.',
    comparisons: rows,
  };
}

/**
 * Offers `rate` jobs/s for LATENCY_SECONDS: a batch every 5 ms. Each job carries the time its batch was
 * meant to be sent (or left, if earlier), not when the loop got to it, so a stalled sender or event
 * loop counts as latency instead of hiding it (no coordinated omission). Resolves to when the offer
 * started.
 */
async function offer(rate: number, send: (i: number, due: number) => Promise<unknown>): Promise<number> {
  const total = rate * LATENCY_SECONDS;
  const perTick = rate / 200;
  const start = now();
  const dueOf = (i: number) => start + (i / rate) * 1000;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i += perTick) {
    const wait = dueOf(i) - now();
    if (wait > 0) await sleep(wait);
    // The tick's jobs are meant to leave together, at the tick's time. A timer may fire a little early
    // (libuv's clock is coarser than performance.now()): jobs that leave early carry when they left.
    const sentFor = Math.min(dueOf(i), now());
    for (let j = i; j < i + perTick && j < total; j++) pending.push(send(j, sentFor));
  }
  await Promise.all(pending);
  return start;
}

// Generous: on a loaded machine a slow side must still finish, its backlog showing as latency.
async function waitUntil(condition: () => boolean, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('benchmark did not finish in time');
    await sleep(10);
  }
}

async function memoryPerJob(admin: Redis, fill: () => Promise<void>): Promise<number> {
  await clean(admin);
  const before = await usedMemory(admin);
  await fill();
  const after = await usedMemory(admin);
  await clean(admin);
  return (after - before) / JOBS;
}

export async function redisSuite(): Promise<SuiteResult> {
  const admin = new Redis(URL_);
  const step = async <T>(run: () => Promise<T>): Promise<T> => {
    await clean(admin);
    try {
      return await run();
    } finally {
      await clean(admin);
    }
  };

  const single = {
    thrun: await step(thrunEnqueueSingle),
    raw: await step(rawEnqueueSingle),
    bull: await step(bullEnqueueSingle),
  };
  const bulk = {
    thrun: await step(thrunEnqueueBulk),
    raw: await step(rawEnqueueBulk),
    bull: await step(bullEnqueueBulk),
  };
  const c1 = {
    thrun: await step(() => thrunConsume(1)),
    raw: await step(() => rawConsume(1)),
    bull: await step(() => bullConsume(1)),
  };
  const c50 = {
    thrun: await step(() => thrunConsume(50)),
    raw: await step(() => rawConsume(50)),
    bull: await step(() => bullConsume(50)),
  };
  const latency = await latencyRuns(admin, RATE, { thrun: thrunLatency, raw: rawLatency, bull: bullLatency });
  const highLatency = await latencyRuns(admin, HIGH_RATE, { thrun: thrunLatency, raw: rawLatency });

  const rawJson = envelope(0).byteLength;
  const memory = {
    thrun: await memoryPerJob(admin, async () => {
      const t = thrun();
      await t.publish(
        'memory',
        Array.from({ length: JOBS }, (_, i) => ({ body: envelope(i) })),
      );
      await t.close();
    }),
    raw: await memoryPerJob(admin, () => rawFill(admin, `${PREFIX}raw-memory`)),
    bull: await memoryPerJob(admin, async () => {
      const queue = bullQueue('memory');
      await queue.addBulk(
        Array.from({ length: JOBS }, (_, i) => ({ name: 'order_created', data: payload(i) })),
      );
      await queue.close();
    }),
  };
  await clean(admin);
  admin.disconnect();
  const deep = await deepQueueRows();

  const jobsPerSecond = 'jobs/s';
  const rows: Comparison[] = [
    {
      case: 'enqueue single (awaited)',
      unit: jobsPerSecond,
      thrun: single.thrun,
      peer: single.bull,
      peerName: 'BullMQ add',
      better: 'higher',
    },
    {
      case: 'enqueue single (awaited)',
      unit: jobsPerSecond,
      thrun: single.thrun,
      peer: single.raw,
      peerName: 'raw LPUSH',
      better: 'higher',
    },
    {
      case: `enqueue bulk (${JOBS})`,
      unit: jobsPerSecond,
      thrun: bulk.thrun,
      peer: bulk.raw,
      peerName: 'pipelined LPUSH',
      better: 'higher',
      target: 0.8,
    },
    {
      case: `enqueue bulk (${JOBS})`,
      unit: jobsPerSecond,
      thrun: bulk.thrun,
      peer: bulk.bull,
      peerName: 'BullMQ addBulk',
      better: 'higher',
    },
    {
      case: 'consume, concurrency 1',
      unit: jobsPerSecond,
      thrun: c1.thrun,
      peer: c1.bull,
      peerName: 'BullMQ Worker',
      better: 'higher',
      target: 1.3,
    },
    {
      case: 'consume, concurrency 1',
      unit: jobsPerSecond,
      thrun: c1.thrun,
      peer: c1.raw,
      peerName: 'raw BLMOVE+LREM',
      better: 'higher',
    },
    {
      case: 'consume, concurrency 50',
      unit: jobsPerSecond,
      thrun: c50.thrun,
      peer: c50.bull,
      peerName: 'BullMQ Worker',
      better: 'higher',
      target: 2,
    },
    {
      case: 'consume, concurrency 50',
      unit: jobsPerSecond,
      thrun: c50.thrun,
      peer: c50.raw,
      peerName: 'raw BLMOVE+LREM ×50',
      better: 'higher',
    },
    {
      case: `latency p50 at ${RATE}/s`,
      unit: 'ms',
      thrun: percentile(latency.thrun.sorted, 50),
      peer: percentile(latency.raw.sorted, 50),
      peerName: 'raw BLMOVE+LREM',
      better: 'lower',
    },
    {
      case: `latency p99 at ${RATE}/s`,
      unit: 'ms',
      thrun: percentile(latency.thrun.sorted, 99),
      peer: percentile(latency.raw.sorted, 99),
      peerName: 'raw BLMOVE+LREM',
      better: 'lower',
      target: 1.5,
    },
    {
      case: `latency p99 at ${RATE}/s`,
      unit: 'ms',
      thrun: percentile(latency.thrun.sorted, 99),
      peer: percentile(latency.bull.sorted, 99),
      peerName: 'BullMQ',
      better: 'lower',
    },
    {
      case: `latency p50 at ${HIGH_RATE}/s`,
      unit: 'ms',
      thrun: percentile(highLatency.thrun.sorted, 50),
      peer: percentile(highLatency.raw.sorted, 50),
      peerName: 'raw BLMOVE+LREM',
      better: 'lower',
    },
    {
      case: `latency p99 at ${HIGH_RATE}/s`,
      unit: 'ms',
      thrun: percentile(highLatency.thrun.sorted, 99),
      peer: percentile(highLatency.raw.sorted, 99),
      peerName: 'raw BLMOVE+LREM',
      better: 'lower',
    },
    {
      case: 'Redis memory per queued job',
      unit: 'B',
      thrun: memory.thrun,
      peer: rawJson,
      peerName: `raw JSON (${rawJson} B)`,
      better: 'lower',
      target: 1.5,
    },
    {
      case: 'Redis memory per queued job',
      unit: 'B',
      thrun: memory.thrun,
      peer: memory.raw,
      peerName: 'raw LPUSH list',
      better: 'lower',
    },
    {
      case: 'Redis memory per queued job',
      unit: 'B',
      thrun: memory.thrun,
      peer: memory.bull,
      peerName: 'BullMQ waiting job',
      better: 'lower',
    },
    ...deep,
  ];
  return {
    suite: 'redis',
    workload:
      `${JOBS} jobs of a ${rawJson}-byte JSON envelope on one Redis 127.0.0.1 (db ${connection.db}); single enqueue awaits ` +
      `${SINGLE_JOBS} publishes one by one; consume drains a pre-filled queue with a no-op handler that acks; latency ` +
      `offers ${RATE} and ${HIGH_RATE} jobs/s for ${LATENCY_SECONDS} s to one consumer at concurrency 1 (intended send time → handler start; ` +
      `${LATENCY_ROUNDS} runs a side, in turn, the samples pooled); memory ` +
      'is INFO used_memory growth per waiting job. Thrun: Redis Lists mode, default prefetch. BullMQ 6.7 with removeOnComplete. ' +
      `Deep queues: ${DEEP_JOBS} jobs waiting (${C1_JOBS} at concurrency 1), Thrun in Streams or Lists mode with default ` +
      `prefetch unless a row names one, against one raw loop fetching ${RAW_BATCH} and acknowledging them together; ` +
      `best of ${ROUNDS} alternating rounds.`,
    comparisons: rows,
  };
}
