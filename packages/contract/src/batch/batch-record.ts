import type { BatchMeta, JsonObject } from '../envelope.js';

/**
 * A batch's state and the pure transitions between states. Stores run these transitions
 * atomically (the memory store in one synchronous step; a distributed store in one script), so the
 * lifecycle events they produce are decided exactly once however many workers race.
 */

export type BatchStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type BatchMode = 'sequential' | 'parallel';

export interface BatchJob {
  event: string;
  payload: JsonObject;
}

/** Event names fired on the batch's lifecycle. Each is optional. */
export interface BatchLifecycle {
  thenEvent?: string;
  catchEvent?: string;
  finallyEvent?: string;
  progressEvent?: string;
}

export interface BatchFailure {
  reason: 'failed' | 'cancelled';
  /** The step that failed; absent on cancellation. */
  job?: { event: string; index: number };
  error: { code: string; message: string };
}

export interface BatchRecord {
  id: string;
  name?: string;
  mode: BatchMode;
  status: BatchStatus;
  jobs: BatchJob[];
  total: number;
  /** Steps that succeeded. */
  completed: number;
  /** Steps that failed after their last attempt. */
  failed: number;
  /** Parallel mode: failures tolerated before the batch fails. */
  allowFailures: number;
  /** Queue that step and lifecycle events go to; the router decides when absent. */
  queue?: string;
  lifecycle: BatchLifecycle;
  /** Merged into every lifecycle event's payload (e.g. `order_id`). */
  shared: JsonObject;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  failure?: BatchFailure;
  /** Indexes of steps whose outcome is recorded: a duplicate delivery of a step changes nothing. */
  settled: number[];
  /** When a step last took or renewed its run lease (absent until one did). */
  activeAt?: string;
}

/** An event a transition decided to fire. `key` is unique per batch and stable across retries. */
export interface BatchEmission {
  key: string;
  kind: 'step' | 'progress' | 'then' | 'catch' | 'finally';
  event: string;
  payload: JsonObject;
  /** Present on steps: their `meta.batch` (schemas/batch-meta.schema.json). */
  batch?: BatchMeta;
}

export type StepOutcome = { ok: true } | { ok: false; error: { code: string; message: string } };

export const TERMINAL_STATUSES: ReadonlySet<BatchStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export function isTerminal(status: BatchStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** The emissions that start a batch: the first step, or every step in parallel mode. */
export function startBatch(record: BatchRecord, now: string): BatchEmission[] {
  record.status = 'running';
  record.updatedAt = now;
  if (record.total === 0) {
    end(record, 'succeeded', now); // like an empty Laravel batch: nothing to run, so it succeeded
    return endEmissions(record);
  }
  if (record.mode === 'parallel') return record.jobs.map((_, index) => stepEmission(record, index));
  return [stepEmission(record, 0)];
}

/**
 * Records a step's final outcome. Returns what to fire, or `undefined` when the outcome changes
 * nothing: a duplicate, a step out of turn, or a batch that has already ended.
 */
export function recordStepOutcome(
  record: BatchRecord,
  index: number,
  outcome: StepOutcome,
  now: string,
): BatchEmission[] | undefined {
  if (record.status !== 'running' || record.settled.includes(index) || index < 0 || index >= record.total) {
    return undefined;
  }
  if (record.mode === 'sequential' && index !== record.completed) return undefined;
  record.settled.push(index);
  record.updatedAt = now;
  if (outcome.ok) record.completed++;
  else record.failed++;

  const emissions: BatchEmission[] = [];
  const tooManyFailures = record.failed > (record.mode === 'sequential' ? 0 : record.allowFailures);
  if (!outcome.ok && tooManyFailures) {
    const job = record.jobs[index]!;
    end(record, 'failed', now, { reason: 'failed', job: { event: job.event, index }, error: outcome.error });
    return [...emissions, ...endEmissions(record)];
  }
  emissions.push(...progressEmission(record));
  if (record.completed + record.failed === record.total) {
    end(record, 'succeeded', now);
    emissions.push(...endEmissions(record));
  } else if (record.mode === 'sequential') {
    emissions.push(stepEmission(record, index + 1));
  }
  return emissions;
}

/** Cancels a batch that has not ended: no further steps, then `catch` (reason `cancelled`) and `finally`. */
export function cancelBatch(record: BatchRecord, now: string): BatchEmission[] | undefined {
  if (isTerminal(record.status)) return undefined;
  end(record, 'cancelled', now, {
    reason: 'cancelled',
    error: { code: 'cancelled', message: 'batch cancelled' },
  });
  return endEmissions(record);
}

function end(record: BatchRecord, status: BatchStatus, now: string, failure?: BatchFailure): void {
  record.status = status;
  record.updatedAt = now;
  record.finishedAt = now;
  if (failure) record.failure = failure;
}

function stepEmission(record: BatchRecord, index: number): BatchEmission {
  const job = record.jobs[index]!;
  return {
    key: `step:${index}`,
    kind: 'step',
    event: job.event,
    payload: job.payload,
    batch: { id: record.id, index, total: record.total, mode: record.mode },
  };
}

function progressEmission(record: BatchRecord): BatchEmission[] {
  if (!record.lifecycle.progressEvent) return [];
  const done = record.completed + record.failed;
  return [
    {
      key: `progress:${done}`,
      kind: 'progress',
      event: record.lifecycle.progressEvent,
      payload: {
        ...record.shared,
        batch_id: record.id,
        completed: record.completed,
        total: record.total,
        percent: Math.floor((done * 100) / record.total),
        ...(record.failed > 0 ? { failed: record.failed } : {}),
      },
    },
  ];
}

function endEmissions(record: BatchRecord): BatchEmission[] {
  const emissions: BatchEmission[] = [];
  const counts = { completed: record.completed, failed: record.failed, total: record.total };
  if (record.status === 'succeeded' && record.lifecycle.thenEvent) {
    emissions.push({
      key: 'then',
      kind: 'then',
      event: record.lifecycle.thenEvent,
      payload: { ...record.shared, batch_id: record.id, ...counts },
    });
  }
  if (record.failure && record.lifecycle.catchEvent) {
    const { failure } = record;
    emissions.push({
      key: 'catch',
      kind: 'catch',
      event: record.lifecycle.catchEvent,
      payload: {
        ...record.shared,
        batch_id: record.id,
        reason: failure.reason,
        failed_job: failure.job ? { event: failure.job.event, index: failure.job.index } : null,
        error: { code: failure.error.code, message: failure.error.message },
        ...counts,
      },
    });
  }
  if (record.lifecycle.finallyEvent) {
    emissions.push({
      key: 'finally',
      kind: 'finally',
      event: record.lifecycle.finallyEvent,
      payload: { ...record.shared, batch_id: record.id, status: record.status, ...counts },
    });
  }
  return emissions;
}
