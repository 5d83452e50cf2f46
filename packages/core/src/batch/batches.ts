import { randomUUID } from 'node:crypto';
import {
  type BatchFailure,
  type BatchListOptions,
  type BatchMeta,
  type BatchMode,
  type BatchRecord,
  type BatchStatus,
  ConfigurationError,
  type Envelope,
  isEventName,
  type JsonObject,
  ValidationError,
} from '@thrun/contract';
import type { BulkItem } from '../context.js';
import { toJob } from '../event-class.js';
import type { ThrunLogger } from '../logger.js';
import type { BatchesOptions } from '../options.js';
import type { DeliveryOutcome, WorkerInterceptor } from '../worker.js';
import { BatchBuilder } from './batch-builder.js';
import { BatchEngine, type BatchOptions } from './batch-engine.js';
import { MemoryBatchStore } from './memory-batch-store.js';

/** Where the report events of foreign workers arrive (schemas/batch-step-report.schema.json). */
export const STEP_SUCCEEDED_EVENT = 'thrun.batch.step_succeeded';
export const STEP_FAILED_EVENT = 'thrun.batch.step_failed';

export const DEFAULT_STALLED_AFTER_MS = 15 * 60_000;

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
  /**
   * Running, yet no step started, renewed its lease or recorded an outcome for `stalledAfterMs`: a step
   * was lost (dead-lettered outside a Thrun worker, a purged queue) or its queue is far behind.
   */
  stalled: boolean;
}

export interface Batches {
  get(id: string): Promise<BatchStatusView | undefined>;
  /**
   * The batches the store holds (running, and finished within their retention), newest first. Needs
   * a store with `list` (the memory and Redis stores have it); otherwise rejects with
   * `ConfigurationError('unsupported_feature')`.
   */
  list(options?: BatchListOptions): Promise<BatchStatusView[]>;
  /** Stops further steps and fires `catch` (reason `cancelled`) and `finally`. False if it had already ended. */
  cancel(id: string): Promise<boolean>;
}

/** What the batch engine needs from the bus. */
export interface BatchBus {
  events(items: readonly BulkItem[]): Promise<string[]>;
  /** The queue an event of this name is dispatched to (the bus's routes). */
  queueFor(event: string): string;
  subscribe(event: string, handler: (payload: JsonObject) => Promise<void>): unknown;
  intercept(interceptor: WorkerInterceptor): () => void;
  logger?: ThrunLogger;
}

/**
 * Wires the batch engine into a bus: steps and lifecycle events are dispatched as ordinary events,
 * and the worker tells the engine each step's final outcome before the step's message is settled.
 */
export function attachBatches(bus: BatchBus, options: BatchesOptions = {}) {
  const stalledAfterMs = options.stalledAfterMs ?? DEFAULT_STALLED_AFTER_MS;
  // Where the steps this bus dispatches ask for reports: the queue its own report listeners consume.
  const reportTo = options.acceptReports ? reportQueue(bus) : undefined;
  const engine = new BatchEngine(
    options.store ?? new MemoryBatchStore(),
    (publications, queue) =>
      bus
        .events(
          publications.map((p) => ({
            event: p.event,
            payload: p.payload,
            options: {
              eventId: p.eventId,
              ...(p.batch
                ? { meta: { batch: reportTo ? { ...p.batch, report_to: reportTo } : p.batch } }
                : {}),
              ...(queue === undefined ? {} : { queue }),
            },
          })),
        )
        .then(() => undefined),
    {
      ...(options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs }),
      ...(options.stepLeaseMs === undefined ? {} : { stepLeaseMs: options.stepLeaseMs }),
      onError: (message, error) =>
        bus.logger?.warn(message, { error: error instanceof Error ? error.message : String(error) }),
    },
  );
  // The lease token of each step delivery this process runs, from beforeHandle to beforeSettle.
  const leaseTokens = new WeakMap<Envelope, string>();
  // The step deliveries of batches this store does not know, whose engine asked for a report.
  const toReport = new WeakMap<Envelope, string>();

  // Every delivery passes here; one that is no batch step costs a property read (the worker awaits
  // nothing that is not a promise).
  bus.intercept({
    beforeHandle({ envelope }) {
      const step = stepOf(envelope);
      return step ? decideStep(step, envelope) : 'run';
    },
    beforeSettle(outcome) {
      const step = stepOf(outcome.envelope);
      if (!step) return;
      const reportQueue = toReport.get(outcome.envelope);
      if (reportQueue !== undefined) {
        return outcome.status === 'retrying' ? undefined : report(outcome, step, reportQueue);
      }
      if (outcome.status === 'retrying') {
        const token = leaseTokens.get(outcome.envelope);
        return token === undefined ? undefined : engine.abandonStep(step, token);
      }
      return engine
        .recordStep(
          step,
          outcome.status === 'handled' ? { ok: true } : { ok: false, error: { ...outcome.reason } },
        )
        .then(() => undefined);
    },
  });

  async function decideStep(step: BatchMeta, envelope: Envelope): Promise<'run' | 'skip'> {
    const token = randomUUID();
    // Waits while another run holds the step; throws StepBusyError if it still does after two lease
    // lengths, and the worker retries this copy later.
    const start = await engine.startStep(step, token);
    if (start === 'unknown') {
      // A batch this store does not know: run it as an ordinary event, and report its outcome to the
      // engine that dispatched it, when that engine asked for reports (schemas/batch.md).
      // A report_to that is no queue name would fail every report and loop the step: ignored.
      if (isEventName(step.report_to)) toReport.set(envelope, step.report_to);
      return 'run';
    }
    if (start === 'settled') {
      // A duplicate delivery of a finished step: never run it again, but publish anything its first
      // delivery decided and did not get out, if its claim expired (the sweep would do it too).
      await engine.recordStep(step, { ok: true });
      return 'skip';
    }
    if (start === 'ended') return 'skip';
    leaseTokens.set(envelope, token);
    return 'run';
  }

  /** A step's final outcome, as a worker of another runtime reports it (batch-step-report.schema.json). */
  async function report(outcome: DeliveryOutcome, step: BatchMeta, queue: string): Promise<void> {
    const meta = outcome.envelope.meta;
    const correlationId = meta?.correlation_id;
    const options = {
      queue,
      ...(meta ? { causationId: meta.event_id } : {}),
      ...(typeof correlationId === 'string' ? { correlationId } : {}),
    };
    const ids = { batch_id: step.id, index: step.index };
    await bus.events([
      outcome.status === 'dead-lettered'
        ? {
            event: STEP_FAILED_EVENT,
            payload: { ...ids, error: { code: outcome.reason.code, message: outcome.reason.message } },
            options,
          }
        : { event: STEP_SUCCEEDED_EVENT, payload: ids, options },
    ]);
  }

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

  function toView(record: BatchRecord): BatchStatusView {
    const {
      jobs: _jobs,
      settled: _settled,
      lifecycle: _lifecycle,
      shared: _shared,
      allowFailures: _a,
      queue: _q,
      ...view
    } = record;
    const { activeAt, ...shown } = view;
    const done = record.completed + record.failed;
    const lastActivity = Math.max(Date.parse(record.updatedAt), activeAt ? Date.parse(activeAt) : 0);
    return {
      ...shown,
      percent: record.total === 0 ? 100 : Math.floor((done * 100) / record.total),
      stalled: record.status === 'running' && Date.now() - lastActivity > stalledAfterMs,
    };
  }

  const batches: Batches = {
    async get(id) {
      const record = await engine.get(id);
      return record && toView(record);
    },
    list: async (listOptions) => (await engine.list(listOptions)).map(toView),
    cancel: (id) => engine.cancel(id),
  };

  function batch(jobs: readonly object[], batchOptions: BatchOptions = {}): BatchBuilder {
    if (!Array.isArray(jobs)) {
      throw new ValidationError('invalid_payload', '[thrun:core] batch() takes an array of jobs');
    }
    const resolved = jobs.map(toJob);
    return new BatchBuilder((lifecycle) => engine.dispatch({ ...batchOptions, jobs: resolved, lifecycle }));
  }

  return {
    batch,
    batches,
    /** Starts the outbox sweep of this process (with the worker). */
    start: () => engine.startSweeping(),
    stop: () => engine.stopSweeping(),
  };
}

/** The one queue both report events route to on this bus; reports must not be split. */
function reportQueue(bus: BatchBus): string {
  const queue = bus.queueFor(STEP_SUCCEEDED_EVENT);
  if (bus.queueFor(STEP_FAILED_EVENT) !== queue) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:core] ${STEP_SUCCEEDED_EVENT} and ${STEP_FAILED_EVENT} must route to one queue (acceptReports)`,
    );
  }
  return queue;
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
