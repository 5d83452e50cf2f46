import {
  type BackoffOptions,
  backoffDelayMs,
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  sleep,
} from '@thrun/contract';
import { drainWithin, refusalDelayMs, runDelivery, Settlement } from '@thrun/contract/transport-kit';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { ConnectionManager } from './connection.js';
import { isDroppedChannel } from './errors.js';
import { headers } from './topology.js';

/** Tries of a first subscription whose channel the broker dropped (see `Consumer.start`). */
const SUBSCRIBE_ATTEMPTS = 3;

/** What a consumer asks of its transport: declaring its queue, and the two republishing settlements. */
export interface ConsumerHost {
  manager: ConnectionManager;
  reconnect: BackoffOptions;
  declare(channel: Channel): Promise<void>;
  retry(message: Received, delayMs: number): Promise<void>;
  deadLetter(message: Received, reason: DeadLetterReason): Promise<void>;
}

export interface Received {
  body: Uint8Array;
  attempt: number;
  key: string | undefined;
  /** The message's text headers (a dead letter's `thrun-dead-*` description), if it has any. */
  headers: Readonly<Record<string, string>> | undefined;
}

/**
 * Settles deliveries of one channel. Acks are gathered for one turn of the event loop; the longest
 * run of settled deliveries at the front of the channel's unacked window goes out as a single
 * `basic.ack` with `multiple`, which is safe because every tag it covers was acked by its handler.
 */
class Acks {
  private readonly unsettled = new Map<number, ConsumeMessage>(); // in delivery-tag order
  private readonly pending = new Set<number>();
  private scheduled = false;
  dead = false;

  constructor(private readonly channel: Channel) {}

  track(message: ConsumeMessage): void {
    this.unsettled.set(message.fields.deliveryTag, message);
  }

  get size(): number {
    return this.unsettled.size;
  }

  ack(message: ConsumeMessage): void {
    if (this.dead) return;
    this.pending.add(message.fields.deliveryTag);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Gives a message back to the broker: it is redelivered, counting as a new attempt. */
  release(message: ConsumeMessage): void {
    const tag = message.fields.deliveryTag;
    if (this.dead || !this.unsettled.has(tag)) return;
    this.unsettled.delete(tag);
    this.pending.delete(tag);
    try {
      this.channel.nack(message, false, true);
    } catch {
      // channel gone: the broker redelivers it anyway
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.dead || this.pending.size === 0) return;
    try {
      let last: ConsumeMessage | undefined;
      let count = 0;
      for (const [tag, message] of this.unsettled) {
        if (!this.pending.has(tag)) break;
        last = message;
        count++;
      }
      if (last) {
        for (const tag of [...this.unsettled.keys()].slice(0, count)) {
          this.unsettled.delete(tag);
          this.pending.delete(tag);
        }
        this.channel.ack(last, count > 1);
      }
      for (const tag of this.pending) {
        const message = this.unsettled.get(tag);
        this.unsettled.delete(tag);
        if (message) this.channel.ack(message);
      }
      this.pending.clear();
    } catch {
      // channel gone: unacked messages come back from the broker, as at-least-once allows
      this.dead = true;
    }
  }
}

interface Active {
  message: ConsumeMessage;
  acks: Acks;
  settlement: Settlement;
  done: Promise<void>;
}

/**
 * One `consume()` call: a channel of its own with `prefetch`, at most `concurrency` handlers at once,
 * messages beyond that waiting in arrival order. When the channel or connection is lost it subscribes
 * again with backoff; the deliveries of the lost channel are redelivered by the broker.
 */
export class Consumer {
  private channel: Channel | undefined;
  private acks: Acks | undefined;
  private consumerTag: string | undefined;
  private readonly waiting: Array<{ message: ConsumeMessage; acks: Acks }> = [];
  private readonly active = new Set<Active>();
  private closing: Promise<void> | undefined;
  /** Aborted when closing starts: ends the backoff of deliveries whose settlement was refused. */
  private readonly closingController = new AbortController();
  private resubscribing = false;

  constructor(
    private readonly host: ConsumerHost,
    private readonly queue: string,
    private readonly amqpQueue: string,
    private readonly handler: DeliveryHandler,
    private readonly concurrency: number,
    private readonly prefetch: number,
  ) {}

  /**
   * Subscribes, trying again when the broker drops the channel while it is being set up, as it does
   * after a live channel is lost. RabbitMQ 3.10 can crash a channel whose `basic.consume` reaches a
   * quorum queue declared an instant before (`{badmatch,{error,noproc}}` in
   * `rabbit_quorum_queue:consume`), and that closes the whole connection. A refusal, or a connection
   * that cannot be made, fails at once.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.subscribe();
        return;
      } catch (error) {
        if (attempt >= SUBSCRIBE_ATTEMPTS || !isDroppedChannel(error)) throw error;
        await sleep(backoffDelayMs(attempt, this.host.reconnect));
      }
    }
  }

  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.closingController.abort();
      const channel = this.channel;
      if (channel && this.consumerTag) await channel.cancel(this.consumerTag).catch(() => {});
      // Not started yet: back to the broker, untouched by any handler.
      for (const { message, acks } of this.waiting.splice(0)) acks.release(message);
      await drainWithin(
        [...this.active].map((entry) => entry.done),
        drainTimeoutMs,
      );
      for (const entry of this.active) {
        if (entry.settlement.release()) entry.acks.release(entry.message);
      }
      this.active.clear();
      this.acks?.flush();
      if (channel) await channel.close().catch(() => {});
    })();
    return this.closing;
  }

  private async subscribe(): Promise<void> {
    const model = await this.host.manager.get();
    const channel = await model.createChannel();
    channel.on('error', () => {}); // the reason arrives with 'close', which resubscribes
    try {
      await channel.prefetch(this.prefetch);
      await this.host.declare(channel);
      const acks = new Acks(channel);
      channel.on('close', () => this.lost(channel, acks));
      this.channel = channel;
      this.acks = acks;
      const { consumerTag } = await channel.consume(
        this.amqpQueue,
        (message) => {
          if (message === null) {
            // The broker cancelled us (queue deleted): subscribe again, which declares it again.
            void channel.close().catch(() => {});
            return;
          }
          acks.track(message);
          this.accept(message, acks);
        },
        { noAck: false },
      );
      this.consumerTag = consumerTag;
    } catch (error) {
      await channel.close().catch(() => {});
      throw error;
    }
  }

  private lost(channel: Channel, acks: Acks): void {
    acks.dead = true;
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    // The broker redelivers everything this channel held: drop what had not started.
    this.waiting.length = 0;
    if (this.closing || this.resubscribing) return;
    this.resubscribing = true;
    void (async () => {
      for (let attempt = 1; !this.closing; attempt++) {
        try {
          await this.subscribe();
          break;
        } catch {
          await sleep(backoffDelayMs(attempt, this.host.reconnect));
        }
      }
      this.resubscribing = false;
      if (this.closing && this.channel) await this.channel.close().catch(() => {});
    })();
  }

  private accept(message: ConsumeMessage, acks: Acks): void {
    if (this.closing) {
      acks.release(message);
      return;
    }
    if (this.active.size < this.concurrency) this.run(message, acks);
    else this.waiting.push({ message, acks });
  }

  /**
   * Runs one delivery. `again` is set when it runs again after a settlement the broker refused: the
   * message stayed unacked on this channel, and comes back here as the next attempt after a backoff.
   */
  private run(message: ConsumeMessage, acks: Acks, again?: { attempt: number; refusals: number }): void {
    const received = readMessage(message);
    if (again) received.attempt = again.attempt;
    const settlement = new Settlement();
    const entry: Active = { message, acks, settlement, done: Promise.resolve() };
    this.active.add(entry);
    let refusals = again?.refusals ?? 0;

    // A refusal (a confirm nack, a lost channel) leaves the message unacked and still ours.
    const settle =
      <A extends unknown[]>(action: (...args: A) => Promise<void> | void) =>
      (...args: A): Promise<void> =>
        settlement.settle(() => {
          if (acks.dead) return; // the broker redelivers it: nothing to settle on a lost channel
          return action(...args);
        });

    const retry = settle(async (delayMs: number = 0) => {
      await this.host.retry(received, delayMs);
      acks.ack(message);
    });
    const delivery: Delivery = {
      body: received.body,
      queue: this.queue,
      attempt: received.attempt,
      ...(received.key === undefined ? {} : { key: received.key }),
      ...(received.headers === undefined ? {} : { headers: received.headers }),
      ack: settle(() => acks.ack(message)),
      retry: (delayMs?: number) => retry(delayMs ?? 0),
      deadLetter: settle(async (reason: DeadLetterReason) => {
        await this.host.deadLetter(received, reason);
        acks.ack(message);
      }),
    };

    // Left pending after a refusal: never handed back at once (the same refusal would come round in
    // a loop); it runs again here, as the next attempt, after a backoff, keeping its slot.
    entry.done = runDelivery(this.handler, delivery, settlement, () => retry(0))
      .then(async (outcome) => {
        if (outcome !== 'refused' || acks.dead) return undefined;
        refusals += 1;
        await sleep(refusalDelayMs(refusals), this.closingController.signal);
        // Closing, a lost channel or a late settlement by the handler end it here.
        if (this.closing || acks.dead || !settlement.release()) return undefined;
        return { attempt: received.attempt + 1, refusals };
      })
      .then((next) => {
        this.active.delete(entry);
        if (next) return this.run(message, acks, next);
        const waiting = this.closing ? undefined : this.waiting.shift();
        if (waiting) this.run(waiting.message, waiting.acks);
      });
  }
}

/** Attempt: attempts made before this copy (our header) + broker redeliveries of this copy + 1. */
export function readMessage(
  message: Pick<ConsumeMessage, 'content' | 'properties'> & { fields: { redelivered: boolean } },
): Received {
  const h = (message.properties.headers ?? {}) as Record<string, unknown>;
  const before = nonNegative(h[headers.attempts]);
  // Quorum queues count returns in `x-delivery-count`; classic queues only flag a redelivery.
  const deliveryCount = h[headers.deliveryCount];
  const redeliveries =
    deliveryCount !== undefined ? nonNegative(deliveryCount) : message.fields.redelivered ? 1 : 0;
  const key = textOf(h[headers.key]);
  const entries = Object.entries(h).flatMap(([name, value]) => {
    const asText = textOf(value);
    return asText === undefined ? [] : [[name, asText] as const];
  });
  return {
    body: new Uint8Array(message.content.buffer, message.content.byteOffset, message.content.byteLength),
    attempt: before + redeliveries + 1,
    key,
    // fromEntries defines own properties: a header named `__proto__` cannot reach a prototype.
    headers: entries.length > 0 ? Object.fromEntries(entries) : undefined,
  };
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
}

function nonNegative(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}
