import { type DeadLetterReason, type Delivery, type DeliveryHandler, sleep } from '@thrun/contract';
import {
  deadLetterCopy,
  drainWithin,
  refusalDelayMs,
  runDelivery,
  Settlement,
  settlesWithin,
} from '@thrun/contract/transport-kit';
import type { Consumer, EachBatchPayload, IHeaders, KafkaMessage, Message } from 'kafkajs';
import { HEADER, readHeader, readPositiveInt, textHeaders } from './headers.js';
import { Semaphore } from './semaphore.js';

/** What a queue consumer needs from its transport. */
export interface QueueConsumerContext {
  queue: string;
  group: string;
  retryTopic: string;
  handler: DeliveryHandler;
  concurrency: number;
  consumer: Consumer;
  heartbeatIntervalMs: number;
  /** How often a batch in progress resolves and commits its settled offsets. */
  commitIntervalMs: number;
  /** Sends with the transport's idempotent producer (`acks: -1`); rejects when not acknowledged. */
  send(topic: string, messages: Message[]): Promise<void>;
  /** Creates a topic when missing (used for `<queue>.dead`, on first use). */
  ensureTopic(topic: string): Promise<void>;
  /** Reports an error nobody awaits (a failed release, a failed commit); never holds credentials. */
  onError(error: unknown): void;
  /**
   * Cuts the consumer's connections, for a `close` whose group leave outlasts its deadline. Absent
   * with a kafkajs client of the user's own (Thrun does not own its sockets): `close` then returns at
   * the deadline and kafkajs finishes leaving in the background.
   */
  cutConnections?(): void;
}

type Outcome = 'done' | 'undone';

/**
 * One `consume()` call: a kafkajs consumer in group `thrun.<queue>.<group>` reading `<queue>` and
 * `<queue>.retry`.
 *
 * Main topic. Each fetched batch (one partition) is handed out to handlers as permits of the
 * `concurrency` semaphore allow; messages sharing a key wait for each other, so per-key order holds at
 * any concurrency. Offsets are resolved (and committed by kafkajs) only up to the lowest unfinished
 * message of the partition, and the batch returns only when all its messages are settled, so a
 * rebalance never commits past a message still running and never loses one.
 *
 * Retry topic. Copies carry a due time; a copy not yet due pauses only its retry partition until it
 * is (the main partitions keep flowing), then goes back to the main topic, tagged for this group.
 */
export class QueueConsumer {
  private readonly slots: Semaphore;
  private readonly inFlight = new Set<KafkaDelivery>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Per retry-topic partition, copies already put back but not yet behind the resolved offset. */
  private readonly forwarded = new Map<number, Set<string>>();
  /** Per main-topic partition, the highest offset this consumer delivered. */
  private readonly highestDelivered = new Map<number, number>();
  /** `partition:offset` → times read again after its first delivery, until it is done. */
  private readonly rereads = new Map<string, number>();
  private stopping = false;
  /** Consecutive partition batches left with a refused settlement: the pause before reading again grows. */
  private refusals = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly context: QueueConsumerContext) {
    this.slots = new Semaphore(context.concurrency);
  }

  eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    if (payload.batch.topic === this.context.retryTopic) await this.processRetryBatch(payload);
    else await this.processMainBatch(payload);
  };

  private shouldStop(payload: EachBatchPayload): boolean {
    return this.stopping || !payload.isRunning() || payload.isStale();
  }

  private async processMainBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const messages = batch.messages;
    const done = new Array<boolean>(messages.length).fill(false);
    let resolvedUpTo = 0; // index of the lowest message not yet done
    let rebalancing = false;

    // Moves the mark past the finished prefix. kafkajs learns it (resolveOffset) on each tick and at
    // the end of the batch, not per message: parsing offsets is a real cost at 100k/s.
    let reported = 0;
    const advance = () => {
      while (resolvedUpTo < messages.length && done[resolvedUpTo]) resolvedUpTo += 1;
    };
    const report = () => {
      if (resolvedUpTo === reported) return;
      reported = resolvedUpTo;
      payload.resolveOffset(messages[resolvedUpTo - 1]!.offset);
    };

    // Each tick commits what is settled, so that a member killed mid-batch leaves little behind for
    // the next owner to run again, and heartbeats (kafkajs sends one per `heartbeatIntervalMs`,
    // whatever the ticks) so the group keeps us; a failed heartbeat means a rebalance. One tick's
    // requests at a time, and none for a heartbeat interval after a failure, so that a slow or
    // absent broker gets neither a pile of requests nor a flood of warnings.
    let ticking = false;
    let quietUntil = 0;
    const ticker = setInterval(
      () => {
        report();
        if (ticking || Date.now() < quietUntil) return;
        ticking = true;
        payload
          .heartbeat()
          .then(() => payload.commitOffsetsIfNecessary())
          .catch((error: unknown) => {
            // A rebalance: start nothing new, so that the batch ends soon (the running handlers
            // finish) and kafkajs can rejoin. Any other failure (a slow or restarting broker) is only
            // reported: stopping would make the messages after the first unstarted one run twice.
            if (REBALANCING.has((error as { type?: string }).type ?? '')) rebalancing = true;
            else {
              quietUntil = Date.now() + this.context.heartbeatIntervalMs;
              this.context.onError(error);
            }
          })
          .finally(() => {
            ticking = false;
          });
      },
      Math.min(this.context.commitIntervalMs, this.context.heartbeatIntervalMs),
    );

    // Runs one message once it holds a permit, after the previous message with its key. Written with
    // `then` rather than `async`: at 100k messages/s each promise and tick saved shows.
    // The batch keeps no promise per message (thousands, held until its end, they would outlive the
    // young generation and make garbage collection dear): it counts the runs still going instead.
    let running = 0;
    let anyUndone = false;
    let failure: { error: unknown } | undefined;
    let allSettled: () => void = () => {};
    const settled = (index: number, outcome: Outcome): Outcome => {
      this.slots.release();
      if (outcome === 'done') {
        done[index] = true;
        advance();
      } else {
        anyUndone = true;
      }
      if (--running === 0) allSettled();
      return outcome;
    };
    const start = (index: number, key: string | undefined): Outcome | Promise<Outcome> => {
      if (rebalancing || this.stopping) return settled(index, 'undone');
      let handling: Promise<Outcome>;
      try {
        handling = this.handleMain(batch.partition, messages[index]!, bodies[index]!, key);
      } catch (error) {
        failure ??= { error };
        return settled(index, 'undone');
      }
      return handling.then(
        (outcome) => settled(index, outcome),
        (error: unknown) => {
          failure ??= { error };
          return settled(index, 'undone');
        },
      );
    };
    const run = (index: number, key: string | undefined, previous: Promise<unknown> | undefined) => {
      running += 1;
      if (previous === undefined) return Promise.resolve(start(index, key));
      return previous.then(() => start(index, key));
    };

    const bodies = copyBodies(messages);
    const keyTails = new Map<string, Promise<Outcome>>();
    try {
      for (let index = 0; index < messages.length; index += 1) {
        const message = messages[index]!;
        if (message.headers?.[HEADER.group] !== undefined) {
          if (readHeader(message.headers, HEADER.group) !== this.context.group) {
            // A copy another group republished for itself.
            done[index] = true;
            continue;
          }
        }
        // Permits are taken in offset order; a message waiting for its key's predecessor holds
        // one, which cannot deadlock since that predecessor took its permit earlier.
        if (!this.slots.tryAcquire()) await this.slots.acquire();
        if (rebalancing || this.shouldStop(payload)) {
          this.slots.release();
          break;
        }
        const key = message.key?.toString('utf8');
        const task = run(index, key, key === undefined ? undefined : keyTails.get(key));
        if (key !== undefined) keyTails.set(key, task);
      }
      advance();
      if (running > 0) {
        await new Promise<void>((resolve) => {
          allSettled = resolve;
        });
      }
    } finally {
      clearInterval(ticker);
      report();
    }
    if (failure) throw failure.error;

    if (!anyUndone) this.refusals = 0;
    if (resolvedUpTo < messages.length && !this.stopping && !rebalancing && payload.isRunning()) {
      // Something could not be settled (the broker refused the retry copy, say): read the partition
      // again from the first unfinished message, after a growing pause so a refusal is not a hot loop.
      if (anyUndone) {
        this.refusals += 1;
        await sleep(refusalDelayMs(this.refusals));
      }
      if (!payload.isStale()) {
        this.context.consumer.seek({
          topic: batch.topic,
          partition: batch.partition,
          offset: messages[resolvedUpTo]!.offset,
        });
      }
    }
  }

  private handleMain(
    partition: number,
    message: KafkaMessage,
    body: Uint8Array,
    key: string | undefined,
  ): Promise<Outcome> {
    // Kafka keeps no delivery count: each time this consumer reads an offset it already delivered
    // (again after a refused settlement or a rebalance) counts as one more attempt.
    const offset = Number(message.offset);
    const highest = this.highestDelivered.get(partition) ?? -1;
    if (offset > highest) {
      this.highestDelivered.set(partition, offset);
      return this.deliver(message, body, key, readPositiveInt(message.headers, HEADER.attempt, 1));
    }
    const id = `${partition}:${offset}`;
    const rereads = (this.rereads.get(id) ?? 0) + 1;
    if (this.rereads.size >= MAX_REMEMBERED_REREADS) this.rereads.delete(this.rereads.keys().next().value!);
    this.rereads.set(id, rereads);
    const attempt = readPositiveInt(message.headers, HEADER.attempt, 1) + rereads;
    return this.deliver(message, body, key, attempt).then((outcome) => {
      if (outcome === 'done') this.rereads.delete(id);
      return outcome;
    });
  }

  private deliver(
    message: KafkaMessage,
    body: Uint8Array,
    key: string | undefined,
    attempt: number,
  ): Promise<Outcome> {
    const delivery = new KafkaDelivery(this.context, message, body, key, attempt, this.inFlight);
    this.inFlight.add(delivery);
    return delivery.run();
  }

  /**
   * Copies that are due go back to the main topic (in one send); the offset is resolved only up to
   * the first copy not yet due, which is read again later. So that a short delay never waits behind
   * a long one, due copies after it are sent too and remembered (`forwarded`), to be skipped when
   * the partition is read again. The partition then sleeps until the earliest copy is due, but never
   * longer than `RETRY_POLL_MS`, so a copy written meanwhile is seen soon.
   */
  private async processRetryBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    let forwarded = this.forwarded.get(batch.partition);
    if (!forwarded) {
      forwarded = new Set();
      this.forwarded.set(batch.partition, forwarded);
    }
    const due: Message[] = [];
    const dueOffsets: string[] = [];
    let resolvable: string | undefined; // the last offset before the first copy not yet due
    let blocked = false;
    let earliestDueAt = Number.POSITIVE_INFINITY;

    for (const message of batch.messages) {
      if (this.shouldStop(payload)) break;
      const target = readHeader(message.headers, HEADER.group);
      const mine = target === undefined || target === this.context.group;
      const dueAt = Number(readHeader(message.headers, HEADER.dueAt) ?? 0);
      if (mine && !forwarded.has(message.offset)) {
        if (dueAt > Date.now()) {
          blocked = true;
          earliestDueAt = Math.min(earliestDueAt, dueAt);
          continue;
        }
        // Back with its own headers (attempt among them), less the due time.
        const { [HEADER.dueAt]: _dueAt, ...headers }: IHeaders = message.headers ?? {};
        headers[HEADER.group] = target ?? this.context.group;
        due.push({ key: message.key ?? null, value: message.value, headers });
        dueOffsets.push(message.offset);
      }
      if (!blocked) resolvable = message.offset;
    }

    try {
      if (due.length > 0) await this.context.send(this.context.queue, due);
    } catch (error) {
      // Not put back (the broker is away): nothing is resolved or remembered, so they are read
      // again once the partition resumes.
      this.context.onError(error);
      this.pauseFor(payload, 1_000);
      return;
    }
    for (const offset of dueOffsets) forwarded.add(offset);
    if (resolvable !== undefined) {
      payload.resolveOffset(resolvable);
      const resolved = BigInt(resolvable);
      for (const offset of forwarded) if (BigInt(offset) <= resolved) forwarded.delete(offset);
    }
    if (blocked) this.pauseFor(payload, Math.min(Math.max(earliestDueAt - Date.now(), 1), RETRY_POLL_MS));
  }

  private pauseFor(payload: EachBatchPayload, ms: number): void {
    const resume = payload.pause();
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      resume();
    }, ms);
    this.resumeTimers.add(timer);
  }

  /**
   * Stops fetching, waits up to `drainTimeoutMs` for running handlers, releases what is still
   * unsettled as a new attempt, then leaves the group (kafkajs commits the finished offsets first).
   * Leaving gets until `LEAVE_GRACE_MS` past the drain deadline: a rebalance can hold it much longer
   * (until a dead member's session ends), and then the connections are cut instead; the group drops
   * this member after its session, and what it had not committed is delivered again.
   */
  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      const leaveDeadline = Date.now() + drainTimeoutMs + LEAVE_GRACE_MS;
      this.stopping = true;
      for (const timer of this.resumeTimers) clearTimeout(timer);
      this.resumeTimers.clear();
      const disconnected = this.context.consumer
        .disconnect()
        .catch((error: unknown) => this.context.onError(error));
      await drainWithin(
        [...this.inFlight].map((delivery) => delivery.finished),
        drainTimeoutMs,
      );
      await Promise.allSettled(
        [...this.inFlight]
          .filter((delivery) => delivery.settlement.state === 'pending')
          .map((delivery) => delivery.release().catch((error: unknown) => this.context.onError(error))),
      );
      if (!(await settlesWithin(disconnected, leaveDeadline - Date.now()))) {
        this.context.cutConnections?.();
        await settlesWithin(disconnected, CUT_GRACE_MS);
      }
    })();
    return this.closing;
  }
}

/** kafkajs error types that mean the group is rebalancing (kafkajs' own `isRebalancing`, plus the member being gone). */
const REBALANCING = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);

/** How long past the drain deadline `close` lets kafkajs leave the group gracefully. */
const LEAVE_GRACE_MS = 1_000;
/** How long `close` waits for kafkajs to notice its connections were cut. */
const CUT_GRACE_MS = 500;

/** Offsets whose rereads are counted at once, at most (the oldest is forgotten first). */
const MAX_REMEMBERED_REREADS = 10_000;

/** Longest sleep of a retry partition holding copies not yet due. */
const RETRY_POLL_MS = 1_000;

/** One delivery of a main-topic message, and its settlement. */
class KafkaDelivery implements Delivery {
  readonly queue: string;
  readonly key?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly settlement = new Settlement();
  /** The handler's run, settled or not; `close` waits on it until the drain deadline. */
  finished: Promise<unknown> = Promise.resolve();
  private finish: (outcome: Outcome) => void = () => {};

  constructor(
    private readonly context: QueueConsumerContext,
    private readonly message: KafkaMessage,
    /** The record's value, copied (see `copyBodies`). */
    readonly body: Uint8Array,
    key: string | undefined,
    readonly attempt: number,
    /** The consumer's set of running deliveries, which this one leaves once finished. */
    private readonly inFlight: Set<KafkaDelivery>,
  ) {
    this.queue = context.queue;
    if (key !== undefined) this.key = key;
    const headers = textHeaders(message.headers);
    if (headers !== undefined) this.headers = headers;
  }

  /**
   * Resolves when the delivery is settled (by the handler or after it), or released at close. Left
   * pending after a refusal, it is `undone`: its offset stays unresolved, and the partition is read
   * again after a backoff, so the message comes back as the next attempt.
   */
  run(): Promise<Outcome> {
    const outcome = new Promise<Outcome>((resolve) => {
      this.finish = (result) => {
        this.inFlight.delete(this);
        resolve(result);
      };
    });
    this.finished = runDelivery(
      this.context.handler,
      this,
      this.settlement,
      () => this.retry(0),
      this.context.onError,
    ).then((result) => {
      if (result !== 'released') this.finish(result === 'settled' ? 'done' : 'undone'); // release finishes it
    });
    return outcome;
  }

  ack(): Promise<void> {
    // The offset is resolved once the run finishes; nothing to send.
    return this.settlement.settle(() => {});
  }

  retry(delayMs = 0): Promise<void> {
    return this.settlement.settle(() => this.sendCopy(delayMs));
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.settlement.settle(async () => {
      const { queue, group } = this.context;
      const dead = deadLetterCopy(queue, reason, this.attempt);
      await this.context.ensureTopic(dead.queue);
      await this.context.send(dead.queue, [
        {
          key: this.message.key ?? null,
          value: this.message.value,
          headers: { ...dead.headers, [HEADER.failedGroup]: group },
        },
      ]);
    });
  }

  /**
   * At the drain deadline: hands the message back as the next attempt, whatever the handler does
   * later. Kafka cannot give a message back, so that is a copy, and then the offset may pass it.
   */
  async release(): Promise<void> {
    await this.settlement.settle(() => this.sendCopy(0), 'released');
    this.finish('done');
  }

  private sendCopy(delayMs: number): Promise<void> {
    // A copy keeps the message's own headers (a kept dead letter's description, a producer's).
    const headers: IHeaders = {
      ...this.message.headers,
      [HEADER.group]: this.context.group,
      [HEADER.attempt]: String(this.attempt + 1),
    };
    const copy: Message = { key: this.message.key ?? null, value: this.message.value, headers };
    if (delayMs <= 0) {
      // Due now: straight back to the main topic, tagged for this group only.
      return this.context.send(this.context.queue, [copy]);
    }
    headers[HEADER.dueAt] = String(Date.now() + delayMs);
    return this.context.send(this.context.retryTopic, [copy]);
  }
}

/**
 * The values of a batch's records, copied into one buffer allocated for the batch: a handler that
 * writes into its body must not change what a retry or a dead letter sends, which is taken from the
 * fetched record. One allocation per batch instead of one per message (a body a handler keeps keeps
 * its batch's buffer alive).
 */
function copyBodies(messages: readonly KafkaMessage[]): Uint8Array[] {
  let total = 0;
  for (const message of messages) total += message.value?.byteLength ?? 0;
  const copy = new Uint8Array(total);
  const bodies = new Array<Uint8Array>(messages.length);
  let at = 0;
  for (let index = 0; index < messages.length; index++) {
    const value = messages[index]!.value;
    const length = value?.byteLength ?? 0;
    if (value) copy.set(value, at);
    bodies[index] = copy.subarray(at, at + length);
    at += length;
  }
  return bodies;
}
