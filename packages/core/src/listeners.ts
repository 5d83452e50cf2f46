import {
  assertEventName,
  assertEventPattern,
  ConfigurationError,
  compileEventPattern,
  isWildcardPattern,
  type JsonObject,
} from '@thrun/contract';
import type { HandlerContext } from './context.js';
import { type EventTarget, isEventClass } from './event-class.js';

/** A handler function. It may return a promise; a rejection (or a throw) is a failure. */
export type HandlerFunction<Payload extends object = JsonObject> = (
  payload: Payload,
  ctx: HandlerContext<Payload>,
) => unknown;

/** An object with a `handle` method. */
export interface HandlerObject<Payload extends object = JsonObject> {
  handle(payload: Payload, ctx: HandlerContext<Payload>): unknown;
}

/** A class whose instances handle events; `subscribe` and `register` create one instance with `new`. */
export type HandlerClass<Payload extends object = JsonObject> = new () => HandlerObject<Payload>;

export type Handler<Payload extends object = JsonObject> =
  | HandlerFunction<Payload>
  | HandlerObject<Payload>
  | HandlerClass<Payload>;

export interface ListenerOptions {
  /**
   * The queue this listener's events arrive on, when routing cannot tell (a foreign producer's queue,
   * say). Default: the queues the router sends matching events to.
   */
  queue?: string;
}

/** A registered listener. Immutable: the registry swaps arrays, so a dispatch's snapshot never changes. */
export interface Listener {
  readonly id: number;
  readonly pattern: string;
  readonly wildcard: boolean;
  readonly matches: (eventName: string) => boolean;
  /** A readable name for logs and discovery reports: the class or function name. */
  readonly name: string;
  readonly queue: string | undefined;
  readonly invoke: (payload: JsonObject, ctx: HandlerContext) => unknown;
}

const EMPTY: readonly Listener[] = Object.freeze([]);
const MAX_CACHED_NAMES = 10_000;

/**
 * Listeners by exact name (a `Map`, never an object lookup) plus the wildcard ones. `resolve(name)`
 * returns an array in registration order, cached per name until the next change: dispatch
 * allocates nothing to find its handlers, and a handler added during a dispatch is not in its snapshot.
 * The snapshots are read-only by type, not frozen: V8 (Node 20) does not inline indexed reads of a
 * frozen array, so every `listeners[i]` of a dispatch would go through a generic inline-cache call.
 */
export class ListenerRegistry {
  private readonly exact = new Map<string, Listener[]>();
  private wildcards: Listener[] = [];
  private readonly resolved = new Map<string, readonly Listener[]>();
  // The last name resolved, checked before the map: a hot loop dispatching one event compares one
  // string (usually the same interned string, so one pointer) instead of hashing it into the map.
  private lastName: string | undefined;
  private lastListeners: readonly Listener[] = EMPTY;
  private nextId = 1;
  private readonly changeListeners = new Set<() => void>();

  add(target: EventTarget, handler: Handler, options: ListenerOptions = {}): Listener {
    const pattern = typeof target === 'string' ? target : isEventClass(target) ? target.event : target;
    assertEventPattern(pattern);
    const { invoke, name } = toInvoker(handler);
    const listener: Listener = {
      id: this.nextId++,
      pattern,
      wildcard: isWildcardPattern(pattern),
      matches: compileEventPattern(pattern),
      name,
      queue: options.queue,
      invoke,
    };
    if (listener.wildcard) this.wildcards = [...this.wildcards, listener];
    else this.exact.set(pattern, [...(this.exact.get(pattern) ?? []), listener]);
    this.changed();
    return listener;
  }

  remove(listener: Listener): boolean {
    let removed = false;
    if (listener.wildcard) {
      const next = this.wildcards.filter((l) => l !== listener);
      removed = next.length !== this.wildcards.length;
      this.wildcards = next;
    } else {
      const list = this.exact.get(listener.pattern);
      if (list?.includes(listener)) {
        const next = list.filter((l) => l !== listener);
        if (next.length === 0) this.exact.delete(listener.pattern);
        else this.exact.set(listener.pattern, next);
        removed = true;
      }
    }
    if (removed) this.changed();
    return removed;
  }

  /**
   * The listeners of an event name, in registration order. Throws `ValidationError` for an invalid
   * name; only valid names are cached, so the check runs once per name.
   */
  resolve(eventName: string): readonly Listener[] {
    if (eventName === this.lastName) return this.lastListeners;
    const snapshot = this.resolved.get(eventName) ?? this.resolveUncached(eventName);
    this.lastName = eventName;
    this.lastListeners = snapshot;
    return snapshot;
  }

  private resolveUncached(eventName: string): readonly Listener[] {
    assertEventName(eventName);
    const exact = this.exact.get(eventName);
    let list: Listener[] = exact ? [...exact] : [];
    if (this.wildcards.length > 0) {
      const matching = this.wildcards.filter((l) => l.matches(eventName));
      if (matching.length > 0) list = [...list, ...matching].sort((a, b) => a.id - b.id);
    }
    const snapshot: readonly Listener[] = list.length === 0 ? EMPTY : list;
    if (this.resolved.size >= MAX_CACHED_NAMES) this.resolved.clear(); // names may come from outside
    this.resolved.set(eventName, snapshot);
    return snapshot;
  }

  /** Every listener, in registration order. */
  all(): Listener[] {
    return [...[...this.exact.values()].flat(), ...this.wildcards].sort((a, b) => a.id - b.id);
  }

  get size(): number {
    let size = this.wildcards.length;
    for (const list of this.exact.values()) size += list.length;
    return size;
  }

  onChange(callback: () => void): () => void {
    this.changeListeners.add(callback);
    return () => this.changeListeners.delete(callback);
  }

  private changed(): void {
    this.resolved.clear();
    this.lastName = undefined;
    this.lastListeners = EMPTY;
    for (const callback of this.changeListeners) callback();
  }
}

function toInvoker(handler: Handler): Pick<Listener, 'invoke' | 'name'> {
  if (typeof handler === 'function') {
    if (typeof (handler as { prototype?: { handle?: unknown } }).prototype?.handle === 'function') {
      const instance = new (handler as HandlerClass)();
      return {
        invoke: (payload, ctx) => instance.handle(payload, ctx),
        name: handler.name || 'anonymous class',
      };
    }
    const fn = handler as HandlerFunction;
    return { invoke: fn, name: fn.name || 'anonymous function' };
  }
  if (typeof handler === 'object' && handler !== null && typeof handler.handle === 'function') {
    return {
      invoke: (payload, ctx) => handler.handle(payload, ctx),
      name: handler.constructor?.name ?? 'handler object',
    };
  }
  throw new ConfigurationError(
    'invalid_option',
    '[thrun:core] a handler is a function, an object with handle(), or a class with handle()',
  );
}

// ---------------------------------------------------------------------------------------------------
// Decorators and discoverable definitions

export interface ListenerDefinition {
  readonly target: EventTarget;
  readonly options: ListenerOptions;
}

const decorated = new WeakMap<Function, ListenerDefinition[]>();

/**
 * Marks a class as a listener of an event name, pattern or event class (a TC39 standard class
 * decorator; no `experimentalDecorators`). Stack it to listen to several. `thrun.register(Class)`
 * or `thrun.discover(dirUrl)` wires the class up with one instance created by `new Class()`.
 */
export function ThrunEventListener(target: EventTarget, options: ListenerOptions = {}) {
  const pattern = typeof target === 'string' ? target : isEventClass(target) ? target.event : target;
  assertEventPattern(pattern);
  return <Class extends HandlerClass<never>>(value: Class, context: ClassDecoratorContext<Class>): void => {
    if (context.kind !== 'class') {
      throw new ConfigurationError(
        'invalid_option',
        '[thrun:core] @ThrunEventListener decorates classes only',
      );
    }
    // Decorators run bottom-up; unshift keeps the definitions in source order.
    const definitions = decorated.get(value) ?? [];
    definitions.unshift({ target, options });
    decorated.set(value, definitions);
  };
}

/** The `@ThrunEventListener` definitions of a class, or an empty array. */
export function listenerDefinitionsOf(value: unknown): readonly ListenerDefinition[] {
  return typeof value === 'function' ? (decorated.get(value) ?? []) : [];
}

const definedListener = Symbol.for('thrun.listener');

/**
 * A listener defined without a decorator, for `discover` to find:
 * `export const audit = defineListener('order.*', async (payload, ctx) => { … })`.
 */
export interface DefinedListener<Payload extends object = JsonObject> extends ListenerDefinition {
  readonly [definedListener]: true;
  readonly handler: Handler<Payload>;
}

export function defineListener<Payload extends object = JsonObject>(
  target: EventTarget,
  handler: Handler<Payload>,
  options: ListenerOptions = {},
): DefinedListener<Payload> {
  const pattern = typeof target === 'string' ? target : isEventClass(target) ? target.event : target;
  assertEventPattern(pattern);
  return Object.freeze({ [definedListener]: true as const, target, handler, options });
}

export function isDefinedListener(value: unknown): value is DefinedListener {
  return typeof value === 'object' && value !== null && (value as DefinedListener)[definedListener] === true;
}
