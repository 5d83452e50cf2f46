import {
  type BatchFailure,
  type BatchMeta,
  type BatchMode,
  type BatchStatus,
  type BatchStore,
  type Envelope,
  type JsonObject,
  ValidationError,
} from '@thrun/contract';
import type { BulkItem } from '../context.js';
import { toJob } from '../event-class.js';
import type { WorkerInterceptor } from '../worker.js';
import { BatchBuilder } from './batch-builder.js';
import { BatchEngine, type BatchOptions } from './batch-engine.js';
import { MemoryBatchStore } from './memory-batch-store.js';

/** Where the report events of foreign workers arrive (schemas/batch-step-report.schema.json). */
export const STEP_SUCCEEDED_EVENT = 'thrun.batch.step_succeeded';
export const STEP_FAILED_EVENT = 'thrun.batch.step_failed';

export interface BatchesOptions {
  /** Where batch state lives. Default: a `MemoryBatchStore` (this process only). */
  store?: BatchStore;
  /**
   * Also record steps run by workers in other runtimes, which report their outcome with the
   * `thrun.batch.step_succeeded` / `thrun.batch.step_failed` events. Default: false.
   */
  acceptReports?: boolean;
}

/** A batch as `thrun.batches.get(id)` shows it. */
export interface BatchStatusView {
  id: string;
  name?: string;
  mode: BatchMode;
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  /** floor(100 × (completed + failed) / total); 100 for an empty batch. */
  percent: number;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  failure?: BatchFailure;
}

export interface Batches {
  get(id: string): Promise<BatchStatusView | undefined>;
  /** Stops further steps and fires `catch` (reason `cancelled`) and `finally`. False if it had already ended. */
  cancel(id: string): Promise<boolean>;
}

/** What the batch engine needs from the bus. */
export interface BatchBus {
  events(items: readonly BulkItem[]): Promise<string[]>;
  subscribe(event: string, handler: (payload: JsonObject) => Promise<void>): unknown;
  intercept(interceptor: WorkerInterceptor): () => void;
}

/**
 * Wires the batch engine into a bus: steps and lifecycle events are dispatched as ordinary events,
 * and the worker tells the engine each step's final outcome before the step's message is settled.
 */
export function attachBatches(bus: BatchBus, options: BatchesOptions = {}) {
  const engine = new BatchEngine(options.store ?? new MemoryBatchStore(), (publications, queue) =>
    bus
      .events(
        publications.map((p) => ({
          event: p.event,
          payload: p.payload,
          options: {
            eventId: p.eventId,
            ...(p.batch ? { meta: { batch: p.batch } } : {}),
            ...(queue === undefined ? {} : { queue }),
          },
        })),
      )
      .then(() => undefined),
  );

  bus.intercept({
    async beforeHandle({ envelope }) {
      const step = stepOf(envelope);
      if (!step) return 'run';
      const record = await engine.get(step.id);
      if (!record) return 'run'; // a batch this store does not know: an ordinary event here
      if (record.settled.includes(step.index)) {
        // A duplicate delivery of a finished step: never run it twice, but publish anything its
        // first delivery decided and did not get out (a crash between recording and publishing).
        await engine.recordStep(step, { ok: true });
        return 'skip';
      }
      return record.status === 'running' ? 'run' : 'skip';
    },
    async beforeSettle(outcome) {
      const step = stepOf(outcome.envelope);
      if (!step || outcome.status === 'retrying') return;
      await engine.recordStep(
        step,
        outcome.status === 'handled' ? { ok: true } : { ok: false, error: { ...outcome.reason } },
      );
    },
  });

  if (options.acceptReports) {
    bus.subscribe(STEP_SUCCEEDED_EVENT, async (payload) => {
      await engine.recordStep(readReport(payload), { ok: true });
    });
    bus.subscribe(STEP_FAILED_EVENT, async (payload) => {
      const error = payload.error as { code?: unknown; message?: unknown } | undefined;
      if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
        throw new ValidationError(
          'schema_violation',
          '[thrun:core] a step_failed report needs error {code, message}',
        );
      }
      await engine.recordStep(readReport(payload), {
        ok: false,
        error: { code: error.code, message: error.message },
      });
    });
  }

  const batches: Batches = {
    async get(id) {
      const record = await engine.get(id);
      if (!record) return undefined;
      const {
        jobs: _jobs,
        settled: _settled,
        lifecycle: _lifecycle,
        shared: _shared,
        allowFailures: _a,
        queue: _q,
        ...view
      } = record;
      const done = record.completed + record.failed;
      return { ...view, percent: record.total === 0 ? 100 : Math.floor((done * 100) / record.total) };
    },
    cancel: (id) => engine.cancel(id),
  };

  function batch(jobs: readonly object[], batchOptions: BatchOptions = {}): BatchBuilder {
    if (!Array.isArray(jobs)) {
      throw new ValidationError('invalid_payload', '[thrun:core] batch() takes an array of jobs');
    }
    const resolved = jobs.map(toJob);
    return new BatchBuilder((lifecycle) => engine.dispatch({ ...batchOptions, jobs: resolved, lifecycle }));
  }

  return { batch, batches };
}

function stepOf(envelope: Envelope): BatchMeta | undefined {
  const batch = envelope.meta?.batch;
  return batch && typeof batch.id === 'string' && Number.isInteger(batch.index) ? batch : undefined;
}

function readReport(payload: JsonObject): BatchMeta {
  const { batch_id: id, index } = payload;
  if (typeof id !== 'string' || typeof index !== 'number' || !Number.isInteger(index)) {
    throw new ValidationError('schema_violation', '[thrun:core] a step report needs batch_id and index');
  }
  return { id, index, total: 0 };
}
