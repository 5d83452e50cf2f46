import { randomUUID } from 'node:crypto';
import {
  type BatchEmission,
  type BatchJob,
  type BatchRecord,
  type BatchStore,
  type BatchStoreOptions,
  type BatchTransition,
  DEFAULT_BATCH_RETENTION_MS,
  DEFAULT_CLAIM_TTL_MS,
  type DueEmissions,
  type StepOutcome,
  type StepStart,
  selectBatches,
} from '@thrun/contract';
import { optionChecks } from '@thrun/contract/transport-kit';
import type { RedisOptions } from 'ioredis';
import {
  batchCancelScript,
  batchCreateScript,
  batchGetScript,
  batchMarkEmittedScript,
  batchRecordStepScript,
  batchReleaseScript,
  batchStepRenewScript,
  batchStepStartScript,
  batchSweepScript,
} from './batch-scripts.js';
import { ensureReady, type RedisClient, resolveClient, runScript, transportError } from './connection.js';
import { literal, scanKeys } from './inspect.js';
import type { Script } from './scripts.js';

export interface RedisBatchStoreOptions extends BatchStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. Default: `THRUN_REDIS_URL`, else `redis://127.0.0.1:6379`. */
  url?: string;
  /** Your own ioredis client (a `Redis` or a `Cluster`) instead of `url`; `close()` leaves it open. */
  client?: RedisClient;
  /** Extra ioredis options when the store opens the connection. */
  redisOptions?: RedisOptions;
  /** Prepended to every key. Default: `''`. */
  keyPrefix?: string;
  /** How long the first call waits for a connection at start-up. Default: 5,000. */
  connectTimeoutMs?: number;
  /** At most one outbox sweep per this many ms across every worker (the sweep lock's TTL). Default: 500. */
  sweepLockMs?: number;
}

export interface RedisBatchStore extends BatchStore {
  /** Closes the connection the store opened (a given `client` stays open). */
  close(): Promise<void>;
}

/**
 * The keys of one batch, and the sweep's index and lock. Every batch key shares the hash tag
 * `{<keyPrefix>batch}` (one Cluster slot, like the keys of one BullMQ queue), so each transition updates
 * the sweep index in the same script.
 */
export interface BatchKeys {
  state: string;
  jobs: string;
  settled: string;
  outbox: string;
  claims: string;
  due: string;
}

export function batchTag(keyPrefix: string): string {
  return `{${keyPrefix}batch}`;
}

export function batchKeys(keyPrefix: string, id: string): BatchKeys {
  const tag = batchTag(keyPrefix);
  const base = `${tag}:${id}`;
  return {
    state: `${base}:state`,
    jobs: `${base}:jobs`,
    settled: `${base}:settled`,
    outbox: `${base}:outbox`,
    claims: `${base}:claims`,
    due: `${tag}:due`,
  };
}

export function batchSweepLockKey(keyPrefix: string): string {
  return `${batchTag(keyPrefix)}:sweep-lock`;
}

/** The record's fields no transition changes: read back by the client only. */
interface StaticFields {
  id: string;
  name?: string;
  queue?: string;
  lifecycle: BatchRecord['lifecycle'];
  shared: BatchRecord['shared'];
  createdAt: string;
}

const check = optionChecks('redis');

/**
 * Batch state in Redis, shared by every worker process. Each method is one Lua script
 * (`protocol/redis/batch-*.lua`), so two workers recording the same step, or a step and a cancel, never
 * both win, and the lifecycle events are decided exactly once. Finished batches expire after
 * `retentionMs`.
 *
 * ```ts
 * const thrun = createThrun({ transport, batches: { store: redisBatchStore({ url: process.env.THRUN_REDIS_URL }) } })
 * ```
 */
export function redisBatchStore(options: RedisBatchStoreOptions = {}): RedisBatchStore {
  const retentionMs = check.positiveNumber('retentionMs', options.retentionMs, DEFAULT_BATCH_RETENTION_MS);
  const claimTtlMs = check.positiveNumber('claimTtlMs', options.claimTtlMs, DEFAULT_CLAIM_TTL_MS);
  const connectTimeoutMs = check.positiveNumber('connectTimeoutMs', options.connectTimeoutMs, 5_000);
  const sweepLockMs = check.positiveNumber('sweepLockMs', options.sweepLockMs, 500);
  const keyPrefix = options.keyPrefix ?? '';
  const { client, where, ownsClient } = resolveClient(options);
  let ready: Promise<void> | undefined;
  const jobsCache = new JobsCache();

  function connect(): Promise<void> {
    ready ??= ensureReady(client, where, connectTimeoutMs).catch((error) => {
      ready = undefined;
      throw error;
    });
    return ready;
  }

  async function run(script: Script, keys: readonly string[], args: readonly (string | number)[]) {
    await connect();
    try {
      return await runScript(client, script, keys, args, 'strings');
    } catch (error) {
      throw transportError('broker_error', `batch ${script.name} failed`, error);
    }
  }

  const transitionKeys = (id: string) => {
    const keys = batchKeys(keyPrefix, id);
    return [keys.state, keys.jobs, keys.settled, keys.outbox, keys.claims, keys.due];
  };

  const store: RedisBatchStore = {
    async create(record) {
      const generation = randomUUID();
      const { fields, jobs, failureParts } = encodeRecord(record, generation);
      const reply = (await run(batchCreateScript, transitionKeys(record.id), [
        claimTtlMs,
        retentionMs,
        fields.length,
        ...fields,
        record.settled.join(','),
        ...failureParts,
        ...jobs,
      ])) as string[];
      jobsCache.set(record.id, generation, structuredClone(record.jobs));
      return reply.map(parseEmission);
    },

    async get(id) {
      const keys = batchKeys(keyPrefix, id);
      const known = jobsCache.get(id);
      const reply = (await run(
        batchGetScript,
        [keys.state, keys.jobs, keys.settled],
        [known?.generation ?? ''],
      )) as unknown[];
      if (reply[0] === 0) return undefined;
      return decodeRecord(reply.slice(1, 4), known, jobsCache);
    },

    /**
     * Finds the batches by SCAN over their `…:state` keys (every batch key lives in one slot), then
     * reads each one: an operator's call, linear in the batches held.
     */
    async list(listOptions) {
      await connect();
      const tag = batchTag(keyPrefix);
      const stateKeys = await scanKeys(client, `${literal(tag)}:*:state`);
      const records: BatchRecord[] = [];
      for (const key of stateKeys) {
        const record = await store.get(key.slice(tag.length + 1, -':state'.length));
        if (record) records.push(record);
      }
      return selectBatches(records, listOptions);
    },

    async recordStep(id, index, outcome: StepOutcome) {
      const known = jobsCache.get(id);
      const error = outcome.ok ? { code: '', message: '' } : outcome.error;
      const reply = (await run(batchRecordStepScript, transitionKeys(id), [
        String(index),
        outcome.ok ? '1' : '0',
        JSON.stringify(error),
        JSON.stringify({ code: error.code, message: error.message }),
        claimTtlMs,
        retentionMs,
        known?.generation ?? '',
      ])) as unknown[];
      return decodeTransition(reply, known, jobsCache);
    },

    async cancel(id) {
      const known = jobsCache.get(id);
      const reply = (await run(batchCancelScript, transitionKeys(id), [
        claimTtlMs,
        retentionMs,
        known?.generation ?? '',
      ])) as unknown[];
      return decodeTransition(reply, known, jobsCache);
    },

    async markEmitted(id, keys) {
      if (keys.length === 0) return;
      const batch = batchKeys(keyPrefix, id);
      await run(batchMarkEmittedScript, [batch.state, batch.outbox, batch.claims, batch.due], keys);
    },

    async release(id, keys) {
      if (keys.length === 0) return;
      const batch = batchKeys(keyPrefix, id);
      await run(batchReleaseScript, [batch.state, batch.claims, batch.due], keys);
    },

    async claimDue(limit) {
      const reply = (await run(
        batchSweepScript,
        [`${batchTag(keyPrefix)}:due`, batchSweepLockKey(keyPrefix)],
        [batchTag(keyPrefix), claimTtlMs, Math.max(1, Math.floor(limit)), sweepLockMs],
      )) as unknown[] | null;
      if (reply === null) return undefined;
      const found: DueEmissions[] = [];
      for (let i = 0; i < reply.length; i += 3) {
        const { queue } = JSON.parse(reply[i + 1] as string) as StaticFields;
        found.push({
          id: reply[i] as string,
          ...(queue === undefined ? {} : { queue }),
          emissions: (reply[i + 2] as string[]).map(parseEmission),
        });
      }
      return found;
    },

    async startStep(id, index, token, leaseMs) {
      const keys = batchKeys(keyPrefix, id);
      return (await run(
        batchStepStartScript,
        [keys.state, keys.settled],
        [String(index), token, Math.max(1, Math.ceil(leaseMs))],
      )) as StepStart;
    },

    async renewStep(id, index, token, leaseMs) {
      const reply = await run(
        batchStepRenewScript,
        [batchKeys(keyPrefix, id).state],
        [String(index), token, Math.max(1, Math.ceil(leaseMs))],
      );
      return reply === 1;
    },

    async releaseStep(id, index, token) {
      await run(batchStepRenewScript, [batchKeys(keyPrefix, id).state], [String(index), token, '0']);
    },

    async close() {
      if (!ownsClient) return;
      if (client.status === 'end' || client.status === 'wait') {
        client.disconnect();
        return;
      }
      await client.quit().catch(() => {});
      client.disconnect();
    },
  };
  return store;
}

/** The record as the scripts store it: state fields, the jobs list, and the catch parts of a failure. */
function encodeRecord(
  record: BatchRecord,
  generation: string,
): { fields: string[]; jobs: string[]; failureParts: string[] } {
  const statics: StaticFields = {
    id: record.id,
    ...(record.name === undefined ? {} : { name: record.name }),
    ...(record.queue === undefined ? {} : { queue: record.queue }),
    lifecycle: record.lifecycle,
    shared: record.shared,
    createdAt: record.createdAt,
  };
  const sharedText = JSON.stringify(record.shared).slice(1, -1);
  const fields: string[] = [
    'static',
    JSON.stringify(statics),
    'idj',
    JSON.stringify(record.id),
    'shared',
    sharedText === '' ? '' : `${sharedText},`,
    'mode',
    record.mode,
    'status',
    record.status,
    'total',
    String(record.total),
    'completed',
    String(record.completed),
    'failed',
    String(record.failed),
    'allowFailures',
    String(record.allowFailures),
    'updatedAt',
    record.updatedAt,
    'gen',
    generation,
  ];
  const { lifecycle } = record;
  const events = [
    ['thenEvent', lifecycle.thenEvent],
    ['catchEvent', lifecycle.catchEvent],
    ['finallyEvent', lifecycle.finallyEvent],
    ['progressEvent', lifecycle.progressEvent],
  ] as const;
  for (const [name, event] of events) if (event !== undefined) fields.push(name, JSON.stringify(event));
  if (record.finishedAt !== undefined) fields.push('finishedAt', record.finishedAt);
  if (record.failure !== undefined) fields.push('failure', JSON.stringify(record.failure));

  const { failure } = record;
  const failureParts = failure
    ? [
        JSON.stringify(failure.reason),
        failure.job ? JSON.stringify({ event: failure.job.event, index: failure.job.index }) : 'null',
        JSON.stringify({ code: failure.error.code, message: failure.error.message }),
      ]
    : ['', '', ''];

  const jobs = record.jobs.map(
    (job, index) =>
      `${JSON.stringify(job.event)}\n${JSON.stringify({
        key: `step:${index}`,
        kind: 'step',
        event: job.event,
        payload: job.payload,
        batch: { id: record.id, index, total: record.total, mode: record.mode },
      })}`,
  );
  return { fields, jobs, failureParts };
}

/** `[state (HGETALL), settled, jobs or null]` → the record; null jobs are the ones `known` holds. */
function decodeRecord(reply: unknown[], known: CachedJobs | undefined, cache: JobsCache): BatchRecord {
  const [flat, settled, jobEntries] = reply as [string[], string[], string[] | null];
  const state = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) state.set(flat[i]!, flat[i + 1]!);
  const statics = JSON.parse(state.get('static')!) as StaticFields;
  let jobs: BatchJob[];
  if (jobEntries === null) {
    jobs = structuredClone(known!.jobs);
  } else {
    jobs = jobEntries.map((entry) => {
      const step = parseEmission(entry.slice(entry.indexOf('\n') + 1));
      return { event: step.event, payload: step.payload };
    });
    cache.set(statics.id, state.get('gen')!, structuredClone(jobs));
  }
  const finishedAt = state.get('finishedAt');
  const failure = state.get('failure');
  const activeAt = state.get('activeAt');
  return {
    ...statics,
    mode: state.get('mode') as BatchRecord['mode'],
    status: state.get('status') as BatchRecord['status'],
    jobs,
    total: Number(state.get('total')),
    completed: Number(state.get('completed')),
    failed: Number(state.get('failed')),
    allowFailures: Number(state.get('allowFailures')),
    updatedAt: state.get('updatedAt')!,
    ...(finishedAt === undefined ? {} : { finishedAt }),
    ...(failure === undefined ? {} : { failure: JSON.parse(failure) }),
    settled: settled.map(Number),
    ...(activeAt === undefined ? {} : { activeAt }),
  };
}

function decodeTransition(
  reply: unknown[],
  known: CachedJobs | undefined,
  cache: JobsCache,
): BatchTransition {
  if (reply.length === 1) return { applied: false, record: undefined, emissions: [] };
  return {
    applied: reply[0] === 1,
    record: decodeRecord(reply.slice(1, 4), known, cache),
    emissions: (reply[4] as string[]).map(parseEmission),
  };
}

interface CachedJobs {
  generation: string;
  jobs: BatchJob[];
}

/**
 * A batch's jobs never change after `create`, and every transition returns the record: the store keeps
 * the jobs of recent batches, tagged with the generation `create` wrote, and the scripts send them only
 * to a client that holds another generation (or none). Bounded; the oldest entries go first.
 */
class JobsCache {
  private readonly entries = new Map<string, CachedJobs>();

  constructor(private readonly capacity = 1_000) {}

  get(id: string): CachedJobs | undefined {
    return this.entries.get(id);
  }

  set(id: string, generation: string, jobs: BatchJob[]): void {
    this.entries.delete(id);
    this.entries.set(id, { generation, jobs });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }
}

function parseEmission(json: string): BatchEmission {
  return JSON.parse(json) as BatchEmission;
}
