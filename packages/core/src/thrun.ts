import { decodeEnvelope, type JsonObject, type Transport } from '@thrun/contract';
import type { BatchBuilder } from './batch/batch-builder.js';
import type { BatchOptions } from './batch/batch-engine.js';
import { attachBatches, type Batches } from './batch/batches.js';
import type { BulkItem, DispatchFunction } from './context.js';
import { Context, type ContextScope } from './context-impl.js';
import { createDeadLetters, type DeadLetters } from './dead-letters.js';
import { type DiscoverOptions, type DiscoveryReport, discoverListeners } from './discover.js';
import { createDispatcher } from './dispatch/dispatcher.js';
import type { EventTarget } from './event-class.js';
import { createInProcessDispatch } from './in-process/in-process.js';
import { exposeIntercept } from './internal/intercept.js';
import { type Handler, type ListenerOptions, ListenerRegistry } from './listeners.js';
import type { StopOptions, ThrunOptions } from './options.js';
import { resolveOptions } from './resolve-options.js';
import { StatsCollector, type ThrunStats } from './stats.js';
import { createSubscriptions, type ThrunSubscription } from './subscriptions.js';
import { Worker } from './worker.js';

/** The bus returned by `createThrun`. */
export interface Thrun {
  readonly transport: Transport;
  readonly source: string;
  /** Whether `start()` ran and `stop()` has not. */
  readonly running: boolean;

  /**
   * Dispatches an event through the transport. Validates the name and payload and encodes before
   * anything is sent (a `ValidationError` or `PayloadTooLargeError` otherwise); resolves with the
   * new `meta.event_id` once the transport accepted the message.
   */
  readonly event: DispatchFunction;
  /** Dispatches several events, validated together first, in one `publish` call per queue. */
  events(items: readonly BulkItem[]): Promise<string[]>;

  /**
   * Runs every in-process listener of the event, all of them even when some fail, and rejects with an
   * `AggregateError` of every failure. Listeners are those registered when the call started.
   * Nothing goes through the transport.
   */
  publish(target: EventTarget, payload?: object): Promise<void>;
  publish(job: object): Promise<void>;
  /** Runs the in-process listeners one after another and rejects with the first failure, running no more. */
  call(target: EventTarget, payload?: object): Promise<void>;
  call(job: object): Promise<void>;
  /**
   * `publish` without a promise: runs every listener on the caller's stack and throws the
   * `AggregateError` of every failure, so a dispatch costs no microtask. For synchronous listeners:
   * one that returns a promise counts as a failure, `ConfigurationError('async_listener')`, and its
   * own eventual failure goes to the logger.
   */
  publishSync(target: EventTarget, payload?: object): void;
  publishSync(job: object): void;
  /** `call` without a promise: the listeners one after another, the first failure thrown as is. */
  callSync(target: EventTarget, payload?: object): void;
  callSync(job: object): void;

  /** Listens to an event name, a pattern (`order.*`, `billing.#`) or an event class. */
  subscribe<Payload extends object = JsonObject>(
    target: EventTarget,
    handler: Handler<Payload>,
    options?: ListenerOptions,
  ): ThrunSubscription;
  /** Wires up `@ThrunEventListener` classes (one instance each). A class registered twice counts once. */
  register(...classes: Function[]): ThrunSubscription[];
  /** Imports the modules directly inside `dirUrl` and registers the listeners they export. */
  discover(dirUrl: URL | string, options?: DiscoverOptions): Promise<DiscoveryReport>;

  /** Consumes every queue that has listeners (and those that get one later) until `stop()`. */
  start(): Promise<void>;
  /**
   * Stops fetching, waits for in-flight handlers up to the drain deadline, then aborts their signals;
   * what did not finish is released to the transport, to be delivered again. Idempotent.
   */
  stop(options?: StopOptions): Promise<void>;
  /** `stop()`, then closes the transport. */
  close(options?: StopOptions): Promise<void>;

  /** Counters and handler latency per event name. */
  stats(): ThrunStats;
  /** List, inspect, replay and purge dead-lettered messages. */
  readonly deadLetters: DeadLetters;

  /**
   * A batch of jobs, run one after another (or all at once with `mode: 'parallel'`), whose lifecycle
   * is reported as events: `await thrun.batch(jobs).then('order.success').catch('order.failed')
   * .finally('order.finished').progress('order.progress')` dispatches it and yields its id.
   */
  batch(jobs: readonly object[], options?: BatchOptions): BatchBuilder;
  /** Status and cancellation of batches. */
  readonly batches: Batches;
}

/**
 * Makes a bus: checks the options (a `ConfigurationError` for one out of range), then wires the
 * parts together. Nothing is consumed until `start()`.
 */
export function createThrun(options: ThrunOptions = {}): Thrun {
  const settings = resolveOptions(options);
  const { transport, source, logger, router, codecLimits } = settings;
  const registry = new ListenerRegistry();
  const stats = new StatsCollector();

  const { dispatch, dispatchMany } = createDispatcher({ ...settings, stats });
  const scope: ContextScope = {
    dispatchFrom: (parent, args) => dispatch(args, parent),
    dispatchManyFrom: (parent, items) => dispatchMany(items, parent),
    source,
    maxAttempts: settings.retry.maxAttempts,
    logger,
  };
  const inProcess = createInProcessDispatch({
    registry,
    scope,
    validate: settings.validateInProcess,
    maxDepth: codecLimits.maxDepth,
  });
  const { subscribe, register } = createSubscriptions(registry);

  const worker = new Worker({
    ...settings,
    registry,
    stats,
    decode: (bytes) => decodeEnvelope(bytes, codecLimits),
    makeContext: (envelope, delivery, signal) =>
      new Context(scope, envelope.event, envelope.payload, envelope, {
        attempt: delivery.attempt,
        queue: delivery.queue,
        signal,
      }),
  });
  const intercept = worker.intercept.bind(worker);

  const batching = attachBatches(
    {
      events: (items) => dispatchMany(items),
      queueFor: (event) => router.queueFor(event),
      subscribe: (event, handler) => subscribe(event, handler as Handler<never>),
      intercept,
      logger,
    },
    settings.batches,
  );

  const stop = async (stopOptions?: StopOptions) => {
    await worker.stop(stopOptions?.drainTimeoutMs);
    await batching.stop();
  };

  const thrun: Thrun = {
    transport,
    source,
    get running() {
      return worker.running;
    },
    event: ((...args: unknown[]) => dispatch(args)) as DispatchFunction,
    events: (items) => dispatchMany(items),
    publish: inProcess.publish,
    call: inProcess.call,
    publishSync: inProcess.publishSync,
    callSync: inProcess.callSync,
    subscribe: subscribe as Thrun['subscribe'],
    register,
    discover: (dirUrl, discoverOptions) =>
      discoverListeners(dirUrl, { subscribe, register }, discoverOptions),
    start: async () => {
      await worker.start();
      batching.start();
    },
    stop,
    close: async (stopOptions) => {
      await stop(stopOptions);
      await transport.close(
        stopOptions?.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: stopOptions.drainTimeoutMs },
      );
    },
    stats: () => stats.snapshot(),
    deadLetters: createDeadLetters({
      transport,
      defaultQueue: router.defaultQueue,
      group: settings.group,
      logger,
      limits: codecLimits,
    }),
    batch: batching.batch,
    batches: batching.batches,
  };
  exposeIntercept(thrun, intercept);
  return thrun;
}
