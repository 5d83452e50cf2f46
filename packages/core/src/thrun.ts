import {
  assertEventName,
  assertQueueName,
  ConfigurationError,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DEPTH,
  type DeadLetterReason,
  type Delivery,
  decodeEnvelope,
  type Envelope,
  type EnvelopeMeta,
  encodeEnvelope,
  type JsonObject,
  type OutgoingMessage,
  SPEC_VERSION,
  ThrunError,
  TRANSPORT_SPECIFICATION_VERSION,
  type Transport,
  ValidationError,
} from '@thrun/contract';
import { memoryTransport } from '@thrun/transport-memory';
import type { BatchBuilder } from './batch/batch-builder.js';
import type { BatchOptions } from './batch/batch-engine.js';
import { attachBatches, type Batches, type BatchesOptions } from './batch/batches.js';
import type { BulkItem, DispatchFunction, DispatchOptions } from './context.js';
import { Context, type ContextScope } from './context-impl.js';
import { createDeadLetters, type DeadLetters } from './dead-letters.js';
import { type DiscoverOptions, type DiscoveryReport, discoverListeners } from './discover.js';
import { errorMessage } from './errors.js';
import { type EventTarget, isEventClass, toJob } from './event-class.js';
import {
  type Handler,
  type Listener,
  type ListenerOptions,
  ListenerRegistry,
  listenerDefinitionsOf,
} from './listeners.js';
import { defaultLogger, type ThrunLogger } from './logger.js';
import { Router } from './routing.js';
import { StatsCollector, type ThrunStats } from './stats.js';
import { assertPayload, assertPayloadIsObject } from './validate-payload.js';
import { type ResolvedRetry, Worker, type WorkerInterceptor } from './worker.js';

export interface RetryOptions {
  /** Deliveries in total, the first included, before a failing message is dead-lettered. Default: 5. */
  maxAttempts?: number;
  /** Delay before the first retry; each next retry doubles it. Default: 1,000. */
  backoffMs?: number;
  /** The longest delay between two attempts. Default: 60,000. */
  maxBackoffMs?: number;
  /**
   * `true` (default) spreads each delay uniformly over `[delay/2, delay]` so failures of many messages
   * do not come back in lockstep; `false` uses the exact delay.
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

/** One operation an `instrument` hook may wrap in a span. */
export interface InstrumentedOperation {
  kind: 'dispatch' | 'handle';
  /** The event name. */
  name: string;
  envelope: Envelope;
  queue: string | undefined;
  /** 1 for dispatch; the delivery attempt for handle. */
  attempt: number;
}

/**
 * Observability hooks. They run inline, so keep them cheap; an exception in a hook is logged and
 * never changes what happens to the message. `instrument` wraps each dispatch and each handled
 * delivery, which is where an OpenTelemetry span goes (`tracer.startActiveSpan(...)`); the
 * envelope's `meta.traceparent` is the parent context, and `ctx.event` carries it on.
 */
export interface ThrunHooks {
  onDispatch?(info: { envelope: Envelope; queue: string }): void;
  onHandled?(info: { envelope: Envelope; queue: string; attempt: number; durationMs: number }): void;
  onRetry?(info: {
    envelope: Envelope;
    queue: string;
    attempt: number;
    delayMs: number;
    error: unknown;
  }): void;
  onDeadLetter?(info: {
    envelope: Envelope | undefined;
    queue: string;
    attempt: number;
    reason: DeadLetterReason;
    error: unknown;
  }): void;
  /**
   * A settlement the broker refused (a dead queue that rejects writes, a lost connection). The
   * delivery stays where it is, unacknowledged, and the worker tries the same settlement again after
   * `retryInMs`; it never runs the handler again meanwhile.
   */
  onSettleError?(info: {
    envelope: Envelope | undefined;
    queue: string;
    attempt: number;
    action: SettleAction;
    error: unknown;
    retryInMs: number;
  }): void;
  instrument?<T>(operation: InstrumentedOperation, run: () => Promise<T>): Promise<T>;
}

/** What a worker asked the transport to do with a delivery. */
export type SettleAction = 'ack' | 'retry' | 'dead-letter';

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

/** A subscription made with `thrun.subscribe`. */
export interface ThrunSubscription {
  readonly pattern: string;
  /** Removes the listener. Dispatches already running keep their snapshot. Idempotent. */
  unsubscribe(): void;
}

export interface StopOptions {
  /** Overrides `ThrunOptions.drainTimeoutMs` for this stop. */
  drainTimeoutMs?: number;
}

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

const RESOLVED: Promise<void> = Promise.resolve();

/** Internal access for the engines built on the bus (the batch engine); not part of the public API. */
export const internals: unique symbol = Symbol('thrun.internals');

export interface ThrunInternals {
  readonly router: Router;
  readonly registry: ListenerRegistry;
  readonly retry: ResolvedRetry;
  readonly logger: ThrunLogger;
  /** Observes deliveries before their handlers run and before they settle; returns a remover. */
  intercept(interceptor: WorkerInterceptor): () => void;
}

export function createThrun(options: ThrunOptions = {}): Thrun & { readonly [internals]: ThrunInternals } {
  const transport = options.transport ?? memoryTransport();
  if (transport.specificationVersion !== TRANSPORT_SPECIFICATION_VERSION) {
    throw new ConfigurationError(
      'unsupported_transport_version',
      `[thrun:core] transport ${String(transport.name)} implements specification ${JSON.stringify(
        transport.specificationVersion,
      )}; this version of @thrun/core supports ${JSON.stringify(TRANSPORT_SPECIFICATION_VERSION)}`,
    );
  }
  const source = options.source ?? 'node';
  if (typeof source !== 'string' || source.length === 0) {
    throw new ConfigurationError('invalid_option', '[thrun:core] source must be a non-empty string');
  }
  const logger = options.logger ?? defaultLogger;
  const hooks = options.hooks ?? {};
  const router = new Router(options.queue ?? 'events', options.routes);
  const registry = new ListenerRegistry();
  const stats = new StatsCollector();
  const maxPayloadBytes = positive(
    'limits.maxPayloadBytes',
    options.limits?.maxPayloadBytes ?? DEFAULT_MAX_BYTES,
  );
  const maxDepth = positive('limits.maxDepth', options.limits?.maxDepth ?? DEFAULT_MAX_DEPTH);
  const codecLimits = { maxBytes: maxPayloadBytes, maxDepth };
  const retry: ResolvedRetry = {
    maxAttempts: positive('retry.maxAttempts', options.retry?.maxAttempts ?? 5),
    baseMs: nonNegative('retry.backoffMs', options.retry?.backoffMs ?? 1_000),
    maxMs: nonNegative('retry.maxBackoffMs', options.retry?.maxBackoffMs ?? 60_000),
    jitter: options.retry?.jitter === false ? 'none' : 'full',
  };
  const validateInProcess = options.validateInProcess ?? true;
  const unknownEvents = options.unknownEvents ?? 'dead-letter';
  if (!['dead-letter', 'drop', 'leave'].includes(unknownEvents)) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:core] unknownEvents must be dead-letter, drop or leave`,
    );
  }

  // ------------------------------------------------------------------------------------------------
  // Dispatch through the transport

  interface Prepared {
    envelope: Envelope;
    queue: string;
    message: OutgoingMessage;
  }

  function prepare(
    name: string,
    payload: unknown,
    dispatchOptions: DispatchOptions,
    parent?: Envelope,
  ): Prepared {
    assertEventName(name);
    // The encoder checks the rest (JSON-safe values, depth, schema, size) while it serializes.
    assertPayloadIsObject(payload);
    const parentMeta = parent?.meta;
    const meta: EnvelopeMeta = {
      ...(dispatchOptions.meta as Record<string, unknown> | undefined),
      event_id: dispatchOptions.eventId ?? crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      source,
      spec_version: SPEC_VERSION,
    };
    const correlationId = dispatchOptions.correlationId ?? parentMeta?.correlation_id ?? parentMeta?.event_id;
    const causationId = dispatchOptions.causationId ?? parentMeta?.event_id;
    const traceparent = dispatchOptions.traceparent ?? parentMeta?.traceparent;
    if (correlationId !== undefined) meta.correlation_id = correlationId;
    if (causationId !== undefined) meta.causation_id = causationId;
    if (traceparent !== undefined) meta.traceparent = traceparent;
    const envelope: Envelope = { event: name, payload: payload as JsonObject, meta };
    let body: Uint8Array;
    try {
      body = encodeEnvelope(envelope, codecLimits);
    } catch (error) {
      if (ThrunError.isInstance(error)) throw error;
      // JSON.stringify's own failures (BigInt, cycles) become the contract's error.
      throw new ValidationError(
        'invalid_payload',
        `[thrun:core] the event cannot be encoded: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    const queue = dispatchOptions.queue ?? router.queueFor(name);
    if (dispatchOptions.queue !== undefined) assertQueueName(queue);
    const message: OutgoingMessage = { body };
    if (dispatchOptions.key !== undefined) message.key = dispatchOptions.key;
    if (dispatchOptions.delayMs !== undefined && dispatchOptions.delayMs > 0) {
      if (!transport.capabilities.delay) {
        throw new ConfigurationError(
          'unsupported_feature',
          `[thrun:core] the ${transport.name} transport cannot delay messages (delayMs)`,
        );
      }
      message.delayMs = dispatchOptions.delayMs;
    }
    return { envelope, queue, message };
  }

  /** `(target, payload?, options?)` or `(job, options?)` → name, payload, options. */
  function readArgs(args: readonly unknown[]): { name: string; payload: unknown; options: DispatchOptions } {
    const [first, second, third] = args;
    if (typeof first === 'string' || isEventClass(first)) {
      return {
        name: typeof first === 'string' ? first : first.event,
        payload: second === undefined ? {} : second,
        options: (third ?? {}) as DispatchOptions,
      };
    }
    const job = toJob(first);
    return { name: job.event, payload: job.payload, options: (second ?? {}) as DispatchOptions };
  }

  function readItem(item: BulkItem): { name: string; payload: unknown; options: DispatchOptions } {
    const withOptions = item as { options?: DispatchOptions };
    const job = toJob(item);
    return { name: job.event, payload: job.payload, options: withOptions.options ?? {} };
  }

  async function send(prepared: readonly Prepared[], signal: AbortSignal | undefined): Promise<void> {
    const byQueue = new Map<string, Prepared[]>();
    for (const p of prepared) {
      const list = byQueue.get(p.queue);
      if (list) list.push(p);
      else byQueue.set(p.queue, [p]);
    }
    const publishOptions = signal ? { signal } : undefined;
    await Promise.all(
      [...byQueue].map(([queue, items]) => {
        const publish = () =>
          transport.publish(
            queue,
            items.map((p) => p.message),
            publishOptions,
          );
        const first = items[0]!;
        return hooks.instrument && items.length === 1
          ? hooks.instrument(
              { kind: 'dispatch', name: first.envelope.event, envelope: first.envelope, queue, attempt: 1 },
              publish,
            )
          : publish();
      }),
    );
    for (const p of prepared) {
      stats.of(p.envelope.event).dispatched++;
      if (hooks.onDispatch) safeHook(() => hooks.onDispatch?.({ envelope: p.envelope, queue: p.queue }));
    }
  }

  async function dispatch(args: readonly unknown[], parent?: Envelope): Promise<string> {
    const { name, payload, options: dispatchOptions } = readArgs(args);
    const prepared = prepare(name, payload, dispatchOptions, parent);
    await send([prepared], dispatchOptions.signal);
    return prepared.envelope.meta!.event_id;
  }

  async function dispatchMany(items: readonly BulkItem[], parent?: Envelope): Promise<string[]> {
    if (!Array.isArray(items)) {
      throw new ValidationError('invalid_payload', '[thrun:core] events() takes an array of jobs');
    }
    const prepared = items.map((item) => {
      const { name, payload, options: dispatchOptions } = readItem(item);
      return prepare(name, payload, dispatchOptions, parent);
    });
    if (prepared.length > 0) await send(prepared, undefined);
    return prepared.map((p) => p.envelope.meta!.event_id);
  }

  const scope: ContextScope = {
    dispatchFrom: (parent, args) => dispatch(args, parent),
    dispatchManyFrom: (parent, items) => dispatchMany(items, parent),
    source,
    maxAttempts: retry.maxAttempts,
    logger,
  };

  function safeHook(run: () => void): void {
    try {
      run();
    } catch (error) {
      logger.warn('a hook threw; ignored', { error: errorMessage(error) });
    }
  }

  // ------------------------------------------------------------------------------------------------
  // In-process dispatch

  function inProcessTarget(target: unknown, payload: unknown): { name: string; payload: JsonObject } {
    if (isEventClass(target))
      return { name: target.event, payload: (payload === undefined ? {} : payload) as JsonObject };
    const job = toJob(target);
    return { name: job.event, payload: job.payload };
  }

  function publish(target: unknown, payload?: unknown): Promise<void> {
    let name: string;
    let body: unknown;
    if (typeof target === 'string') {
      name = target;
      body = payload === undefined ? {} : payload;
    } else {
      ({ name, payload: body } = inProcessTarget(target, payload));
    }
    let listeners: readonly Listener[];
    try {
      listeners = registry.resolve(name);
      if (validateInProcess) assertPayload(body, maxDepth);
      else assertPayloadIsObject(body);
    } catch (error) {
      return Promise.reject(error);
    }
    if (listeners.length === 0) return RESOLVED;
    const ctx = new Context(scope, name, body as JsonObject, undefined, undefined);
    // Arrays only when needed: the common case (synchronous listeners that succeed) allocates nothing.
    let pending: Promise<unknown>[] | undefined;
    let errors: unknown[] | undefined;
    for (let i = 0; i < listeners.length; i++) {
      try {
        const result = listeners[i]!.invoke(body as JsonObject, ctx);
        if (result !== undefined && typeof (result as Promise<unknown>)?.then === 'function') {
          if (pending === undefined) pending = [];
          pending.push(result as Promise<unknown>);
        }
      } catch (error) {
        if (errors === undefined) errors = [];
        errors.push(error);
      }
    }
    if (pending === undefined) {
      return errors === undefined ? RESOLVED : Promise.reject(aggregate(name, errors, listeners.length));
    }
    const failures = errors ?? [];
    return Promise.allSettled(pending).then((results) => {
      for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
      if (failures.length > 0) throw aggregate(name, failures, listeners.length);
    });
  }

  async function call(target: unknown, payload?: unknown): Promise<void> {
    const { name, payload: body } =
      typeof target === 'string'
        ? { name: target, payload: payload === undefined ? {} : payload }
        : inProcessTarget(target, payload);
    const listeners = registry.resolve(name);
    if (validateInProcess) assertPayload(body, maxDepth);
    else assertPayloadIsObject(body);
    if (listeners.length === 0) return;
    const ctx = new Context(scope, name, body as JsonObject, undefined, undefined);
    for (const listener of listeners) {
      const result = listener.invoke(body as JsonObject, ctx);
      if (result !== undefined && typeof (result as Promise<unknown>)?.then === 'function') await result;
    }
  }

  function aggregate(name: string, errors: unknown[], total: number): AggregateError {
    return new AggregateError(
      errors,
      `[thrun:core] ${errors.length} of ${total} listeners of ${JSON.stringify(name)} failed: ${errors
        .map(errorMessage)
        .join('; ')}`,
    );
  }

  // ------------------------------------------------------------------------------------------------
  // Listeners

  const registeredClasses = new WeakMap<Function, ThrunSubscription[]>();

  function subscribe(target: EventTarget, handler: Handler<never>, listenerOptions?: ListenerOptions) {
    if (listenerOptions?.queue !== undefined) assertQueueName(listenerOptions.queue);
    const listener = registry.add(target, handler as Handler, listenerOptions);
    const subscription: ThrunSubscription = {
      pattern: listener.pattern,
      unsubscribe: () => void registry.remove(listener),
    };
    return subscription;
  }

  function register(...classes: Function[]): ThrunSubscription[] {
    const subscriptions: ThrunSubscription[] = [];
    for (const value of classes) {
      const known = registeredClasses.get(value);
      if (known) {
        subscriptions.push(...known);
        continue;
      }
      const definitions = listenerDefinitionsOf(value);
      if (definitions.length === 0) {
        throw new ConfigurationError(
          'invalid_option',
          `[thrun:core] ${value?.name || 'this value'} has no @ThrunEventListener decorator; use subscribe() for plain handlers`,
        );
      }
      // One instance serves every event the class listens to.
      const instance = new (value as new () => { handle(payload: JsonObject, ctx: unknown): unknown })();
      const made = definitions.map((definition) =>
        subscribe(definition.target, instance as Handler<never>, definition.options),
      );
      registeredClasses.set(value, made);
      subscriptions.push(...made);
    }
    return subscriptions;
  }

  // ------------------------------------------------------------------------------------------------
  // The worker

  const worker = new Worker({
    transport,
    registry,
    router,
    stats,
    logger,
    hooks,
    retry,
    unknownEvents,
    group: options.group ?? 'default',
    concurrency: positive('concurrency', options.concurrency ?? 10),
    decode: (bytes) => decodeEnvelope(bytes, codecLimits),
    makeContext: (envelope, delivery: Delivery, signal) =>
      new Context(scope, envelope.event, envelope.payload, envelope, {
        attempt: delivery.attempt,
        queue: delivery.queue,
        signal,
      }),
    drainTimeoutMs: nonNegative('drainTimeoutMs', options.drainTimeoutMs ?? 10_000),
    handleSignals:
      options.handleSignals === true
        ? ['SIGTERM', 'SIGINT']
        : options.handleSignals === false || options.handleSignals === undefined
          ? []
          : [...options.handleSignals],
  });

  const deadLetters = createDeadLetters({
    transport,
    defaultQueue: router.defaultQueue,
    group: options.group ?? 'default',
    logger,
    limits: codecLimits,
  });

  const {
    batch,
    batches,
    start: startBatches,
    stop: stopBatches,
  } = attachBatches(
    {
      events: (items) => dispatchMany(items),
      subscribe: (event, handler) => subscribe(event, handler as Handler<never>),
      intercept: (interceptor) => worker.intercept(interceptor),
      logger,
    },
    options.batches,
  );

  const thrun = {
    transport,
    source,
    get running() {
      return worker.running;
    },
    event: ((...args: unknown[]) => dispatch(args)) as DispatchFunction,
    events: (items: readonly BulkItem[]) => dispatchMany(items),
    publish: publish as Thrun['publish'],
    call: call as Thrun['call'],
    subscribe: subscribe as Thrun['subscribe'],
    register,
    discover: (dirUrl: URL | string, discoverOptions?: DiscoverOptions) =>
      discoverListeners(
        dirUrl,
        { register, subscribe: (t, h, o) => subscribe(t, h as Handler<never>, o) },
        discoverOptions,
      ),
    start: async () => {
      await worker.start();
      startBatches();
    },
    stop: async (stopOptions?: StopOptions) => {
      await worker.stop(stopOptions?.drainTimeoutMs);
      await stopBatches();
    },
    close: async (stopOptions?: StopOptions) => {
      await worker.stop(stopOptions?.drainTimeoutMs);
      await stopBatches();
      await transport.close(
        stopOptions?.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: stopOptions.drainTimeoutMs },
      );
    },
    stats: () => stats.snapshot(),
    deadLetters,
    batch,
    batches,
    [internals]: {
      router,
      registry,
      retry,
      logger,
      intercept: (interceptor: WorkerInterceptor) => worker.intercept(interceptor),
    },
  };
  return thrun;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 1) {
    throw new ConfigurationError('invalid_option', `[thrun:core] ${name} must be a number ≥ 1, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigurationError('invalid_option', `[thrun:core] ${name} must be a number ≥ 0, got ${value}`);
  }
  return value;
}
