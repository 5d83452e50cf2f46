import type { BatchStore, Transport } from '@thrun/contract';
import type { ThrunHooks } from './hooks.js';
import type { ThrunLogger } from './logger.js';

export interface RetryOptions {
  /** Deliveries in total, the first included, before a failing message is dead-lettered. Default: 5. */
  maxAttempts?: number;
  /** Delay before the first retry; each next retry doubles it. Default: 1,000. */
  backoffMs?: number;
  /** The longest delay between two attempts. Default: 60,000. */
  maxBackoffMs?: number;
  /**
   * `true` (default) draws each delay uniformly from `[delay, 2·delay]` and then caps it at
   * `maxBackoffMs`, so it lies in `[delay, min(2·delay, maxBackoffMs)]`: never shorter than
   * configured, never longer than the cap. `false` uses the exact delay.
   */
  jitter?: boolean;
}

export interface LimitOptions {
  /** Largest encoded envelope dispatched or accepted, in bytes. Default: 1 MiB (the codec's). */
  maxPayloadBytes?: number;
  /** Deepest nesting of objects and arrays in an envelope. Default: 64 (the codec's). */
  maxDepth?: number;
}

/** What happens to a consumed event that no listener in this process matches. */
export type UnknownEventPolicy = 'dead-letter' | 'drop' | 'leave';

export interface BatchesOptions {
  /** Where batch state lives. Default: a `MemoryBatchStore` (this process only). */
  store?: BatchStore;
  /**
   * Also record steps run by workers that cannot record them (other runtimes, or Thrun processes that
   * do not share this store), which report their outcome with the `thrun.batch.step_succeeded` /
   * `thrun.batch.step_failed` events. The steps this bus dispatches then carry `meta.batch.report_to`:
   * the queue those events route to here, which this bus consumes. Default: false.
   */
  acceptReports?: boolean;
  /**
   * How often each started process runs the outbox sweep. A crashed worker's unpublished events go
   * out within the store's `claimTtlMs` plus this. Default: 1,000.
   */
  sweepIntervalMs?: number;
  /**
   * A step's run lease: while one run of a step holds it (renewed every third of it), another copy
   * of the step's message waits (its delivery is retried). After a crash mid-step, the step runs
   * again once the lease expired. Default: 30,000.
   */
  stepLeaseMs?: number;
  /** `batches.get()` reports a running batch as `stalled` after this long without any step activity. Default: 15 minutes. */
  stalledAfterMs?: number;
}

export interface ThrunOptions {
  /** Where events travel. Default: a private `memoryTransport()` (this process only). */
  transport?: Transport;
  /** `meta.source` of every dispatched event: this service's name. Default: `node`. */
  source?: string;
  /** The queue of events no route claims. Default: `events`. */
  queue?: string;
  /** Event patterns to queues, first match wins: `{ 'billing.*': 'billing' }`. */
  routes?: Readonly<Record<string, string>>;
  /** The consumer group this process joins on each queue. Default: `default`. */
  group?: string;
  retry?: RetryOptions;
  /** Handlers running at once, per consumed queue. Default: 10. */
  concurrency?: number;
  /** Default: `dead-letter`, so that nothing is lost. `leave` puts it back for another consumer. */
  unknownEvents?: UnknownEventPolicy;
  limits?: LimitOptions;
  /**
   * In-process `publish`/`call` check the payload the way the wire would (plain JSON, depth) when
   * true (default). False skips the walk: handlers get the object as given.
   */
  validateInProcess?: boolean;
  logger?: ThrunLogger;
  hooks?: ThrunHooks;
  /** How long `stop()` waits for in-flight handlers before aborting their signals. Default: 10,000. */
  drainTimeoutMs?: number;
  /** Stop gracefully on SIGTERM and SIGINT (true), or on the signals listed. Default: false. */
  handleSignals?: boolean | readonly NodeJS.Signals[];
  /** The batch engine's store and options. Default: batch state in this process's memory. */
  batches?: BatchesOptions;
}

export interface StopOptions {
  /** Overrides `ThrunOptions.drainTimeoutMs` for this stop. */
  drainTimeoutMs?: number;
}
