import { type Envelope, type JsonObject, SPEC_VERSION } from '@thrun/contract';
import type { BulkItem, DispatchOptions, HandlerContext } from './context.js';
import type { EventTarget } from './event-class.js';
import type { ThrunLogger } from './logger.js';

/** What every context of one bus shares: how to dispatch follow-ups, and the bus's settings. */
export interface ContextScope {
  dispatchFrom(parent: Envelope, args: readonly unknown[]): Promise<string>;
  dispatchManyFrom(parent: Envelope, items: readonly BulkItem[]): Promise<string[]>;
  readonly source: string;
  readonly maxAttempts: number;
  readonly logger: ThrunLogger;
}

/** Where a consumed delivery came from; absent for in-process dispatch. */
export interface DeliveryInfo {
  readonly attempt: number;
  readonly queue: string;
  readonly signal: AbortSignal;
}

const neverAborted = new AbortController().signal;

/**
 * One context per delivery (or per in-process dispatch). It keeps only four references and builds
 * the in-process envelope when a handler first reads it, so `publish` pays for a UUID and a
 * timestamp only when used.
 */
export class Context implements HandlerContext<JsonObject> {
  constructor(
    private readonly scope: ContextScope,
    readonly name: string,
    private readonly payload: JsonObject,
    private built: Envelope | undefined,
    private readonly delivery: DeliveryInfo | undefined,
  ) {}

  get envelope(): Envelope & { payload: JsonObject } {
    this.built ??= {
      event: this.name,
      payload: this.payload,
      meta: {
        event_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        source: this.scope.source,
        spec_version: SPEC_VERSION,
      },
    };
    return this.built;
  }

  get attempt(): number {
    return this.delivery?.attempt ?? 1;
  }

  get maxAttempts(): number {
    return this.delivery ? this.scope.maxAttempts : 1;
  }

  get queue(): string | undefined {
    return this.delivery?.queue;
  }

  get signal(): AbortSignal {
    return this.delivery?.signal ?? neverAborted;
  }

  get logger(): ThrunLogger {
    return this.scope.logger;
  }

  // A prototype method rather than a bound closure: in-process dispatch creates a context per call.
  event(target: EventTarget, payload?: object, options?: DispatchOptions): Promise<string>;
  event(job: object, options?: DispatchOptions): Promise<string>;
  event(...args: unknown[]): Promise<string> {
    return this.scope.dispatchFrom(this.envelope, args);
  }

  events(items: readonly BulkItem[]): Promise<string[]> {
    return this.scope.dispatchManyFrom(this.envelope, items);
  }
}
