import { assertQueueName, ConfigurationError, type JsonObject } from '@thrun/contract';
import type { EventTarget } from './event-class.js';
import {
  type Handler,
  type ListenerOptions,
  type ListenerRegistry,
  listenerDefinitionsOf,
} from './listeners.js';

/** A subscription made with `thrun.subscribe`. */
export interface ThrunSubscription {
  readonly pattern: string;
  /** Removes the listener. Dispatches already running keep their snapshot. Idempotent. */
  unsubscribe(): void;
}

/** `thrun.subscribe` and `thrun.register`, over the bus's listener registry. */
export interface Subscriptions {
  subscribe(target: EventTarget, handler: Handler<never>, options?: ListenerOptions): ThrunSubscription;
  /** One instance per decorated class; a class registered again returns its first subscriptions. */
  register(...classes: Function[]): ThrunSubscription[];
}

export function createSubscriptions(registry: ListenerRegistry): Subscriptions {
  const registeredClasses = new WeakMap<Function, ThrunSubscription[]>();

  function subscribe(target: EventTarget, handler: Handler<never>, options?: ListenerOptions) {
    if (options?.queue !== undefined) assertQueueName(options.queue);
    const listener = registry.add(target, handler as Handler, options);
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

  return { subscribe, register };
}
