import type { DeadLetterReason, Envelope } from '@thrun/contract';
import { errorMessage } from './errors.js';
import type { ThrunLogger } from './logger.js';

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

/** What a worker asked the transport to do with a delivery. */
export type SettleAction = 'ack' | 'retry' | 'dead-letter';

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

/** The hooks that report something that happened (all but `instrument`). */
export type ReportHook = Exclude<keyof ThrunHooks, 'instrument'>;

/** Calls a report hook if it is set; a hook that throws is logged and ignored. */
export function callHook<K extends ReportHook>(
  hooks: ThrunHooks,
  hook: K,
  info: Parameters<NonNullable<ThrunHooks[K]>>[0],
  logger: ThrunLogger,
): void {
  const fn = hooks[hook] as ((info: unknown) => void) | undefined;
  if (!fn) return;
  try {
    fn.call(hooks, info);
  } catch (error) {
    logger.warn('a hook threw; ignored', { hook, error: errorMessage(error) });
  }
}
