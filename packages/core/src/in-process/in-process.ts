import { ConfigurationError, type JsonObject } from '@thrun/contract';
import { Context, type ContextScope } from '../context-impl.js';
import { readTarget } from '../dispatch/dispatch-args.js';
import { errorMessage } from '../errors.js';
import { isThenable } from '../internal/thenable.js';
import type { Listener, ListenerRegistry } from '../listeners.js';
import { assertPayload, assertPayloadIsObject } from '../validate-payload.js';

/** What in-process dispatch needs from the bus. */
export interface InProcessSettings {
  readonly registry: ListenerRegistry;
  /** The contexts' scope: a listener's `ctx.event` goes through the transport. */
  readonly scope: ContextScope;
  /** Check payloads the way the wire would (see `ThrunOptions.validateInProcess`). */
  readonly validate: boolean;
  readonly maxDepth: number;
}

/** `thrun.publish` and `thrun.call`: the listeners of this process, run directly, nothing sent. */
export interface InProcessDispatch {
  /** Runs every listener, all of them even when some fail; rejects with an `AggregateError` of all failures. */
  publish(target: unknown, payload?: unknown): Promise<void>;
  /** Runs the listeners one after another; rejects with the first failure, running no more. */
  call(target: unknown, payload?: unknown): Promise<void>;
  /** `publish` on the caller's stack: returns once every listener returned, throws the `AggregateError`. */
  publishSync(target: unknown, payload?: unknown): void;
  /** `call` on the caller's stack: throws the first failure as is. */
  callSync(target: unknown, payload?: unknown): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

export function createInProcessDispatch(settings: InProcessSettings): InProcessDispatch {
  const { registry, scope } = settings;

  /** The listeners registered now (a snapshot), once the payload passed its check. */
  function listenersFor(name: string, payload: unknown): readonly Listener[] {
    const listeners = registry.resolve(name);
    if (settings.validate) assertPayload(payload, settings.maxDepth);
    else assertPayloadIsObject(payload);
    return listeners;
  }

  function publish(target: unknown, payload?: unknown): Promise<void> {
    let name: string;
    let body: unknown;
    let listeners: readonly Listener[];
    try {
      ({ name, payload: body } = readTarget(target, payload));
      listeners = listenersFor(name, body);
    } catch (error) {
      return Promise.reject(error);
    }
    if (listeners.length === 0) return RESOLVED;
    const ctx = new Context(scope, name, body as JsonObject, undefined, undefined);
    // Arrays only when needed: the common case (synchronous listeners that succeed) allocates nothing.
    let pending: PromiseLike<unknown>[] | undefined;
    let errors: unknown[] | undefined;
    for (let i = 0; i < listeners.length; i++) {
      try {
        const result = listeners[i]!.invoke(body as JsonObject, ctx);
        if (isThenable(result)) {
          if (pending === undefined) pending = [];
          pending.push(result);
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

  function publishSync(target: unknown, payload?: unknown): void {
    // A plain name, the common case, skips building the { name, payload } pair.
    if (typeof target !== 'string') {
      const read = readTarget(target, payload);
      publishSync(read.name, read.payload);
      return;
    }
    const name = target;
    const body = payload === undefined ? {} : payload;
    const listeners = listenersFor(name, body);
    if (listeners.length === 0) return;
    const ctx = new Context(scope, name, body as JsonObject, undefined, undefined);
    let errors: unknown[] | undefined;
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i]!;
      try {
        const result = listener.invoke(body as JsonObject, ctx);
        if (isThenable(result)) throw notSynchronous(listener, name, result);
      } catch (error) {
        if (errors === undefined) errors = [];
        errors.push(error);
      }
    }
    if (errors !== undefined) throw aggregate(name, errors, listeners.length);
  }

  function callSync(target: unknown, payload?: unknown): void {
    if (typeof target !== 'string') {
      const read = readTarget(target, payload);
      callSync(read.name, read.payload);
      return;
    }
    const name = target;
    const body = payload === undefined ? {} : payload;
    const listeners = listenersFor(name, body);
    if (listeners.length === 0) return;
    const ctx = new Context(scope, name, body as JsonObject, undefined, undefined);
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i]!;
      const result = listener.invoke(body as JsonObject, ctx);
      if (isThenable(result)) throw notSynchronous(listener, name, result);
    }
  }

  /**
   * A listener gave a synchronous dispatch a promise: that is a mistake in the calling code, so it
   * fails at once, and the promise's eventual failure goes to the logger rather than nowhere.
   */
  function notSynchronous(
    listener: Listener,
    name: string,
    result: PromiseLike<unknown>,
  ): ConfigurationError {
    result.then(undefined, (error: unknown) =>
      scope.logger.error('an async listener failed after a synchronous dispatch', {
        event: name,
        listener: listener.name,
        error: errorMessage(error),
      }),
    );
    return new ConfigurationError(
      'async_listener',
      `[thrun:core] listener ${listener.name} of ${JSON.stringify(name)} returned a promise: use publish or call, which await it`,
    );
  }

  async function call(target: unknown, payload?: unknown): Promise<void> {
    const { name, payload: body } = readTarget(target, payload);
    const listeners = listenersFor(name, body);
    if (listeners.length === 0) return;
    const ctx = new Context(scope, name, body as JsonObject, undefined, undefined);
    for (const listener of listeners) {
      const result = listener.invoke(body as JsonObject, ctx);
      if (isThenable(result)) await result;
    }
  }

  return { publish, call, publishSync, callSync };
}

function aggregate(name: string, errors: unknown[], total: number): AggregateError {
  return new AggregateError(
    errors,
    `[thrun:core] ${errors.length} of ${total} listeners of ${JSON.stringify(name)} failed: ${errors
      .map(errorMessage)
      .join('; ')}`,
  );
}
