import { backoffDelayMs, REFUSED_SETTLEMENT_BACKOFF } from '../backoff.js';
import type { Delivery, DeliveryHandler } from '../transport.js';

/**
 * Where a delivery stands. `pending`: nobody settled it yet. `settling`: an ack, retry or dead-letter
 * is under way. `settled`: done, for good. `released`: handed back at close (after the drain
 * deadline); whatever its handler does later is ignored.
 */
export type SettlementState = 'pending' | 'settling' | 'settled' | 'released';

/** How a delivery's run ended: settled, handed back at close, or left pending after a refusal. */
export type DeliveryOutcome = 'settled' | 'released' | 'refused';

/**
 * The settle state machine of one delivery, the same in every transport: it is settled at most once;
 * a second settlement while one is under way waits for it; a settlement the broker refuses leaves
 * the delivery pending (still held, so the handler may try again) and marks it `refused`.
 */
export class Settlement {
  state: SettlementState = 'pending';
  /** A settlement was refused (by the broker, or on a lost connection). */
  refused = false;
  private running: Promise<void> | undefined;

  /**
   * Runs `action` as the delivery's settlement, ending in `final`. A synchronous action settles
   * synchronously. Rejects with the action's error, the delivery pending again.
   */
  settle(action: () => Promise<void> | void, final: 'settled' | 'released' = 'settled'): Promise<void> {
    if (this.state === 'settling') return this.running!;
    if (this.state !== 'pending') return RESOLVED;
    this.state = 'settling';
    let result: Promise<void> | void;
    try {
      result = action();
    } catch (error) {
      this.refuse();
      return Promise.reject(error);
    }
    if (!(result instanceof Promise)) {
      this.state = final;
      return RESOLVED;
    }
    this.running = result.then(
      () => {
        this.state = final;
      },
      (error: unknown) => {
        this.refuse();
        throw error;
      },
    );
    return this.running;
  }

  /** At the drain deadline: a pending delivery is handed back, and true is returned; else false. */
  release(): boolean {
    if (this.state !== 'pending') return false;
    this.state = 'released';
    return true;
  }

  /** Resolves once no settlement is under way, whatever its result. */
  async idle(): Promise<void> {
    await this.running?.catch(() => {});
  }

  private refuse(): void {
    this.state = 'pending';
    this.refused = true;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Runs one delivery's handler by the contract's rules: on a later tick (one delivery never runs inside
 * another's stack); a handler that throws or returns leaving its delivery pending has it retried at
 * once through `retryNow`. Not after a refused settlement, though: retrying at once would meet the
 * same refusal in a loop, so the run ends `refused` and the transport brings the message back as the
 * next attempt after a backoff (`REFUSED_SETTLEMENT_BACKOFF`). `onError` hears a failed `retryNow`,
 * which no handler awaits.
 */
export function runDelivery(
  handler: DeliveryHandler,
  delivery: Delivery,
  settlement: Settlement,
  retryNow: () => Promise<void>,
  onError?: (error: unknown) => void,
): Promise<DeliveryOutcome> {
  return new Promise((resolve) => startDelivery(handler, delivery, settlement, retryNow, resolve, onError));
}

/**
 * `runDelivery`, with the outcome told to `onOutcome` instead of through a promise: for a transport
 * that runs tens of thousands of deliveries a second, where a promise and an async frame per delivery
 * show. A handler that settles synchronously (or awaits only its own ack) costs one microtask for the
 * start and one for its own promise.
 */
export function startDelivery(
  handler: DeliveryHandler,
  delivery: Delivery,
  settlement: Settlement,
  retryNow: () => Promise<void>,
  onOutcome: (outcome: DeliveryOutcome) => void,
  onError?: (error: unknown) => void,
): void {
  let retried = false;
  const afterHandler = (): void => {
    // Only a settlement still under way is waited for: most handlers await theirs.
    if (settlement.state === 'settling') {
      void settlement.idle().then(afterHandler);
      return;
    }
    if (retried || settlement.state !== 'pending' || settlement.refused) {
      onOutcome(outcomeOf(settlement));
      return;
    }
    retried = true;
    let retrying: Promise<void>;
    try {
      retrying = retryNow();
    } catch (error) {
      onError?.(error);
      afterHandler();
      return;
    }
    retrying.then(afterHandler, (error: unknown) => {
      onError?.(error);
      afterHandler();
    });
  };
  // A resolved promise's reaction, not queueMicrotask: Node's queueMicrotask makes an async resource
  // for every call.
  void RESOLVED.then(() => {
    let result: void | PromiseLike<void>;
    try {
      result = handler(delivery);
    } catch {
      // the contract: a handler that throws has its delivery retried at once
      afterHandler();
      return;
    }
    if (isPromiseLike(result)) result.then(afterHandler, afterHandler);
    else afterHandler();
  });
}

function outcomeOf(settlement: Settlement): DeliveryOutcome {
  if (settlement.state === 'pending') return 'refused';
  return settlement.state === 'released' ? 'released' : 'settled';
}

function isPromiseLike(value: unknown): value is PromiseLike<void> {
  return typeof (value as PromiseLike<void> | undefined)?.then === 'function';
}

/**
 * How long a delivery left pending by its `refusals`-th refusal in a row waits before it comes back as
 * the next attempt (`REFUSED_SETTLEMENT_BACKOFF`, the pace core's worker keeps too).
 */
export function refusalDelayMs(refusals: number): number {
  return backoffDelayMs(refusals, REFUSED_SETTLEMENT_BACKOFF);
}

/**
 * The drain half of drain-then-release: waits until every run in `running` has finished, for at most
 * `drainTimeoutMs`. True when they all finished in time; the caller then releases what is left.
 */
export async function drainWithin(
  running: Iterable<Promise<unknown>>,
  drainTimeoutMs: number,
): Promise<boolean> {
  return settlesWithin(Promise.allSettled(running), drainTimeoutMs);
}

/** Whether `promise` settles within `ms` (at once when `ms` ≤ 0 and it has not). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(ms, 0));
    }),
  ]);
  clearTimeout(timer);
  return settled;
}
