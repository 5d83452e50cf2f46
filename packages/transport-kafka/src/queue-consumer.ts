import { sleep } from '@thrun/contract';
import { drainWithin, refusalDelayMs, settlesWithin } from '@thrun/contract/transport-kit';
import type { EachBatchPayload, IHeaders, Message } from 'kafkajs';
import type { QueueConsumerContext } from './consumer-context.js';
import { HEADER, readHeader } from './headers.js';
import { MainBatch, type MainBatchHost, RereadCounter } from './main-batch.js';
import { Semaphore } from './semaphore.js';
import { SettledOffsets } from './settled-offsets.js';

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
  /** What every main-topic batch shares: the permits, the delivery counts. */
  private readonly host: MainBatchHost;
  /** The main-topic batches in progress, for `close` to drain. */
  private readonly mainBatches = new Set<MainBatch>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Per retry-topic partition, copies already put back but not yet behind the resolved offset. */
  private readonly forwarded = new Map<number, Set<string>>();
  private stopping = false;
  /** Consecutive partition batches left with a refused settlement: the pause before reading again grows. */
  private refusals = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly context: QueueConsumerContext) {
    this.host = {
      context,
      slots: new Semaphore(context.concurrency),
      isStopping: () => this.stopping,
      highestDelivered: new Map(),
      rereads: new RereadCounter(),
      settledOffsets: new SettledOffsets(),
    };
  }

  eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    if (payload.batch.topic === this.context.retryTopic) await this.processRetryBatch(payload);
    else await this.processMainBatch(payload);
  };

  private shouldStop(payload: EachBatchPayload): boolean {
    return this.stopping || !payload.isRunning() || payload.isStale();
  }

  private async processMainBatch(payload: EachBatchPayload): Promise<void> {
    const batch = new MainBatch(this.host, payload);
    this.mainBatches.add(batch);
    try {
      await batch.run();
    } finally {
      this.mainBatches.delete(batch);
    }

    if (!batch.anyUndone) this.refusals = 0;
    if (batch.unfinished && !this.stopping && !batch.rebalancing && payload.isRunning()) {
      // Something could not be settled (the broker refused the retry copy, say): read the partition
      // again from the first unfinished message, after a growing pause so a refusal is not a hot loop.
      if (batch.anyUndone) {
        this.refusals += 1;
        await sleep(refusalDelayMs(this.refusals));
      }
      if (!payload.isStale()) {
        this.context.consumer.seek({
          topic: payload.batch.topic,
          partition: payload.batch.partition,
          offset: batch.firstUnfinishedOffset,
        });
      }
    }
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
    const { settledOffsets } = this.host;
    const generation = settledOffsets.generation;
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
      settledOffsets.resolved(generation, batch.topic, batch.partition, resolvable);
      const resolved = BigInt(resolvable);
      for (const offset of forwarded) if (BigInt(offset) <= resolved) forwarded.delete(offset);
    }
    if (blocked) this.pauseFor(payload, Math.min(Math.max(earliestDueAt - Date.now(), 1), RETRY_POLL_MS));
  }

  /**
   * The consumer joined a generation holding `assignment` (kafkajs GROUP_JOIN, before it fetches
   * again): the partitions it kept are sought to what it settled there and kafkajs did not commit
   * (see `SettledOffsets`), which kafkajs then commits.
   */
  joined(assignment: Readonly<Record<string, readonly number[]>>): void {
    for (const seek of this.host.settledOffsets.joined(assignment)) {
      try {
        this.context.consumer.seek(seek);
      } catch (error) {
        this.context.onError(error); // not running any more: nothing to commit for
      }
    }
  }

  /** kafkajs committed these offsets (COMMIT_OFFSETS). */
  committed(topics: readonly { topic: string; partitions: { partition: number; offset: string }[] }[]): void {
    this.host.settledOffsets.commitDone(topics);
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
        [...this.mainBatches].map((batch) => batch.idle()),
        drainTimeoutMs,
      );
      await Promise.allSettled(
        [...this.mainBatches]
          .flatMap((batch) => batch.pendingDeliveries())
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

/** How long past the drain deadline `close` lets kafkajs leave the group gracefully. */
const LEAVE_GRACE_MS = 1_000;
/** How long `close` waits for kafkajs to notice its connections were cut. */
const CUT_GRACE_MS = 500;

/** Longest sleep of a retry partition holding copies not yet due. */
const RETRY_POLL_MS = 1_000;
