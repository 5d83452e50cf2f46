import { randomUUID } from 'node:crypto';
import type {
  BatchEmission,
  BatchJob,
  BatchLifecycle,
  BatchListOptions,
  BatchMeta,
  BatchMode,
  BatchRecord,
  BatchStore,
  StepOutcome,
} from '@thrun/contract';
import {
  assertEventName,
  assertQueueName,
  ConfigurationError,
  type JsonObject,
  type StepStart,
  sleep,
  ThrunError,
  ValidationError,
} from '@thrun/contract';
import { batchEventId } from './event-id.js';

/** An event the engine asks the bus to publish, with its stable id and, for steps, `meta.batch`. */
export interface BatchPublication {
  event: string;
  payload: JsonObject;
  eventId: string;
  batch?: BatchMeta;
}

/** Publishes in one transport call; resolves once the transport accepted every event. */
export type BatchPublisher = (publications: BatchPublication[], queue: string | undefined) => Promise<void>;

export interface BatchOptions {
  /** `sequential` (default): step n+1 starts after step n succeeded. `parallel`: all at once. */
  mode?: BatchMode;
  /** Parallel mode: failed steps tolerated before the batch fails. Default: 0. */
  allowFailures?: number;
  /** A name for people reading `batches.get()`. */
  name?: string;
  /** Merged into every lifecycle event's payload, e.g. `{ order_id: 1 }`. */
  shared?: JsonObject;
  /** The queue for steps and lifecycle events. Default: the bus's routing. */
  queue?: string;
}

export interface BatchSpec extends BatchOptions {
  jobs: BatchJob[];
  lifecycle: BatchLifecycle;
}

export interface BatchEngineOptions {
  /** How often this process runs the outbox sweep while started. Default: 1,000. */
  sweepIntervalMs?: number;
  /** A step's run lease; renewed every third of it while the step runs. Default: 30,000. */
  stepLeaseMs?: number;
  /** Told about a sweep or a lease renewal that failed (the next attempt follows on its own). */
  onError?: (message: string, error: unknown) => void;
}

/** Batches handed out by one sweep call, at most. */
const SWEEP_LIMIT = 100;

/** A step delivered while another run of it holds its lease: the delivery is retried later. */
export class StepBusyError extends ThrunError {
  constructor(batch: BatchMeta) {
    super(
      'batch_step_busy',
      `[thrun:core] step ${batch.index} of batch ${batch.id} is running elsewhere; retrying this copy later`,
    );
  }
}

/**
 * Runs batches: creates them, turns each step's final outcome into the next step and the lifecycle
 * events, and publishes what the store decided. All decisions are the store's atomic transitions;
 * the engine only carries them out. While started it sweeps the store's outbox, so what a dead worker
 * decided and never published goes out within `claimTtlMs + sweepIntervalMs`.
 */
export class BatchEngine {
  private readonly sweepIntervalMs: number;
  readonly stepLeaseMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** Leases this process holds: `<batch id>:<index>` → its token and renewal timer. */
  private readonly leases = new Map<string, { token: string; timer: NodeJS.Timeout }>();

  constructor(
    private readonly store: BatchStore,
    private readonly publish: BatchPublisher,
    private readonly options: BatchEngineOptions = {},
  ) {
    this.sweepIntervalMs = options.sweepIntervalMs ?? 1_000;
    this.stepLeaseMs = options.stepLeaseMs ?? 30_000;
  }

  /** Starts the periodic outbox sweep (idempotent). */
  startSweeping(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => void this.sweepOnce(), this.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  /** Stops the sweep and the lease renewals of this process; waits for a sweep under way. */
  async stopSweeping(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const { timer } of this.leases.values()) clearInterval(timer);
    this.leases.clear();
    await this.sweeping;
  }

  /**
   * One outbox sweep: publishes what the store hands out as due (claims that expired with their
   * holder, released ones). Never rejects: a failure is reported and the next sweep tries again.
   */
  sweepOnce(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const due = (await this.store.claimDue(SWEEP_LIMIT)) ?? [];
        for (const { id, queue, emissions } of due) {
          await this.emit(id, queue, emissions).catch((error) =>
            this.options.onError?.(`publishing the due emissions of batch ${id} failed`, error),
          );
        }
      } catch (error) {
        this.options.onError?.('the batch outbox sweep failed', error);
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  /**
   * Takes the run lease of a step before it runs, and keeps renewing it until `recordStep` or
   * `abandonStep`. While another run holds it, waits (polling) up to two lease lengths for that run
   * to finish or its lease to lapse, then throws `StepBusyError`. Waiting here rather than sending
   * the copy back to the queue matters: every trip back counts a delivery attempt, and enough of them
   * would dead-letter, as past `maxAttempts`, a step that never failed.
   */
  async startStep(batch: BatchMeta, token: string): Promise<Exclude<StepStart, 'busy'>> {
    const deadline = Date.now() + 2 * this.stepLeaseMs;
    let start = await this.store.startStep(batch.id, batch.index, token, this.stepLeaseMs);
    while (start === 'busy' && Date.now() < deadline) {
      await sleep(Math.min(this.stepLeaseMs / 4, 1_000));
      start = await this.store.startStep(batch.id, batch.index, token, this.stepLeaseMs);
    }
    if (start === 'busy') throw new StepBusyError(batch);
    if (start !== 'run') return start;
    const key = `${batch.id}:${batch.index}`;
    const timer = setInterval(() => {
      this.store.renewStep(batch.id, batch.index, token, this.stepLeaseMs).then(
        (held) => {
          if (!held) this.dropLease(key, token);
        },
        (error) => this.options.onError?.(`renewing the lease of step ${key} failed`, error),
      );
    }, this.stepLeaseMs / 3);
    timer.unref();
    this.dropLease(key);
    this.leases.set(key, { token, timer });
    return 'run';
  }

  /** Gives a step's lease back without an outcome (it will be retried). */
  async abandonStep(batch: BatchMeta, token: string): Promise<void> {
    this.dropLease(`${batch.id}:${batch.index}`, token);
    await this.store.releaseStep(batch.id, batch.index, token);
  }

  private dropLease(key: string, token?: string): void {
    const lease = this.leases.get(key);
    if (!lease || (token !== undefined && lease.token !== token)) return;
    clearInterval(lease.timer);
    this.leases.delete(key);
  }

  async dispatch(spec: BatchSpec): Promise<string> {
    const record = createRecord(spec);
    await this.emit(record.id, record.queue, await this.store.create(record));
    return record.id;
  }

  /** Called by the worker once a step reached its final outcome, before the step's message is settled. */
  async recordStep(batch: BatchMeta, outcome: StepOutcome): Promise<boolean> {
    this.dropLease(`${batch.id}:${batch.index}`);
    const transition = await this.store.recordStep(batch.id, batch.index, outcome);
    await this.emit(batch.id, transition.record?.queue, transition.emissions);
    return transition.applied;
  }

  /** Stops further steps and fires `catch` (reason `cancelled`) and `finally`. False if it had ended. */
  async cancel(id: string): Promise<boolean> {
    const transition = await this.store.cancel(id);
    await this.emit(id, transition.record?.queue, transition.emissions);
    return transition.applied;
  }

  get(id: string): Promise<BatchRecord | undefined> {
    return this.store.get(id);
  }

  /** The store's batches, newest first; a store without `list` cannot answer. */
  list(options?: BatchListOptions): Promise<BatchRecord[]> {
    if (!this.store.list) {
      throw new ConfigurationError(
        'unsupported_feature',
        '[thrun:core] the batch store has no list(), which listing batches needs',
      );
    }
    return this.store.list(options);
  }

  /** Whether a step of this batch should still run (a cancelled or failed batch runs nothing more). */
  async isRunning(id: string): Promise<boolean> {
    return (await this.store.get(id))?.status === 'running';
  }

  private async emit(id: string, queue: string | undefined, emissions: BatchEmission[]): Promise<void> {
    if (emissions.length === 0) return;
    const keys = emissions.map((emission) => emission.key);
    try {
      await this.publish(
        emissions.map((emission) => ({
          event: emission.event,
          payload: emission.payload,
          eventId: batchEventId(id, emission.key),
          ...(emission.batch ? { batch: emission.batch } : {}),
        })),
        queue,
      );
    } catch (error) {
      await this.store.release(id, keys);
      throw error;
    }
    await this.store.markEmitted(id, keys);
  }
}

function createRecord(spec: BatchSpec): BatchRecord {
  const mode = spec.mode ?? 'sequential';
  if (mode !== 'sequential' && mode !== 'parallel') {
    throw new ValidationError('invalid_payload', `[thrun:core] unknown batch mode ${JSON.stringify(mode)}`);
  }
  const allowFailures = spec.allowFailures ?? 0;
  if (!Number.isInteger(allowFailures) || allowFailures < 0) {
    throw new ValidationError('invalid_payload', '[thrun:core] allowFailures must be a non-negative integer');
  }
  for (const job of spec.jobs) assertEventName(job.event);
  for (const name of Object.values(spec.lifecycle)) if (name !== undefined) assertEventName(name);
  if (spec.queue !== undefined) assertQueueName(spec.queue);
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    ...(spec.name === undefined ? {} : { name: spec.name }),
    mode,
    status: 'pending',
    jobs: spec.jobs,
    total: spec.jobs.length,
    completed: 0,
    failed: 0,
    allowFailures,
    ...(spec.queue === undefined ? {} : { queue: spec.queue }),
    lifecycle: spec.lifecycle,
    shared: spec.shared ?? {},
    createdAt: now,
    updatedAt: now,
    settled: [],
  };
}
