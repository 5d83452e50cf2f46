import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Outcome, QueueConsumerContext } from './consumer-context.js';
import { HEADER, readHeader, readPositiveInt } from './headers.js';
import { type DeliveryOwner, KafkaDelivery } from './kafka-delivery.js';
import type { Semaphore } from './semaphore.js';
import type { SettledOffsets } from './settled-offsets.js';

/** What a main-topic batch shares with the other batches of its queue consumer. */
export interface MainBatchHost {
  readonly context: QueueConsumerContext;
  /** The `concurrency` permits, shared by every batch of the consumer. */
  readonly slots: Semaphore;
  /** True once `close` began: nothing new starts. */
  isStopping(): boolean;
  /** Per partition, the highest offset this consumer delivered. */
  readonly highestDelivered: Map<number, number>;
  readonly rereads: RereadCounter;
  /** What was settled but maybe not committed, for a rejoin to commit. */
  readonly settledOffsets: SettledOffsets;
}

/**
 * One fetched batch of the main topic (one partition), handed out to handlers as the host's permits
 * allow. Messages sharing a key wait for each other, so per-key order holds at any concurrency; at
 * concurrency 1 they run one after another anyway, and keys are not even decoded. The offset is
 * resolved only up to the lowest unfinished message, and `run` resolves only when every started
 * message is settled, so a rebalance never commits past a message still running and never loses one.
 *
 * Written with callbacks and counters rather than a promise per message: at 100k messages/s each
 * promise and tick shows, and thousands kept until the batch ends would outlive the young generation.
 */
export class MainBatch implements DeliveryOwner {
  private readonly context: QueueConsumerContext;
  private readonly messages: KafkaMessage[];
  private readonly bodies: BatchBodies;
  /** 1 where the message is done (its offset may be passed). */
  private readonly done: Uint8Array;
  /** The running deliveries, by message index, for `close` to release. */
  private readonly deliveries: (KafkaDelivery | undefined)[];
  /** Index of the lowest message not yet done. */
  resolvedUpTo = 0;
  /** The index kafkajs was last told (`resolveOffset`), on each tick and at the end, not per message. */
  private reported = 0;
  /** The next message to hand out. */
  private next = 0;
  /** Messages started (or waiting behind their key) and not yet ended. */
  private running = 0;
  private dispatching = true;
  private over = false;
  private finished: () => void = () => {};
  private idleWaiters: (() => void)[] = [];
  /** Some delivery ended pending (a refused settlement). */
  anyUndone = false;
  /** A heartbeat or commit said the group is rebalancing: start nothing new, so the batch ends soon. */
  rebalancing = false;
  /** kafkajs was asked to seek this partition: what is fetched is no longer what comes next. */
  private stale: boolean;
  /** A handler could not even be started (a bug, not a message's fault): rethrown to kafkajs. */
  private failure: { error: unknown } | undefined;
  /** With more than one permit: keys with a message running, each with its next messages in offset order. */
  private readonly waitingByKey: Map<string, number[] | null> | undefined;
  private readonly keys: (string | undefined)[] | undefined;
  /** The highest offset delivered before this batch; an offset at or below it is read again. */
  private readonly highestBefore: number;
  /** Whether any message of the batch may be read again (offsets grow, so the first one tells). */
  private readonly mayReread: boolean;
  /** The group generation the batch was fetched in (`SettledOffsets`). */
  private readonly generation: number;

  constructor(
    private readonly host: MainBatchHost,
    private readonly payload: EachBatchPayload,
  ) {
    this.context = host.context;
    const { messages, partition } = payload.batch;
    this.messages = messages;
    this.bodies = new BatchBodies(messages);
    this.done = new Uint8Array(messages.length);
    this.deliveries = new Array(messages.length);
    this.stale = payload.isStale();
    if (this.context.concurrency > 1) {
      this.waitingByKey = new Map();
      this.keys = new Array(messages.length);
    }
    this.highestBefore = host.highestDelivered.get(partition) ?? -1;
    this.mayReread = messages.length > 0 && Number(messages[0]!.offset) <= this.highestBefore;
    this.generation = host.settledOffsets.generation;
  }

  /** Hands out every message; resolves once all started ones are settled and kafkajs was told. */
  async run(): Promise<void> {
    const ticker = setInterval(
      this.tick,
      Math.min(this.context.commitIntervalMs, this.context.heartbeatIntervalMs),
    );
    try {
      await new Promise<void>((resolve) => {
        this.finished = resolve;
        this.dispatch();
      });
    } finally {
      clearInterval(ticker);
      this.report();
    }
    if (this.failure) throw this.failure.error;
  }

  /** Whether some message was left unfinished: the partition must be read again from `firstUnfinishedOffset`. */
  get unfinished(): boolean {
    return this.resolvedUpTo < this.messages.length;
  }

  get firstUnfinishedOffset(): string {
    return this.messages[this.resolvedUpTo]!.offset;
  }

  /** Resolves once no delivery of the batch is running (for `close`'s drain). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The deliveries still running and unsettled (for `close` to release at its deadline). */
  pendingDeliveries(): KafkaDelivery[] {
    return this.deliveries.filter(
      (delivery): delivery is KafkaDelivery => delivery?.settlement.state === 'pending',
    );
  }

  private stopped(): boolean {
    return this.rebalancing || this.stale || this.host.isStopping() || !this.payload.isRunning();
  }

  /**
   * Hands out messages in offset order while permits are free; when none is, waits for one and goes
   * on from the `release` that frees it. A message waiting for its key's predecessor holds a permit,
   * which cannot deadlock since that predecessor took its permit earlier.
   */
  private dispatch(): void {
    const { messages } = this;
    const { slots } = this.host;
    while (this.next < messages.length) {
      const message = messages[this.next]!;
      if (message.headers?.[HEADER.group] !== undefined) {
        if (readHeader(message.headers, HEADER.group) !== this.context.group) {
          // A copy another group republished for itself.
          this.done[this.next] = 1;
          this.next += 1;
          continue;
        }
      }
      if (!slots.tryAcquire()) {
        slots.acquire(this.onPermit);
        return;
      }
      if (!this.startNext()) return;
    }
    this.endDispatch();
  }

  private readonly onPermit = (): void => {
    if (this.startNext()) this.dispatch();
  };

  /** Holding a permit for message `next`: starts it, or queues it behind its key. False when the batch stops. */
  private startNext(): boolean {
    if (this.stopped()) {
      this.host.slots.release();
      this.endDispatch();
      return false;
    }
    const index = this.next;
    this.next += 1;
    this.running += 1;
    const waitingByKey = this.waitingByKey;
    if (waitingByKey) {
      const key = this.messages[index]!.key?.toString('utf8');
      this.keys![index] = key;
      if (key !== undefined) {
        const waiting = waitingByKey.get(key);
        if (waiting === null) {
          waitingByKey.set(key, [index]);
          return true;
        }
        if (waiting !== undefined) {
          waiting.push(index);
          return true;
        }
        waitingByKey.set(key, null);
      }
    }
    this.start(index);
    return true;
  }

  private start(index: number): void {
    if (this.stopped()) {
      this.deliveryEnded(index, 'undone');
      return;
    }
    try {
      this.deliver(index);
    } catch (error) {
      this.failure ??= { error };
      this.deliveryEnded(index, 'undone');
    }
  }

  private deliver(index: number): void {
    const message = this.messages[index]!;
    // Kafka keeps no delivery count: each time this consumer reads an offset it already delivered
    // (again after a refused settlement or a rebalance) counts as one more attempt.
    let attempt = readPositiveInt(message.headers, HEADER.attempt, 1);
    if (this.isReread(index)) attempt += this.host.rereads.count(this.rereadId(index));
    const key = this.keys ? this.keys[index] : null;
    const delivery = new KafkaDelivery(
      this.context,
      this,
      index,
      message,
      this.bodies.take(index),
      key,
      attempt,
    );
    this.deliveries[index] = delivery;
    delivery.run();
  }

  private isReread(index: number): boolean {
    return this.mayReread && Number(this.messages[index]!.offset) <= this.highestBefore;
  }

  private rereadId(index: number): string {
    return `${this.payload.batch.partition}:${this.messages[index]!.offset}`;
  }

  deliveryEnded(index: number, outcome: Outcome): void {
    this.deliveries[index] = undefined;
    if (outcome === 'done') {
      this.done[index] = 1;
      this.advance();
      if (this.isReread(index)) this.host.rereads.forget(this.rereadId(index));
    } else {
      this.anyUndone = true;
    }
    const waitingByKey = this.waitingByKey;
    if (waitingByKey) {
      const key = this.keys![index];
      if (key !== undefined) {
        const next = waitingByKey.get(key)?.shift();
        if (next === undefined) waitingByKey.delete(key);
        else this.start(next); // it holds its permit already
      }
    }
    this.running -= 1;
    // May start the next message (of this batch or another) before returning.
    this.host.slots.release();
    this.settleIfIdle();
  }

  private endDispatch(): void {
    this.dispatching = false;
    this.advance();
    if (this.next > 0) {
      const offset = Number(this.messages[this.next - 1]!.offset);
      const partition = this.payload.batch.partition;
      if (offset > (this.host.highestDelivered.get(partition) ?? -1)) {
        this.host.highestDelivered.set(partition, offset);
      }
    }
    this.settleIfIdle();
  }

  private settleIfIdle(): void {
    if (this.running !== 0) return;
    if (this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (!this.dispatching && !this.over) {
      this.over = true;
      this.finished();
    }
  }

  /** Moves the mark past the finished prefix. */
  private advance(): void {
    const { done } = this;
    while (this.resolvedUpTo < done.length && done[this.resolvedUpTo] === 1) this.resolvedUpTo += 1;
  }

  private report(): void {
    if (this.resolvedUpTo === this.reported) return;
    this.reported = this.resolvedUpTo;
    const offset = this.messages[this.resolvedUpTo - 1]!.offset;
    this.payload.resolveOffset(offset);
    const { topic, partition } = this.payload.batch;
    this.host.settledOffsets.resolved(this.generation, topic, partition, offset);
  }

  // Each tick commits what is settled, so that a member killed mid-batch leaves little behind for
  // the next owner to run again, and heartbeats (kafkajs sends one per `heartbeatIntervalMs`,
  // whatever the ticks) so the group keeps us; a failed heartbeat means a rebalance. One tick's
  // requests at a time, and none for a heartbeat interval after a failure, so that a slow or
  // absent broker gets neither a pile of requests nor a flood of warnings.
  private ticking = false;
  private quietUntil = 0;
  private readonly tick = (): void => {
    this.report();
    if (this.payload.isStale()) this.stale = true;
    if (this.ticking || Date.now() < this.quietUntil) return;
    this.ticking = true;
    this.payload
      .heartbeat()
      .then(() => this.payload.commitOffsetsIfNecessary())
      .catch((error: unknown) => {
        // A rebalance: start nothing new, so that the batch ends soon (the running handlers
        // finish) and kafkajs can rejoin. Any other failure (a slow or restarting broker) is only
        // reported: stopping would make the messages after the first unstarted one run twice.
        if (REBALANCING.has((error as { type?: string }).type ?? '')) this.rebalancing = true;
        else {
          this.quietUntil = Date.now() + this.context.heartbeatIntervalMs;
          this.context.onError(error);
        }
      })
      .finally(() => {
        this.ticking = false;
      });
  };
}

/** kafkajs error types that mean the group is rebalancing (kafkajs' own `isRebalancing`, plus the member being gone). */
const REBALANCING = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);

/**
 * `partition:offset` → times read again after its first delivery, until it is done. At most
 * `MAX_REMEMBERED_REREADS` at once (the oldest is forgotten first).
 */
export class RereadCounter {
  private readonly counts = new Map<string, number>();

  /** Counts one more reading of `id`, and returns how many times it was read again so far. */
  count(id: string): number {
    const rereads = (this.counts.get(id) ?? 0) + 1;
    if (this.counts.size >= MAX_REMEMBERED_REREADS) this.counts.delete(this.counts.keys().next().value!);
    this.counts.set(id, rereads);
    return rereads;
  }

  forget(id: string): void {
    this.counts.delete(id);
  }
}

/** Offsets whose rereads are counted at once, at most. */
const MAX_REMEMBERED_REREADS = 10_000;

/**
 * The values of a batch's records, each copied just before its handler runs into one buffer allocated
 * for the batch: a handler that writes into its body must not change what a retry or a dead letter
 * sends, which is taken from the fetched record. One allocation per batch instead of one per message
 * (a body a handler keeps keeps its batch's buffer alive), and each view made only when its message
 * runs, so that thousands of them do not live as long as the batch (and outlive the young generation).
 */
class BatchBodies {
  private readonly copy: Uint8Array;
  /** Where each value starts in `copy`; the last entry is the end of the last one. */
  private readonly starts: Uint32Array;

  constructor(private readonly messages: readonly KafkaMessage[]) {
    this.starts = new Uint32Array(messages.length + 1);
    let at = 0;
    for (let index = 0; index < messages.length; index++) {
      at += messages[index]!.value?.byteLength ?? 0;
      this.starts[index + 1] = at;
    }
    this.copy = new Uint8Array(at);
  }

  /** A copy of message `index`'s value; call it once per delivery of that message. */
  take(index: number): Uint8Array {
    const value = this.messages[index]!.value;
    const start = this.starts[index]!;
    if (value) this.copy.set(value, start);
    // A view made from the buffer costs less than `subarray`, which looks up a species constructor.
    return new Uint8Array(this.copy.buffer, start, this.starts[index + 1]! - start);
  }
}
