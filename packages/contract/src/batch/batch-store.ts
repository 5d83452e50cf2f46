import type { BatchEmission, BatchRecord, StepOutcome } from './batch-record.js';

/**
 * Where batch state lives. Every method is one atomic transition: two workers recording the same
 * step, or a step and a cancel, never both win. Implementations run the pure transitions of
 * `batch-record.ts` (memory: synchronously; a distributed store: in one server-side script).
 *
 * Emissions work as an outbox: a transition stores the events it decided to fire and hands them to
 * the caller *claimed* for `claimTtlMs`. The caller publishes them, then `markEmitted`. When the
 * caller dies in between, the next transition attempt on that batch (a redelivered step, a retry)
 * gets the unacknowledged emissions again once their claim has expired, so nothing decided is lost.
 */
export interface BatchStore {
  /** Stores a new batch, starts it, and returns its first emissions, claimed. */
  create(record: BatchRecord): Promise<BatchEmission[]>;
  get(id: string): Promise<BatchRecord | undefined>;
  /** Records a step's final outcome; returns the claimable emissions (new ones, or stale leftovers). */
  recordStep(id: string, index: number, outcome: StepOutcome): Promise<BatchTransition>;
  /** Cancels a batch that has not ended. */
  cancel(id: string): Promise<BatchTransition>;
  /** Forgets emissions once they were published. */
  markEmitted(id: string, keys: readonly string[]): Promise<void>;
  /** Gives claimed emissions back when publishing them failed, so the next attempt takes them at once. */
  release(id: string, keys: readonly string[]): Promise<void>;
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
  /** How long a claimed emission is reserved for the caller that claimed it. Default: 30 seconds. */
  claimTtlMs?: number;
}

export const DEFAULT_BATCH_RETENTION_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CLAIM_TTL_MS = 30_000;
