import type { BatchEmission, BatchRecord, BatchStatus, StepOutcome } from './batch-record.js';

/**
 * Where batch state lives. Every method is one atomic transition: two workers recording the same
 * step, or a step and a cancel, never both win. Implementations run the pure transitions of
 * `batch-record.ts` (memory: synchronously; a distributed store: in one server-side script).
 *
 * Emissions work as an outbox: a transition stores the events it decided to fire and hands them to
 * the caller *claimed* for `claimTtlMs`. The caller publishes them, then `markEmitted`. When the
 * caller dies in between, the emissions are handed out again once their claim expired: to the next
 * transition attempt on that batch (a redelivered step), and in any case to `claimDue`, the outbox
 * sweep that every worker runs. So whatever a transition decided is published at least once within
 * `claimTtlMs` plus the sweep interval after its caller died, whatever else happens to the batch.
 *
 * Steps run under a lease (`startStep`): one run of a step at a time, whichever copies of its
 * message are delivered; a run whose worker died without recording frees the step when its lease
 * expires, and the step runs again (execution is at least once, never concurrent).
 */
export interface BatchStore {
  /** Stores a new batch, starts it, and returns its first emissions, claimed. */
  create(record: BatchRecord): Promise<BatchEmission[]>;
  get(id: string): Promise<BatchRecord | undefined>;
  /**
   * The batches the store still holds (running ones, finished ones within their retention), newest
   * first by `createdAt`, filtered before `limit` applies. Meant for operators (CLI, dashboard): it
   * may read every batch the store holds. Optional so that stores written before it keep working;
   * `thrun.batches.list()` needs it.
   */
  list?(options?: BatchListOptions): Promise<BatchRecord[]>;
  /**
   * Records a step's final outcome and ends its lease; returns the claimable emissions (new ones, or
   * stale leftovers).
   */
  recordStep(id: string, index: number, outcome: StepOutcome): Promise<BatchTransition>;
  /** Cancels a batch that has not ended. */
  cancel(id: string): Promise<BatchTransition>;
  /** Forgets emissions once they were published. */
  markEmitted(id: string, keys: readonly string[]): Promise<void>;
  /** Gives claimed emissions back when publishing them failed, so the next attempt takes them at once. */
  release(id: string, keys: readonly string[]): Promise<void>;
  /**
   * The outbox sweep: claims, across batches, up to `limit` batches' emissions that nobody holds a
   * live claim on (their caller died, or released them). Batches are found through an index of due
   * times, never by reading every batch. One sweeper at a time: resolves `undefined` when another
   * caller is sweeping. The caller publishes what it got and `markEmitted`s it, as after a transition.
   */
  claimDue(limit: number): Promise<DueEmissions[] | undefined>;
  /**
   * Takes the run lease of a step for `leaseMs` under `token`: `run` when the caller may run it,
   * `busy` when another live lease holds it, `settled` when its outcome is already recorded, `ended`
   * when the batch no longer runs steps, `unknown` when the store does not know the batch.
   */
  startStep(id: string, index: number, token: string, leaseMs: number): Promise<StepStart>;
  /** Extends a lease the caller holds; false when it lost it (expired and taken, or the step settled). */
  renewStep(id: string, index: number, token: string, leaseMs: number): Promise<boolean>;
  /** Ends a lease the caller holds without recording an outcome (the step will be retried). */
  releaseStep(id: string, index: number, token: string): Promise<void>;
}

export interface BatchListOptions {
  /** Only batches in one of these states. Default: every state. */
  status?: readonly BatchStatus[];
  /** Only batches of this name. */
  name?: string;
  /** At most this many. Default: 100. */
  limit?: number;
}

export const DEFAULT_BATCH_LIST_LIMIT = 100;

/** The rule every store's `list` follows, applied to the records it found: filter, newest first, limit. */
export function selectBatches(records: Iterable<BatchRecord>, options: BatchListOptions = {}): BatchRecord[] {
  const statuses = options.status && new Set(options.status);
  return [...records]
    .filter((record) => !statuses || statuses.has(record.status))
    .filter((record) => options.name === undefined || record.name === options.name)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id))
    .slice(0, options.limit ?? DEFAULT_BATCH_LIST_LIMIT);
}

export type StepStart = 'run' | 'busy' | 'settled' | 'ended' | 'unknown';

export interface DueEmissions {
  id: string;
  /** The batch's queue, as the record has it. */
  queue?: string;
  emissions: BatchEmission[];
}

export interface BatchTransition {
  /** False when the call changed nothing (duplicate, out of turn, already ended, unknown batch). */
  applied: boolean;
  record: BatchRecord | undefined;
  emissions: BatchEmission[];
}

export interface BatchStoreOptions {
  /** How long a finished batch stays readable. Default: 24 hours. */
  retentionMs?: number;
  /**
   * How long a claimed emission is reserved for the caller that claimed it; after a crash, the time
   * before the sweep (or a redelivery) publishes it again. Default: 10 seconds.
   */
  claimTtlMs?: number;
}

export const DEFAULT_BATCH_RETENTION_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CLAIM_TTL_MS = 10_000;
