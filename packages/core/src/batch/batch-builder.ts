import type { BatchLifecycle } from '@thrun/contract';

/** Something that names an event: its contract name, or a class with a static contract name. */
export type LifecycleEventRef = string | { readonly event: string };

type Callback<T, R> = ((value: T) => R | PromiseLike<R>) | null | undefined;

/**
 * What `thrun.batch(jobs)` returns. `then/catch/finally/progress` given event names (or event
 * classes) set the lifecycle events and return the builder, as in
 * `await thrun.batch(jobs).then('order.success').catch('order.failed')`.
 *
 * The builder is also a promise of the batch id: `await` calls `then` with functions, which
 * dispatches the batch exactly once. `dispatch()` does the same explicitly. Once dispatched, the
 * lifecycle can no longer change.
 */
export class BatchBuilder implements PromiseLike<string> {
  private readonly lifecycle: BatchLifecycle = {};
  private dispatched: Promise<string> | undefined;

  constructor(private readonly start: (lifecycle: BatchLifecycle) => Promise<string>) {}

  /** Sends the batch (once; later calls return the same promise of its id). */
  dispatch(): Promise<string> {
    this.dispatched ??= this.start({ ...this.lifecycle });
    return this.dispatched;
  }

  progress(event: LifecycleEventRef): this {
    return this.set('progressEvent', event);
  }

  // The name-taking overloads declare a generic `this`: TypeScript's await check skips signatures whose
  // `this` it cannot prove, so `await builder` type-checks as a promise of the id while
  // `builder.then('order.success')` still returns the builder.
  // biome-ignore lint/suspicious/noThenProperty: the builder is a thenable on purpose, so `await` dispatches it.
  then<Self extends BatchBuilder>(this: Self, event: LifecycleEventRef): Self;
  // biome-ignore lint/suspicious/noThenProperty: see above.
  then<R1 = string, R2 = never>(
    onFulfilled?: Callback<string, R1>,
    onRejected?: Callback<unknown, R2>,
  ): Promise<R1 | R2>;
  // biome-ignore lint/suspicious/noThenProperty: see above.
  then(first?: unknown, onRejected?: Callback<unknown, unknown>): unknown {
    if (isEventRef(first)) return this.set('thenEvent', first);
    return this.dispatch().then(first as Callback<string, unknown>, onRejected);
  }

  catch<Self extends BatchBuilder>(this: Self, event: LifecycleEventRef): Self;
  catch<R = never>(onRejected?: Callback<unknown, R>): Promise<string | R>;
  catch(first?: unknown): unknown {
    if (isEventRef(first)) return this.set('catchEvent', first);
    return this.dispatch().catch(first as Callback<unknown, unknown>);
  }

  finally<Self extends BatchBuilder>(this: Self, event: LifecycleEventRef): Self;
  finally(onFinally?: (() => void) | null): Promise<string>;
  finally(first?: unknown): unknown {
    if (isEventRef(first)) return this.set('finallyEvent', first);
    return this.dispatch().finally(first as (() => void) | undefined);
  }

  private set(kind: keyof BatchLifecycle, event: LifecycleEventRef): this {
    if (this.dispatched) {
      throw new TypeError(
        `[thrun:core] batch already dispatched: set .${kind.replace('Event', '')}() before awaiting it`,
      );
    }
    this.lifecycle[kind] = typeof event === 'string' ? event : event.event;
    return this;
  }
}

/** Event names are strings; event classes carry a static `event`; promise callbacks are neither. */
function isEventRef(value: unknown): value is LifecycleEventRef {
  if (typeof value === 'string') return true;
  return typeof value === 'function' && typeof (value as { event?: unknown }).event === 'string';
}
