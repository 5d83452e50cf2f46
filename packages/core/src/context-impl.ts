import { type Envelope, type JsonObject, SPEC_VERSION } from '@thrun/contract';
import type { BulkItem, DispatchOptions, HandlerContext } from './context.js';
import type { EventTarget } from './event-class.js';
import type { ThrunLogger } from './logger.js';

/** What a context needs from its bus to dispatch follow-up events. */
export interface ContextDispatcher {
  dispatchFrom(parent: Envelope, args: readonly unknown[]): Promise<string>;
  dispatchManyFrom(parent: Envelope, items: readonly BulkItem[]): Promise<string[]>;
}

const neverAborted = new AbortController().signal;

/**
 * One context per delivery (or per in-process dispatch). In-process dispatch builds the envelope
 * only when a handler reads it, so `publish` pays for a UUID and a timestamp only when used.
 */
export class Context implements HandlerContext<JsonObject> {
  private built: Envelope | undefined;

  constructor(
    private readonly dispatcher: ContextDispatcher,
    readonly name: string,
    private readonly payload: JsonObject,
    envelope: Envelope | undefined,
    private readonly source: string,
    readonly attempt: number,
    readonly maxAttempts: number,
    readonly queue: string | undefined,
    readonly signal: AbortSignal,
    readonly logger: ThrunLogger,
  ) {
    this.built = envelope;
  }

  // A prototype method rather than a bound closure: in-process dispatch creates a context per call.
  event(target: EventTarget, payload?: object, options?: DispatchOptions): Promise<string>;
  event(job: object, options?: DispatchOptions): Promise<string>;
  event(...args: unknown[]): Promise<string> {
    return this.dispatcher.dispatchFrom(this.envelope, args);
  }

  get envelope(): Envelope & { payload: JsonObject } {
    this.built ??= {
      event: this.name,
      payload: this.payload,
      meta: {
        event_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        source: this.source,
        spec_version: SPEC_VERSION,
      },
    };
    return this.built;
  }

  events(items: readonly BulkItem[]): Promise<string[]> {
    return this.dispatcher.dispatchManyFrom(this.envelope, items);
  }

  static inProcess(
    dispatcher: ContextDispatcher,
    name: string,
    payload: JsonObject,
    source: string,
    logger: ThrunLogger,
  ): Context {
    return new Context(dispatcher, name, payload, undefined, source, 1, 1, undefined, neverAborted, logger);
  }
}

export type { DispatchOptions };
