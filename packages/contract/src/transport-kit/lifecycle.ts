import type { CloseOptions, Subscription } from '../transport.js';
import { transportClosedError } from './checks.js';

/** What a transport's consumer gives the lifecycle: a close that drains, then releases. */
export interface DrainingConsumer {
  close(drainTimeoutMs: number): Promise<void>;
}

/**
 * The part of `Transport` every adapter shares: refusing work after `close()`, the live consumers,
 * subscriptions that an abort signal closes, and one `close()` that drains every consumer, then
 * releases what is left, then lets the adapter shut its own connections.
 */
export interface TransportLifecycle {
  /** Throws the `closed` error once `close()` was called. */
  assertOpen(): void;
  readonly closed: boolean;
  /**
   * Registers a started consumer and returns its subscription. Closing it (or aborting `signal`)
   * drains the consumer with the transport's default drain timeout.
   */
  subscribe(consumer: DrainingConsumer, signal?: AbortSignal): Subscription;
  /**
   * Closes once: drains every consumer (`options.drainTimeoutMs`, else the default), then runs
   * `shutdown` with the same timeout. Later calls return the same promise.
   */
  close(
    options: CloseOptions | undefined,
    shutdown?: (drainTimeoutMs: number) => Promise<void>,
  ): Promise<void>;
}

export function transportLifecycle(transport: string, defaultDrainTimeoutMs: number): TransportLifecycle {
  /** Each live consumer's close, memoised: a consumer closing already is waited for, not closed twice. */
  const consumers = new Set<(drainTimeoutMs: number) => Promise<void>>();
  let closing: Promise<void> | undefined;

  return {
    assertOpen() {
      if (closing) throw transportClosedError(transport);
    },
    get closed() {
      return closing !== undefined;
    },
    subscribe(consumer, signal) {
      let closed: Promise<void> | undefined;
      const closeWithin = (drainTimeoutMs: number) => {
        signal?.removeEventListener('abort', onAbort);
        closed ??= consumer.close(drainTimeoutMs).finally(() => consumers.delete(closeWithin));
        return closed;
      };
      const onAbort = () => void closeWithin(defaultDrainTimeoutMs);
      const close = () => closeWithin(defaultDrainTimeoutMs);
      consumers.add(closeWithin);
      if (signal?.aborted) void close();
      else signal?.addEventListener('abort', onAbort, { once: true });
      return { close };
    },
    close(options = {}, shutdown) {
      closing ??= (async () => {
        const drainTimeoutMs = options.drainTimeoutMs ?? defaultDrainTimeoutMs;
        await Promise.all([...consumers].map((closeWithin) => closeWithin(drainTimeoutMs)));
        consumers.clear();
        await shutdown?.(drainTimeoutMs);
      })();
      return closing;
    },
  };
}
