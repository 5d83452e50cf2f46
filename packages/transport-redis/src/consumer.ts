import type { BackoffOptions, DeadLetterReason, Delivery, DeliveryHandler } from '@thrun/contract';
import { backoffDelayMs, encodeDeadLetterFrame, sleep, TransportError } from '@thrun/contract';
import { drainWithin, refusalDelayMs, runDelivery, Settlement } from '@thrun/contract/transport-kit';
import { ReplyError } from 'ioredis';
import { transportError } from './connection.js';

/** A message taken from Redis and held by this process until it is settled or released. */
export interface Fetched {
  body: Buffer;
  attempt: number;
  /** Stream entry id (Streams mode). */
  id?: string;
  key?: string;
  /** Settlements Redis refused for this message so far (it backs off longer each time). */
  refusals?: number;
}

/** What each mode provides to the shared consumer loop. */
export interface MessageSource {
  /**
   * Takes up to `max` messages, waiting a bounded time (the block timeout) when there are none.
   * `held` is what this consumer holds already (a source may need it to recover after a lost reply).
   */
  fetch(max: number, held: readonly Fetched[]): Promise<Fetched[]>;
  ack(message: Fetched): Promise<void>;
  /** Puts a message back as the next attempt; may hand back a redelivery to run locally. */
  retry(message: Fetched, delayMs: number): Promise<Fetched | undefined>;
  deadLetter(message: Fetched, record: Buffer): Promise<void>;
  /** Hands back everything this consumer holds; `started` messages count an attempt. */
  release(started: Fetched[], waiting: Fetched[]): Promise<void>;
  /** Periodic upkeep: leases, reaping, trimming. `held` is everything this consumer holds. */
  tick(held: Fetched[]): Promise<void>;
  tickIntervalMs: number;
  /** Makes a blocked `fetch` return (or reject) at once. */
  interrupt(): void;
  dispose(): Promise<void>;
}

export interface ConsumerSettings {
  queue: string;
  /** Handlers running at once; a handler stops counting once it asked for its settlement. */
  concurrency: number;
  /** Messages held at once: running, read ahead, or settled but not yet confirmed by Redis. */
  prefetch: number;
  /** How long a settlement keeps retrying while Redis is unreachable before it gives up. */
  settleRetryMs: number;
}

/** Between tries while Redis is unreachable (ioredis reconnects meanwhile). */
const OUTAGE_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 1_000, jitter: 'full' };

interface InFlight {
  settlement: Settlement;
  done: Promise<unknown>;
}

/**
 * The consume loop shared by both modes: fetches in batches into a bounded list of waiting messages (a deep queue
 * costs one round trip per batch, not per message), runs at most `concurrency` handlers, settles each
 * delivery once, and on close drains, then hands back whatever is left.
 *
 * A handler's concurrency slot is freed as soon as it asks for its settlement, not when Redis confirms
 * it: the next waiting message starts meanwhile, so at concurrency 1 the read-ahead messages run back
 * to back and their acks share one round trip (the acks of one turn are one command) instead of each
 * waiting for its own. Until Redis confirms, the message stays held: it counts against `prefetch`, its
 * lease is renewed, `close` waits for it, and a settlement that fails leaves it pending, to be settled
 * again or redelivered. Handlers still start in the order their messages were fetched.
 */
export class Consumer {
  private readonly waiting: Fetched[] = [];
  /** Messages whose settlement Redis refused, waiting out a backoff before their next attempt. */
  private readonly parked = new Map<Fetched, NodeJS.Timeout>();
  /** Messages handed to a handler and not yet settled for good (their settlement may be under way). */
  private readonly inFlight = new Map<Fetched, InFlight>();
  /** Handlers holding a concurrency slot: started, and not yet asking for a settlement. */
  private running = 0;
  private stopping = false;
  private closing: Promise<void> | undefined;
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly refillBelow: number;

  constructor(
    private readonly source: MessageSource,
    private readonly handler: DeliveryHandler,
    private readonly settings: ConsumerSettings,
  ) {
    // Refill once a quarter of the prefetch window is free, so a deep queue is read in batches.
    this.refillBelow = settings.prefetch - Math.max(1, Math.floor(settings.prefetch / 4));
  }

  start(): void {
    this.loop = this.run();
    this.ticker = setInterval(() => {
      void this.source.tick(this.held()).catch(() => {});
    }, this.source.tickIntervalMs);
    this.ticker.unref();
  }

  private held(): Fetched[] {
    return [...this.inFlight.keys(), ...this.waiting, ...this.parked.keys()];
  }

  private park(message: Fetched): void {
    const refusals = (message.refusals ?? 0) + 1;
    const timer = setTimeout(() => {
      this.parked.delete(message);
      this.waiting.push({ ...message, attempt: message.attempt + 1, refusals });
      this.pump();
    }, refusalDelayMs(refusals));
    this.parked.set(message, timer);
  }

  private needsMore(): boolean {
    const held = this.waiting.length + this.inFlight.size;
    if (held >= this.settings.prefetch) return false;
    return (
      held <= this.refillBelow || (this.waiting.length === 0 && this.running < this.settings.concurrency)
    );
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      if (!this.needsMore()) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      try {
        const max = this.settings.prefetch - this.waiting.length - this.inFlight.size;
        const fetched = await this.source.fetch(max, this.held());
        failures = 0;
        this.waiting.push(...fetched);
        if (!this.stopping) this.pump();
      } catch {
        if (this.stopping) break;
        // Redis unreachable or restarting: ioredis reconnects; keep asking, with a capped backoff.
        failures += 1;
        await sleep(backoffDelayMs(failures, OUTAGE_BACKOFF));
      }
    }
  }

  private pump(): void {
    while (!this.stopping && this.running < this.settings.concurrency && this.waiting.length > 0) {
      this.deliver(this.waiting.shift()!);
    }
    if (this.needsMore()) this.signal();
  }

  private deliver(message: Fetched): void {
    const settlement = new Settlement();
    const entry: InFlight = { settlement, done: Promise.resolve() };
    this.inFlight.set(message, entry);
    this.running += 1;
    let holdsSlot = true;
    const freeSlot = () => {
      if (!holdsSlot) return;
      holdsSlot = false;
      this.running -= 1;
      this.pump();
    };

    const settle =
      <A extends unknown[]>(operation: (...args: A) => Promise<unknown>) =>
      (...args: A): Promise<void> =>
        settlement.settle(async () => {
          // The next handler starts now, before this settlement is sent: its own settlement, if it
          // comes in this turn, goes to Redis with this one.
          freeSlot();
          try {
            await this.persist(() => operation(...args));
          } catch (error) {
            // Still in Redis, and still ours: the handler may try again (the lease is renewed meanwhile).
            throw TransportError.isInstance(error)
              ? error
              : transportError('broker_error', 'Redis refused a settlement', error);
          }
          this.inFlight.delete(message);
          this.pump();
        });

    const retry = settle(async (delayMs: number = 0) => {
      const again = await this.source.retry(message, Math.max(0, delayMs));
      if (again) this.waiting.push(again);
    });

    const delivery: Delivery = {
      body: new Uint8Array(message.body.buffer, message.body.byteOffset, message.body.byteLength),
      queue: this.settings.queue,
      attempt: message.attempt,
      ...(message.key === undefined ? {} : { key: message.key }),
      ack: settle(() => this.source.ack(message)),
      retry: (delayMs?: number) => retry(delayMs ?? 0),
      deadLetter: settle((reason: DeadLetterReason) => {
        const frame = encodeDeadLetterFrame({
          queue: this.settings.queue,
          body: message.body,
          reason,
          attempts: message.attempt,
        });
        return this.source.deadLetter(message, Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
      }),
    };

    // Left pending after a refused settlement: the message stays in Redis, still held here, and is
    // handed out again as the next attempt after a backoff.
    entry.done = runDelivery(this.handler, delivery, settlement, () => retry(0)).then((outcome) => {
      const parked = outcome === 'refused' && settlement.release();
      if (parked) {
        this.inFlight.delete(message);
        this.park(message);
      }
      // A run that settled asked for it, and freed its slot then; one released at close did not.
      if (holdsSlot) freeSlot();
      else if (parked) this.pump();
    });
  }

  /**
   * Runs a settlement, retrying through a Redis outage (bounded): a lost ack would mean a duplicate.
   * A reply error is Redis' answer, not an outage (a refused write, a key of the wrong type): asking
   * again at once would get the same answer, so it goes straight to the caller, who backs off.
   */
  private async persist(operation: () => Promise<unknown>): Promise<void> {
    const deadline = Date.now() + this.settings.settleRetryMs;
    let failures = 0;
    for (;;) {
      try {
        await operation();
        return;
      } catch (error) {
        failures += 1;
        if (
          error instanceof ReplyError ||
          Date.now() > deadline ||
          (TransportError.isInstance(error) && error.code === 'closed')
        )
          throw error;
        await sleep(backoffDelayMs(failures, OUTAGE_BACKOFF));
      }
    }
  }

  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      this.source.interrupt();
      this.signal();
      await this.loop;
      await drainWithin(
        [...this.inFlight.values()].map((entry) => entry.done),
        drainTimeoutMs,
      );
      clearInterval(this.ticker);
      const started = [...this.inFlight].flatMap(([message, entry]) =>
        entry.settlement.release() ? [message] : [],
      );
      this.inFlight.clear();
      for (const [message, timer] of this.parked) {
        clearTimeout(timer);
        started.push(message);
      }
      this.parked.clear();
      const waiting = this.waiting.splice(0);
      // When Redis is unreachable now, the lease (or idle time) returns these later instead.
      await this.source.release(started, waiting).catch(() => {});
      await this.source.dispose();
    })();
    return this.closing;
  }
}
