import type { Envelope, JsonObject } from '@thrun/contract';
import type { EventTarget } from './event-class.js';
import type { ThrunLogger } from './logger.js';

/** Options of one dispatch. */
export interface DispatchOptions {
  /** Ordering or partition key (an order id, say); transports with per-key ordering honour it. */
  key?: string;
  /** Deliver no earlier than this many milliseconds from now (needs a transport with `delay`). */
  delayMs?: number;
  /** Groups the events of one business flow; inherited by events dispatched from a handler. */
  correlationId?: string;
  /** The `event_id` of the event that caused this one; `ctx.event` sets it. */
  causationId?: string;
  /** W3C `traceparent`; inherited by events dispatched from a handler. */
  traceparent?: string;
  /** Overrides routing. */
  queue?: string;
  /**
   * The event's `meta.event_id` (a UUID), when the caller needs a stable one: republishing the same
   * logical event after a crash with the same id lets consumers recognise the duplicate. Default: a new UUID.
   */
  eventId?: string;
  /**
   * Extra `meta` members (snake_case, JSON), e.g. `batch` for a batch step. They cannot replace
   * `event_id` (see `eventId`), `timestamp` or `source`, which Thrun fills.
   */
  meta?: Readonly<Record<string, unknown>>;
  /** Gives up waiting for the transport (the message may or may not have been accepted). */
  signal?: AbortSignal;
}

/** A job given to `events([...])`: `{ event, payload, options? }` or an event class instance. */
export type BulkItem = { event: EventTarget; payload?: object; options?: DispatchOptions } | object;

/**
 * `thrun.event` and `ctx.event`: resolve with the dispatched event's `meta.event_id` once the
 * transport accepted it.
 */
export interface DispatchFunction {
  (target: EventTarget, payload?: object, options?: DispatchOptions): Promise<string>;
  /** A job: an event class instance (`new CreatePayment({ order_id: 1 })`) or `{ event, payload }`. */
  (job: object, options?: DispatchOptions): Promise<string>;
}

/** What a handler receives beside its payload. */
export interface HandlerContext<Payload extends object = JsonObject> {
  /** The whole envelope, `meta` included (filled in-process too). */
  readonly envelope: Envelope & { payload: Payload };
  /** The event's name (what matched, for a wildcard listener). */
  readonly name: string;
  /** 1 on first delivery. In-process dispatch is always attempt 1. */
  readonly attempt: number;
  /** The retry policy's limit: on this attempt, a failure dead-letters the message. */
  readonly maxAttempts: number;
  /** The queue the message came from; `undefined` for in-process `publish`/`call`. */
  readonly queue: string | undefined;
  /** Aborted when `stop()`'s drain deadline passes: stop work and throw. */
  readonly signal: AbortSignal;
  readonly logger: ThrunLogger;
  /** Dispatches with `causation_id` set to this event and `correlation_id`/`traceparent` carried on. */
  readonly event: DispatchFunction;
  /** Bulk dispatch with causation set, like `thrun.events`. */
  events(items: readonly BulkItem[]): Promise<string[]>;
}
