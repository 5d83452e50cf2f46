import type { BackoffOptions, DeadLetterReason, Delivery, DeliveryHandler } from '@thrun/contract';
import { backoffDelayMs, encodeDeadLetterFrame, sleep, TransportError } from '@thrun/contract';
import {
  type DeliveryOutcome,
  drainWithin,
  refusalDelayMs,
  Settlement,
  startDelivery,
} from '@thrun/contract/transport-kit';
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
  readonly waiting: Fetched[] = [];
  /** Messages whose settlement Redis refused, waiting out a backoff before their next attempt. */
  private readonly parked = new Map<Fetched, NodeJS.Timeout>();
  /** Messages handed to a handler and not yet settled for good (their settlement may be under way). */
  private readonly inFlight = new Map<Fetched, RedisDelivery>();
  /** Handlers holding a concurrency slot: started, and not yet asking for a settlement. */
  private running = 0;
  /** Handler runs not yet ended (`close` drains them), and who waits for them to end. */
  private runs = 0;
  private allRunsEnded: (() => void) | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly refillBelow: number;

  constructor(
    readonly source: MessageSource,
    private readonly handler: DeliveryHandler,
    readonly settings: ConsumerSettings,
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
    const delivery = new RedisDelivery(this, message);
    this.inFlight.set(message, delivery);
    this.running += 1;
    this.runs += 1;
    delivery.run(this.handler);
  }

  /** A delivery asks for its settlement: it frees its slot first, so the next handler starts now. */
  settle(delivery: RedisDelivery, operation: () => Promise<unknown>): Promise<void> {
    // The next handler starts before this settlement is sent: its own settlement, if it comes in
    // this turn, goes to Redis with this one.
    this.freeSlot(delivery);
    return this.persist(operation).then(
      () => {
        this.inFlight.delete(delivery.message);
        this.pump();
      },
      (error: unknown) => {
        // Still in Redis, and still ours: the handler may try again (the lease is renewed meanwhile).
        throw TransportError.isInstance(error)
          ? error
          : transportError('broker_error', 'Redis refused a settlement', error);
      },
    );
  }

  private freeSlot(delivery: RedisDelivery): void {
    if (!delivery.holdsSlot) return;
    delivery.holdsSlot = false;
    this.running -= 1;
    this.pump();
  }

  /** How a delivery's run ended (`startDelivery`). */
  runEnded(delivery: RedisDelivery, outcome: DeliveryOutcome): void {
    // Left pending after a refused settlement: the message stays in Redis, still held here, and is
    // handed out again as the next attempt after a backoff.
    const parked = outcome === 'refused' && delivery.settlement.release();
    if (parked) {
      this.inFlight.delete(delivery.message);
      this.park(delivery.message);
    }
    // A run that settled asked for it, and freed its slot then; one released at close did not.
    if (delivery.holdsSlot) this.freeSlot(delivery);
    else if (parked) this.pump();
    this.runs -= 1;
    if (this.runs > 0) return;
    const ended = this.allRunsEnded;
    this.allRunsEnded = undefined;
    ended?.();
  }

  /** Resolves once no handler run is under way. */
  private runsEnded(): Promise<void> {
    if (this.runs === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.allRunsEnded = resolve;
    });
  }

  /**
   * Runs a settlement, retrying through a Redis outage (bounded): a lost ack would mean a duplicate.
   * A reply error is Redis' answer, not an outage (a refused write, a key of the wrong type): asking
   * again at once would get the same answer, so it goes straight to the caller, who backs off.
   */
  private persist(operation: () => Promise<unknown>): Promise<unknown> {
    const deadline = Date.now() + this.settings.settleRetryMs;
    let failures = 0;
    const attempt = (): Promise<unknown> => {
      let sent: Promise<unknown>;
      try {
        sent = operation();
      } catch (error) {
        sent = Promise.reject(error);
      }
      return sent.catch(async (error: unknown) => {
        failures += 1;
        if (
          error instanceof ReplyError ||
          Date.now() > deadline ||
          (TransportError.isInstance(error) && error.code === 'closed')
        )
          throw error;
        await sleep(backoffDelayMs(failures, OUTAGE_BACKOFF));
        return attempt();
      });
    };
    return attempt();
  }

  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      this.source.interrupt();
      this.signal();
      await this.loop;
      await drainWithin([this.runsEnded()], drainTimeoutMs);
      clearInterval(this.ticker);
      const started = [...this.inFlight].flatMap(([message, delivery]) =>
        delivery.settlement.release() ? [message] : [],
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

/**
 * One delivery of a held message: what the handler sees, its settlement, and its concurrency slot. A
 * class rather than closures: at tens of thousands of messages a second, every object per message shows.
 */
class RedisDelivery implements Delivery {
  readonly body: Uint8Array;
  readonly queue: string;
  readonly attempt: number;
  readonly key?: string;
  readonly settlement = new Settlement();
  /** Holds one of the consumer's concurrency slots: from its start until it asks for a settlement. */
  holdsSlot = true;

  constructor(
    private readonly consumer: Consumer,
    readonly message: Fetched,
  ) {
    const { body } = message;
    this.body = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    this.queue = consumer.settings.queue;
    this.attempt = message.attempt;
    if (message.key !== undefined) this.key = message.key;
  }

  run(handler: DeliveryHandler): void {
    startDelivery(
      handler,
      this,
      this.settlement,
      () => this.retry(0),
      (outcome) => this.consumer.runEnded(this, outcome),
    );
  }

  ack(): Promise<void> {
    return this.settle(() => this.consumer.source.ack(this.message));
  }

  retry(delayMs = 0): Promise<void> {
    return this.settle(async () => {
      const again = await this.consumer.source.retry(this.message, Math.max(0, delayMs));
      if (again) this.consumer.waiting.push(again);
    });
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.settle(() => {
      const { message } = this;
      const frame = encodeDeadLetterFrame({
        queue: this.queue,
        body: message.body,
        reason,
        attempts: message.attempt,
      });
      return this.consumer.source.deadLetter(
        message,
        Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength),
      );
    });
  }

  private settle(operation: () => Promise<unknown>): Promise<void> {
    return this.settlement.settle(() => this.consumer.settle(this, operation));
  }
}
