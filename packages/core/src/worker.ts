import {
  assertEventName,
  backoffDelayMs,
  type DeadLetterReason,
  type Delivery,
  type Envelope,
  REFUSED_SETTLEMENT_BACKOFF,
  type Subscription,
  sleep,
  ThrunError,
  type Transport,
  TransportError,
} from '@thrun/contract';
import type { Context } from './context-impl.js';
import { errorCode, errorMessage, isRetryableError } from './errors.js';
import { callHook, type ReportHook, type SettleAction, type ThrunHooks } from './hooks.js';
import { isThenable } from './internal/thenable.js';
import type { Listener, ListenerRegistry } from './listeners.js';
import type { ThrunLogger } from './logger.js';
import type { UnknownEventPolicy } from './options.js';
import type { Router } from './routing.js';
import type { StatsCollector } from './stats.js';

export interface ResolvedRetry {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
  jitter: 'none' | 'full';
}

/**
 * The delay before retrying after failed attempt `attempt`: `delay = backoffMs · 2^(attempt-1)`,
 * capped at `maxBackoffMs`. With jitter it is drawn uniformly from `[delay, 2·delay]` and then capped
 * at `maxBackoffMs`, so it lies in `[delay, min(2·delay, maxBackoffMs)]`: never shorter than
 * configured, never longer than the cap. (The contract's `backoffDelayMs` jitters below the delay;
 * asking it for twice the delay turns that into jitter above it.)
 */
export function retryDelayMs(
  attempt: number,
  retry: ResolvedRetry,
  random: () => number = Math.random,
): number {
  const delay = backoffDelayMs(attempt, { baseMs: retry.baseMs, maxMs: retry.maxMs, jitter: 'none' });
  if (retry.jitter === 'none') return delay;
  const jittered = backoffDelayMs(
    attempt,
    { baseMs: 2 * retry.baseMs, maxMs: 2 * retry.maxMs, jitter: 'full' },
    random,
  );
  return Math.max(delay, Math.min(retry.maxMs, jittered));
}

/** A decoded delivery as an interceptor sees it. */
export interface InterceptedDelivery {
  readonly envelope: Envelope;
  readonly queue: string;
  readonly attempt: number;
}

/** How a delivery ends; reported before it is settled. */
export type DeliveryOutcome = InterceptedDelivery &
  (
    | { readonly status: 'handled' }
    | { readonly status: 'retrying'; readonly error: unknown; readonly delayMs: number }
    | { readonly status: 'dead-lettered'; readonly error: unknown; readonly reason: DeadLetterReason }
  );

/**
 * How an engine on top of the worker (the batch engine) follows each envelope's fate.
 *
 * `beforeHandle` runs once a delivery decoded and has listeners; `'skip'` acknowledges it without
 * running them (a cancelled batch's step, a step already done). `beforeSettle` runs after the
 * handlers, before the delivery is acknowledged, retried or dead-lettered: its work is done before
 * the message leaves the queue, so a crash in between means a redelivery, never a lost transition.
 * If it throws, the delivery is retried (with backoff) and the outcome is reported again next time.
 */
export interface WorkerInterceptor {
  beforeHandle?(delivery: InterceptedDelivery): 'run' | 'skip' | Promise<'run' | 'skip'>;
  beforeSettle?(outcome: DeliveryOutcome): void | Promise<void>;
}

export interface WorkerDependencies {
  transport: Transport;
  registry: ListenerRegistry;
  router: Router;
  stats: StatsCollector;
  logger: ThrunLogger;
  hooks: ThrunHooks;
  retry: ResolvedRetry;
  unknownEvents: UnknownEventPolicy;
  group: string;
  concurrency: number;
  decode(bytes: Uint8Array): Envelope;
  makeContext(envelope: Envelope, delivery: Delivery, signal: AbortSignal): Context;
  drainTimeoutMs: number;
  handleSignals: NodeJS.Signals[];
}

interface InFlight {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** Listeners that already succeeded for an event, so a retry runs only the ones that failed. */
const MAX_REMEMBERED_EVENTS = 10_000;

/**
 * Consumes the queues that have listeners and runs each delivery through its listeners: ack on
 * success, retry with backoff on failure, dead-letter after `maxAttempts` or at once when an error is
 * not retryable, dead-letter undecodable bytes with the codec's reason. A delivery's handler never
 * throws to the transport: every outcome is an explicit settlement.
 */
export class Worker {
  private readonly subscriptions = new Map<string, Promise<Subscription>>();
  private readonly inFlight = new Set<InFlight>();
  private readonly interceptors = new Set<WorkerInterceptor>();
  private readonly succeeded = new Map<string, Set<number>>();
  private state: 'idle' | 'running' | 'stopping' = 'idle';
  private stopping: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  /** Aborted when a stop begins: ends the waits between settlement tries. */
  private stopController = new AbortController();

  constructor(private readonly deps: WorkerDependencies) {}

  get running(): boolean {
    return this.state === 'running';
  }

  intercept(interceptor: WorkerInterceptor): () => void {
    this.interceptors.add(interceptor);
    return () => this.interceptors.delete(interceptor);
  }

  async start(): Promise<void> {
    if (this.state === 'running') return;
    if (this.state === 'stopping') await this.stopping;
    this.state = 'running';
    this.stopping = undefined;
    this.stopController = new AbortController();
    this.unwatch = this.deps.registry.onChange(() => {
      if (this.state === 'running') void this.consumeListenedQueues().catch(this.logStartFailure);
    });
    for (const signal of this.deps.handleSignals) {
      const handler = () => void this.onSignal(signal);
      this.signalHandlers.set(signal, handler);
      process.once(signal, handler);
    }
    await this.consumeListenedQueues();
  }

  /** Queues currently consumed. */
  get queues(): string[] {
    return [...this.subscriptions.keys()];
  }

  private readonly logStartFailure = (error: unknown) =>
    this.deps.logger.error('could not consume a queue', { error: errorMessage(error) });

  private async consumeListenedQueues(): Promise<void> {
    const queues = new Set<string>();
    for (const listener of this.deps.registry.all()) {
      if (listener.queue !== undefined) queues.add(listener.queue);
      else for (const queue of this.deps.router.queuesFor(listener.pattern)) queues.add(queue);
    }
    const started: Promise<Subscription>[] = [];
    for (const queue of queues) {
      if (this.subscriptions.has(queue)) continue;
      const subscription = this.deps.transport.consume(queue, (delivery) => this.handle(delivery), {
        group: this.deps.group,
        concurrency: this.deps.concurrency,
      });
      this.subscriptions.set(queue, subscription);
      subscription.catch(() => this.subscriptions.delete(queue));
      started.push(subscription);
      this.deps.logger.debug('consuming', { queue, group: this.deps.group });
    }
    await Promise.all(started);
  }

  stop(drainTimeoutMs = this.deps.drainTimeoutMs): Promise<void> {
    if (this.state !== 'running') return this.stopping ?? Promise.resolve();
    this.state = 'stopping';
    this.stopController.abort();
    this.unwatch?.();
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.signalHandlers.clear();
    this.stopping = (async () => {
      // Stop fetching first: closing a subscription detaches it at once, then waits for its handlers.
      const pending = [...this.subscriptions.values()];
      this.subscriptions.clear();
      const subscriptions = (await Promise.allSettled(pending)).flatMap((result) =>
        result.status === 'fulfilled' ? [result.value] : [],
      );
      const closing = subscriptions.map((subscription) => subscription.close());
      const deadline = Date.now() + drainTimeoutMs;
      while (this.inFlight.size > 0 && Date.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        });
        await Promise.race([Promise.all([...this.inFlight].map((entry) => entry.done)), timeout]);
        clearTimeout(timer);
      }
      // Past the deadline: tell the remaining handlers to give up. Their deliveries are left
      // unsettled, and the transport releases them to be delivered again.
      for (const entry of this.inFlight) entry.controller.abort(new Error('[thrun:core] worker stopping'));
      await Promise.allSettled(closing);
      this.state = 'idle';
    })();
    return this.stopping;
  }

  private async onSignal(signal: NodeJS.Signals): Promise<void> {
    this.deps.logger.info('stopping on signal', { signal });
    await this.stop();
    // Nobody else listens: do what the signal would have done without us.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  }

  private handle(delivery: Delivery): Promise<void> {
    const controller = new AbortController();
    let finish!: () => void;
    const entry: InFlight = { controller, done: new Promise<void>((resolve) => (finish = resolve)) };
    this.inFlight.add(entry);
    return this.process(delivery, controller)
      .catch((error) => {
        // Only a settlement refused while stopping lands here: the delivery stays unsettled, and
        // the transport hands it out again later as the next attempt.
        this.deps.logger.warn('left a delivery unsettled while stopping', {
          queue: delivery.queue,
          error: errorMessage(error),
        });
      })
      .finally(() => {
        this.inFlight.delete(entry);
        finish();
      });
  }

  private async process(delivery: Delivery, controller: AbortController): Promise<void> {
    const { deps } = this;
    const { queue, attempt } = delivery;
    let envelope: Envelope;
    try {
      envelope = deps.decode(delivery.body);
      assertEventName(envelope.event);
    } catch (error) {
      deps.stats.rejected++;
      const reason = {
        code: ThrunError.isInstance(error) ? error.code : 'invalid_message',
        message: errorMessage(error),
      };
      deps.logger.warn('dead-lettering an undecodable message', { queue, reason: reason.code });
      await this.settle(delivery, undefined, 'dead-letter', () => delivery.deadLetter(reason));
      this.report('onDeadLetter', { envelope: undefined, queue, attempt, reason, error });
      return;
    }

    const name = envelope.event;
    const counters = deps.stats.of(name);
    const listeners = deps.registry.resolve(name);
    if (listeners.length === 0) return this.unknownEvent(delivery, envelope);

    if (this.interceptors.size > 0) {
      let skip = false;
      try {
        for (const interceptor of this.interceptors) {
          const verdict = interceptor.beforeHandle?.({ envelope, queue, attempt });
          if ((isThenable(verdict) ? await verdict : verdict) === 'skip') {
            skip = true;
            break;
          }
        }
      } catch (error) {
        const delayMs = retryDelayMs(attempt, deps.retry);
        deps.logger.error('an interceptor failed before handling; retrying the delivery', {
          event: name,
          error: errorMessage(error),
        });
        await this.settle(delivery, envelope, 'retry', () => delivery.retry(delayMs));
        counters.retried++;
        return;
      }
      if (skip) {
        await this.settle(delivery, envelope, 'ack', () => delivery.ack());
        return;
      }
    }
    // After the interceptors: a batch step already done is skipped above, not dead-lettered here.
    if (attempt > deps.retry.maxAttempts) return this.pastMaxAttempts(delivery, envelope);

    counters.inFlight++;
    const started = performance.now();
    let errors: unknown[];
    try {
      const run = () => this.runListeners(listeners, envelope, delivery, controller.signal);
      errors = deps.hooks.instrument
        ? await deps.hooks.instrument({ kind: 'handle', name, envelope, queue, attempt }, run)
        : await run();
    } finally {
      counters.inFlight--;
    }
    const durationMs = performance.now() - started;
    counters.record(durationMs);

    if (errors.length > 0 && controller.signal.aborted && this.state !== 'running') {
      // Stopped mid-work: leave it unsettled so the transport hands it out again.
      return;
    }

    if (errors.length === 0) {
      if (await this.settleHook({ envelope, queue, attempt, status: 'handled' }, delivery)) {
        await this.settle(delivery, envelope, 'ack', () => delivery.ack());
        this.forget(envelope, queue);
        counters.handled++;
        this.report('onHandled', { envelope, queue, attempt, durationMs });
      }
      return;
    }

    const error =
      errors.length === 1 ? errors[0] : new AggregateError(errors, errors.map(errorMessage).join('; '));
    const retryable = errors.every(isRetryableError);
    if (!retryable || attempt >= deps.retry.maxAttempts) {
      const final = errors.find((e) => !isRetryableError(e));
      const reason: DeadLetterReason = final
        ? { code: errorCode(final), message: errorMessage(final) }
        : {
            code: 'max_attempts',
            message: `failed on attempt ${attempt} of ${deps.retry.maxAttempts}: ${errorMessage(error)}`,
          };
      await this.deadLetter(delivery, envelope, reason, error);
      return;
    }

    const delayMs = retryDelayMs(attempt, deps.retry);
    if (await this.settleHook({ envelope, queue, attempt, status: 'retrying', error, delayMs }, delivery)) {
      deps.logger.info('retrying', { event: name, queue, attempt, delayMs, error: errorMessage(error) });
      await this.settle(delivery, envelope, 'retry', () => delivery.retry(delayMs));
      counters.retried++;
      this.report('onRetry', { envelope, queue, attempt, delayMs, error });
    }
  }

  /** Runs the listeners that have not yet succeeded for this event; returns their errors. */
  private async runListeners(
    listeners: readonly Listener[],
    envelope: Envelope,
    delivery: Delivery,
    signal: AbortSignal,
  ): Promise<unknown[]> {
    const ctx = this.deps.makeContext(envelope, delivery, signal);
    const key = listeners.length > 1 ? this.memoryKey(envelope, delivery.queue) : undefined;
    const done = key === undefined ? undefined : this.succeeded.get(key);
    const runs = listeners.map(async (listener) => {
      if (done?.has(listener.id)) return undefined;
      await listener.invoke(envelope.payload, ctx);
      return listener.id;
    });
    const results = await Promise.allSettled(runs);
    const errors: unknown[] = [];
    let succeededNow: number[] | undefined;
    for (const result of results) {
      if (result.status === 'rejected') errors.push(result.reason);
      else if (result.value !== undefined) {
        succeededNow ??= [];
        succeededNow.push(result.value);
      }
    }
    if (key !== undefined && errors.length > 0 && succeededNow) {
      const set = done ?? new Set<number>();
      for (const id of succeededNow) set.add(id);
      if (!done) {
        if (this.succeeded.size >= MAX_REMEMBERED_EVENTS) {
          this.succeeded.delete(this.succeeded.keys().next().value!);
        }
        this.succeeded.set(key, set);
      }
    }
    return errors;
  }

  private memoryKey(envelope: Envelope, queue: string): string | undefined {
    const id = envelope.meta?.event_id;
    return typeof id === 'string' ? `${queue}\u0000${id}` : undefined;
  }

  private forget(envelope: Envelope, queue: string): void {
    if (this.succeeded.size === 0) return;
    const key = this.memoryKey(envelope, queue);
    if (key !== undefined) this.succeeded.delete(key);
  }

  private async unknownEvent(delivery: Delivery, envelope: Envelope): Promise<void> {
    const { queue } = delivery;
    switch (this.deps.unknownEvents) {
      case 'drop':
        this.deps.logger.debug('dropping an event nobody listens to', { event: envelope.event, queue });
        await this.settle(delivery, envelope, 'ack', () => delivery.ack());
        return;
      case 'leave':
        // Back in the queue for a consumer that knows it; the delay stops this one spinning on it.
        await this.settle(delivery, envelope, 'retry', () => delivery.retry(this.deps.retry.baseMs));
        return;
      default: {
        const reason = {
          code: 'unknown_event',
          message: `no listener for ${JSON.stringify(envelope.event)} on queue ${JSON.stringify(queue)}`,
        };
        const error = new ThrunError('unknown_event', `[thrun:core] ${reason.message}`);
        await this.deadLetter(delivery, envelope, reason, error);
      }
    }
  }

  /**
   * A delivery past `maxAttempts` (a redelivery after its worker died, or after a settlement that
   * never went through) goes to the dead queue without running its listeners again.
   */
  private pastMaxAttempts(delivery: Delivery, envelope: Envelope): Promise<void> {
    const { maxAttempts } = this.deps.retry;
    const reason = {
      code: 'max_attempts',
      message: `delivered as attempt ${delivery.attempt}, past maxAttempts (${maxAttempts}); not run again`,
    };
    return this.deadLetter(
      delivery,
      envelope,
      reason,
      new ThrunError('max_attempts', `[thrun:core] ${reason.message}`),
    );
  }

  /** Dead-letters a decoded delivery, once the interceptors have recorded it. */
  private async deadLetter(
    delivery: Delivery,
    envelope: Envelope,
    reason: DeadLetterReason,
    error: unknown,
  ): Promise<void> {
    const { queue, attempt } = delivery;
    const outcome: DeliveryOutcome = { envelope, queue, attempt, status: 'dead-lettered', error, reason };
    if (!(await this.settleHook(outcome, delivery))) return;
    this.deps.logger.warn('dead-lettering', { event: envelope.event, queue, attempt, reason: reason.code });
    await this.settle(delivery, envelope, 'dead-letter', () => delivery.deadLetter(reason));
    this.forget(envelope, queue);
    this.deps.stats.of(envelope.event).deadLettered++;
    this.report('onDeadLetter', { envelope, queue, attempt, reason, error });
  }

  /**
   * Runs a settlement until the broker takes it. A refusal (a dead queue rejecting writes, a lost
   * connection) is reported and tried again after a backoff, with the message left where it is,
   * unacknowledged: it is never copied and its listeners never run again meanwhile. Once the worker
   * is stopping, or the transport is closed, the refusal is thrown instead, and the transport hands
   * the delivery out again later.
   */
  private async settle(
    delivery: Delivery,
    envelope: Envelope | undefined,
    action: SettleAction,
    run: () => Promise<void>,
  ): Promise<void> {
    for (let failures = 1; ; failures++) {
      try {
        await run();
        return;
      } catch (error) {
        // Stopping, or a transport closed under us: nothing to wait for, the transport has it.
        // Anything else may clear (a dead topic's size limit raised, a policy lifted): wait.
        if (this.state !== 'running' || (TransportError.isInstance(error) && error.code === 'closed')) {
          throw error;
        }
        const retryInMs = backoffDelayMs(failures, REFUSED_SETTLEMENT_BACKOFF);
        const { queue, attempt } = delivery;
        this.deps.stats.settleFailures++;
        this.deps.logger.error('the broker refused a settlement; trying again', {
          queue,
          action,
          attempt,
          retryInMs,
          error: errorMessage(error),
        });
        this.report('onSettleError', { envelope, queue, attempt, action, error, retryInMs });
        await sleep(retryInMs, this.stopController.signal);
      }
    }
  }

  /** Runs the interceptors' `beforeSettle`; on failure retries the delivery and returns false. */
  private async settleHook(outcome: DeliveryOutcome, delivery: Delivery): Promise<boolean> {
    if (this.interceptors.size === 0) return true;
    try {
      for (const interceptor of this.interceptors) {
        const recorded = interceptor.beforeSettle?.(outcome);
        if (isThenable(recorded)) await recorded;
      }
      return true;
    } catch (error) {
      const delayMs = retryDelayMs(delivery.attempt, this.deps.retry);
      this.deps.logger.error('an interceptor failed; retrying the delivery', {
        event: outcome.envelope.event,
        error: errorMessage(error),
      });
      await this.settle(delivery, outcome.envelope, 'retry', () => delivery.retry(delayMs));
      this.deps.stats.of(outcome.envelope.event).retried++;
      return false;
    }
  }

  private report<K extends ReportHook>(hook: K, info: Parameters<NonNullable<ThrunHooks[K]>>[0]): void {
    callHook(this.deps.hooks, hook, info, this.deps.logger);
  }
}
