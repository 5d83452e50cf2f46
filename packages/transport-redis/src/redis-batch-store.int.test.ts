import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { BatchEmission, BatchRecord, StepOutcome } from '@thrun/contract';
import { describeBatchStore } from '@thrun/contract/conformance';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchKeys,
  batchSweepLockKey,
  type RedisBatchStore,
  type RedisBatchStoreOptions,
  redisBatchStore,
} from './redis-batch-store.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from './test-support/redis.js';

const prefix = uniquePrefix();
const stores: RedisBatchStore[] = [];
let admin: Redis;

/** Every store has its own connection: as many independent clients as stores, like separate workers. */
function store(options: RedisBatchStoreOptions = {}): RedisBatchStore {
  const created = redisBatchStore({ url: REDIS_URL, keyPrefix: prefix, ...options });
  stores.push(created);
  return created;
}

beforeAll(async () => {
  admin = await requireRedis();
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

// The scenarios the memory store runs too: both must agree with the pure transitions, key for key.
// A short sweep lock: the scenarios sweep several times within one claim TTL.
describeBatchStore('redis', { create: (options) => store({ sweepLockMs: 20, ...options }) });

const ok: StepOutcome = { ok: true };
const fail: StepOutcome = { ok: false, error: { code: 'handler_failed', message: 'boom' } };

function record(total: number, overrides: Partial<BatchRecord> = {}): BatchRecord {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    mode: 'sequential',
    status: 'pending',
    jobs: Array.from({ length: total }, (_, i) => ({ event: `step_${i}`, payload: { i } })),
    total,
    completed: 0,
    failed: 0,
    allowFailures: 0,
    lifecycle: { thenEvent: 'ok', catchEvent: 'ko', finallyEvent: 'done', progressEvent: 'progress' },
    shared: { order_id: 1 },
    createdAt: now,
    updatedAt: now,
    settled: [],
    ...overrides,
  };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** A worker in another process: records the steps it is sent on stdin with its own store. */
const distEntry = new URL('../dist/index.js', import.meta.url).href;
const childSource = `
import { createInterface } from 'node:readline';
const { redisBatchStore } = await import(${JSON.stringify(distEntry)});
const [url, keyPrefix, claimTtlMs] = process.argv.slice(1);
const store = redisBatchStore({ url, keyPrefix, claimTtlMs: Number(claimTtlMs) });
await store.get('warm-up');
process.stdout.write('ready\\n');
createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, index, outcome } = JSON.parse(line);
  const transition = await store.recordStep(id, index, outcome);
  process.stdout.write(JSON.stringify({ id, applied: transition.applied, emissions: transition.emissions }) + '\\n');
});
`;

interface ChildReply {
  id: string;
  applied: boolean;
  emissions: BatchEmission[];
}

function startChild(claimTtlMs = 30_000): {
  child: ChildProcess;
  ready: Promise<void>;
  next: (id: string) => Promise<ChildReply>;
} {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', childSource, REDIS_URL, prefix, String(claimTtlMs)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const waiting = new Map<string, (reply: ChildReply) => void>();
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') return resolve();
      const reply = JSON.parse(line) as ChildReply;
      waiting.get(reply.id)?.(reply);
    });
  });
  return {
    child,
    ready,
    next: (id) => new Promise<ChildReply>((resolve) => waiting.set(id, resolve)),
  };
}

describe('RedisBatchStore under concurrency', () => {
  it('many clients and another process record the same step at once: one applies, one set of emissions', async () => {
    const clients = Array.from({ length: 8 }, () => store());
    const worker = startChild();
    try {
      await worker.ready;
      for (let round = 0; round < 25; round++) {
        const batch = record(3);
        const creator = clients[round % clients.length]!;
        await creator.markEmitted(
          batch.id,
          (await creator.create(batch)).map((e) => e.key),
        );
        const fromChild = worker.next(batch.id);
        worker.child.stdin!.write(`${JSON.stringify({ id: batch.id, index: 0, outcome: ok })}\n`);
        const local = await Promise.all(clients.map((c) => c.recordStep(batch.id, 0, ok)));
        const results = [...local, await fromChild];
        expect(results.filter((r) => r.applied)).toHaveLength(1);
        const claimed = results.flatMap((r) => r.emissions.map((e) => e.key));
        expect(claimed.sort()).toEqual(['progress:1', 'step:1']);
        expect((await creator.get(batch.id))?.completed).toBe(1);
      }
    } finally {
      worker.child.kill();
    }
  });

  it('a worker killed after its transition, before publishing, leaves its emissions to the redelivery', async () => {
    const worker = startChild(800);
    const other = store();
    try {
      await worker.ready;
      const batch = record(3, { mode: 'parallel' });
      await other.markEmitted(
        batch.id,
        (await other.create(batch)).map((e) => e.key),
      );
      const replied = worker.next(batch.id);
      worker.child.stdin!.write(`${JSON.stringify({ id: batch.id, index: 1, outcome: ok })}\n`);
      const reply = await replied;
      expect(reply.applied).toBe(true);
      expect(reply.emissions.map((e) => e.key)).toEqual(['progress:1']);
      worker.child.kill('SIGKILL'); // it never published progress:1, never marked it emitted
      // While its claim lasts, the redelivered step (to another worker) finds nothing to publish.
      expect(await other.recordStep(batch.id, 1, ok)).toMatchObject({ applied: false, emissions: [] });
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const redelivered = await other.recordStep(batch.id, 1, ok);
      expect(redelivered.applied).toBe(false);
      expect(redelivered.emissions).toEqual(reply.emissions);
    } finally {
      worker.child.kill('SIGKILL');
    }
  });

  it('the last step and a cancel racing from two clients: one ending, one finally', async () => {
    const [a, b] = [store(), store()];
    // Which one wins is up to the race; either is fine as long as it is all-or-nothing.
    for (let round = 0; round < 30; round++) {
      const batch = record(2);
      await a.create(batch);
      await a.recordStep(batch.id, 0, ok);
      const [step, cancel] = await Promise.all([a.recordStep(batch.id, 1, ok), b.cancel(batch.id)]);
      expect(Number(step.applied) + Number(cancel.applied)).toBe(1);
      const ends = [...step.emissions, ...cancel.emissions].filter((e) => e.kind !== 'progress');
      expect(ends.filter((e) => e.kind === 'finally')).toHaveLength(1);
      expect(ends.filter((e) => e.kind === 'then' || e.kind === 'catch')).toHaveLength(1);
      const status = (await b.get(batch.id))?.status;
      expect(status).toBe(step.applied ? 'succeeded' : 'cancelled');
      expect(ends.find((e) => e.kind === 'finally')?.payload.status).toBe(status);
    }
  });

  it('a parallel batch of 200 steps recorded from several clients (twice each) ends with one then and one finally', async () => {
    const clients = Array.from({ length: 6 }, () => store());
    const batch = record(200, { mode: 'parallel' });
    const emitted: BatchEmission[] = [];
    const starts = await clients[0]!.create(batch);
    expect(starts).toHaveLength(200);
    await clients[0]!.markEmitted(
      batch.id,
      starts.map((e) => e.key),
    );
    // Every step's outcome is delivered twice, to two different clients, in random order.
    const work = shuffle([
      ...Array.from({ length: 200 }, (_, i) => i),
      ...Array.from({ length: 200 }, (_, i) => i),
    ]);
    let applied = 0;
    await Promise.all(
      clients.map(async (client, c) => {
        for (let k = c; k < work.length; k += clients.length) {
          const transition = await client.recordStep(batch.id, work[k]!, ok);
          if (transition.applied) applied++;
          emitted.push(...transition.emissions);
          await client.markEmitted(
            batch.id,
            transition.emissions.map((e) => e.key),
          );
        }
      }),
    );
    expect(applied).toBe(200);
    const count = (kind: string) => emitted.filter((e) => e.kind === kind).length;
    expect(count('then')).toBe(1);
    expect(count('catch')).toBe(0);
    expect(count('finally')).toBe(1);
    expect(count('step')).toBe(0);
    const progress = emitted.filter((e) => e.kind === 'progress').map((e) => e.key);
    expect(new Set(progress).size).toBe(200);
    expect(progress).toHaveLength(200);
    expect(emitted.find((e) => e.kind === 'finally')?.payload).toEqual({
      order_id: 1,
      batch_id: batch.id,
      status: 'succeeded',
      completed: 200,
      failed: 0,
      total: 200,
    });
    const final = await clients[1]!.get(batch.id);
    expect(final).toMatchObject({ status: 'succeeded', completed: 200, failed: 0 });
    expect(new Set(final?.settled).size).toBe(200);
  });

  it('a parallel batch with failures beyond the allowance fails once, whoever records what', async () => {
    const clients = Array.from({ length: 5 }, () => store());
    const batch = record(200, { mode: 'parallel', allowFailures: 5 });
    await clients[0]!.markEmitted(
      batch.id,
      (await clients[0]!.create(batch)).map((e) => e.key),
    );
    const failing = new Set(shuffle(Array.from({ length: 200 }, (_, i) => i)).slice(0, 20));
    const work = shuffle(Array.from({ length: 200 }, (_, i) => i));
    const emitted: BatchEmission[] = [];
    await Promise.all(
      clients.map(async (client, c) => {
        for (let k = c; k < work.length; k += clients.length) {
          const index = work[k]!;
          const transition = await client.recordStep(batch.id, index, failing.has(index) ? fail : ok);
          emitted.push(...transition.emissions);
          await client.markEmitted(
            batch.id,
            transition.emissions.map((e) => e.key),
          );
        }
      }),
    );
    const of = (kind: string) => emitted.filter((e) => e.kind === kind);
    expect(of('then')).toHaveLength(0);
    expect(of('catch')).toHaveLength(1);
    expect(of('finally')).toHaveLength(1);
    const final = await clients[0]!.get(batch.id);
    expect(final).toMatchObject({ status: 'failed', failed: 6 });
    const catchPayload = of('catch')[0]!.payload;
    expect(catchPayload).toMatchObject({
      reason: 'failed',
      failed: 6,
      completed: final!.completed,
      total: 200,
    });
    expect(failing.has((catchPayload.failed_job as { index: number }).index)).toBe(true);
    expect(of('finally')[0]!.payload).toMatchObject({
      status: 'failed',
      failed: 6,
      completed: final!.completed,
    });
  });
});

describe('RedisBatchStore keys', () => {
  // A batch's own keys; the sweep index (`due`) is shared by every batch.
  const keysOf = (id: string) => {
    const { due: _due, ...own } = batchKeys(prefix, id);
    return Object.values(own);
  };

  it('keeps every batch key, the sweep index and the sweep lock in one Cluster slot (one hash tag)', () => {
    const keys = [...Object.values(batchKeys(prefix, 'b-1')), ...Object.values(batchKeys(prefix, 'b-2'))];
    const tags = [...keys, batchSweepLockKey(prefix)].map((key) => /^\{([^}]+)\}/.exec(key)?.[1]);
    expect(new Set(tags)).toEqual(new Set([`${prefix}batch`]));
  });

  it('a finished batch expires after the retention; a running one never does', async () => {
    const s = store({ retentionMs: 2_000 });
    const done = record(1);
    const running = record(2);
    await s.create(done);
    await s.create(running);
    await s.recordStep(done.id, 0, ok);
    for (const key of keysOf(done.id)) {
      if ((await admin.exists(key)) === 0) continue; // an empty outbox or claims set is no key at all
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(2_000);
    }
    expect(await admin.exists(batchKeys(prefix, done.id).state)).toBe(1);
    for (const key of keysOf(running.id)) {
      if ((await admin.exists(key)) === 1) expect(await admin.pttl(key)).toBe(-1);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_300));
    expect(await admin.exists(...keysOf(done.id))).toBe(0);
    expect(await s.get(done.id)).toBeUndefined();
    expect(await admin.exists(batchKeys(prefix, running.id).state)).toBe(1);
  });

  it('a cancelled batch expires too', async () => {
    const s = store({ retentionMs: 500 });
    const batch = record(3);
    await s.create(batch);
    await s.cancel(batch.id);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await admin.exists(...keysOf(batch.id))).toBe(0);
  });

  it('a batch created again under the same id is read with its new jobs by every client', async () => {
    const [a, b] = [store(), store()];
    const first = record(2);
    await a.create(first);
    expect((await a.get(first.id))?.jobs.map((j) => j.event)).toEqual(['step_0', 'step_1']);
    await b.create({ ...first, jobs: [{ event: 'other', payload: { x: [] } }], total: 1 });
    expect((await a.get(first.id))?.jobs).toEqual([{ event: 'other', payload: { x: [] } }]);
    expect((await a.recordStep(first.id, 0, ok)).record?.jobs).toEqual([
      { event: 'other', payload: { x: [] } },
    ]);
  });

  it('an unknown batch changes nothing: no key is created', async () => {
    const s = store();
    const id = randomUUID();
    await s.recordStep(id, 0, ok);
    await s.recordStep(id, 0, fail);
    await s.cancel(id);
    await s.markEmitted(id, ['step:0']);
    await s.release(id, ['step:0']);
    expect(await s.get(id)).toBeUndefined();
    expect(await admin.exists(...keysOf(id))).toBe(0);
  });

  it('fails with a typed error, without credentials, when Redis is not there', async () => {
    const s = redisBatchStore({ url: 'redis://user:s3cret@127.0.0.1:1', connectTimeoutMs: 1_000 });
    const error = await s.get('x').catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'connection_failed' });
    expect(String((error as Error).message)).not.toContain('s3cret');
    await s.close();
  });
});

describe('RedisBatchStore latency (a sanity figure, not a benchmark: nothing is asserted on time)', () => {
  it('measures recordStep on a 1,000-step parallel batch and on 3-step sequential batches', async () => {
    const s = store();
    const batch = record(1_000, { mode: 'parallel' });
    await s.markEmitted(
      batch.id,
      (await s.create(batch)).map((e) => e.key),
    );
    const timings: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      const started = performance.now();
      const transition = await s.recordStep(batch.id, i, ok);
      timings.push(performance.now() - started);
      await s.markEmitted(
        batch.id,
        transition.emissions.map((e) => e.key),
      );
    }
    const small: number[] = [];
    for (let n = 0; n < 200; n++) {
      const seq = record(3);
      await s.create(seq);
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await s.recordStep(seq.id, i, ok);
        small.push(performance.now() - started);
      }
    }
    const describe = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const at = (q: number) =>
        sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
      return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, n=${values.length}`;
    };
    console.log(`recordStep, 1,000-step parallel batch: ${describe(timings)}`);
    console.log(`recordStep, 3-step sequential batches: ${describe(small)}`);
    expect((await s.get(batch.id))?.status).toBe('succeeded');
  });
});
