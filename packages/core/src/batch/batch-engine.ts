import { randomUUID } from 'node:crypto';
import type {
  BatchEmission,
  BatchJob,
  BatchLifecycle,
  BatchMeta,
  BatchMode,
  BatchRecord,
  BatchStore,
  StepOutcome,
} from '@thrun/contract';
import { assertEventName, assertQueueName, type JsonObject, ValidationError } from '@thrun/contract';
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

/**
 * Runs batches: creates them, turns each step's final outcome into the next step and the lifecycle
 * events, and publishes what the store decided. All decisions are the store's atomic transitions;
 * the engine only carries them out.
 */
export class BatchEngine {
  constructor(
    private readonly store: BatchStore,
    private readonly publish: BatchPublisher,
  ) {}

  async dispatch(spec: BatchSpec): Promise<string> {
    const record = createRecord(spec);
    await this.emit(record.id, record.queue, await this.store.create(record));
    return record.id;
  }

  /** Called by the worker once a step reached its final outcome, before the step's message is settled. */
  async recordStep(batch: BatchMeta, outcome: StepOutcome): Promise<boolean> {
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
