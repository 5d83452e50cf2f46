import {
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  deadLetterQueueName,
  encodeDeadLetterRecord,
} from '@thrun/contract';
import type { Consumer, EachBatchPayload, IHeaders, KafkaMessage, Message } from 'kafkajs';
import { HEADER, readHeader, readPositiveInt } from './headers.js';
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
  /** Sends with the transport's idempotent producer (`acks: -1`); rejects when not acknowledged. */
  send(topic: string, messages: Message[]): Promise<void>;
  /** Creates a topic when missing (used for `<queue>.dead`, on first use). */
  ensureTopic(topic: string): Promise<void>;
  /** Reports an error nobody awaits (a failed release, a failed commit); never holds credentials. */
  onError(error: unknown): void;
}

type Outcome = 'done' | 'undone';
type Settlement = 'pending' | 'settling' | 'settled' | 'released';

interface InFlight {
  settlement: Settlement;
  /** Runs the release (republish as attempt + 1) when the drain deadline passes. */
  release(): Promise<void>;
  finished: Promise<unknown>;
}

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
  private readonly inFlight = new Set<InFlight>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Deliveries of the same offset seen by this consumer, so a redelivery counts as a new attempt. */
  private readonly redeliveries = new Map<string, number>();
  private stopping = false;
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

    const advance = () => {
      let next = resolvedUpTo;
      while (next < messages.length && done[next]) next += 1;
      if (next === resolvedUpTo) return;
      resolvedUpTo = next;
      payload.resolveOffset(messages[next - 1]!.offset);
    };

    const keyTails = new Map<string, Promise<unknown>>();
    const tasks: Promise<Outcome>[] = [];
    for (let index = 0; index < messages.length; index += 1) {
      const message = messages[index]!;
      const target = readHeader(message.headers, HEADER.group);
      if (target !== undefined && target !== this.context.group) {
        // A copy another group republished for itself.
        done[index] = true;
        continue;
      }
      const key = message.key?.toString('utf8');
      const previous = key === undefined ? undefined : keyTails.get(key);
      const task = (previous ?? Promise.resolve())
        .then(() => this.slots.acquire())
        .then(async (): Promise<Outcome> => {
          try {
            if (rebalancing || this.shouldStop(payload)) return 'undone';
            return await this.handleMain(batch.partition, message, key);
          } finally {
            this.slots.release();
          }
        })
        .then((outcome) => {
          if (outcome === 'done') {
            done[index] = true;
            advance();
          }
          return outcome;
        });
      tasks.push(task);
      if (key !== undefined) keyTails.set(key, task);
    }
    advance();

    // Wait for every message of the batch, heartbeating so the group keeps us while handlers run.
    const all = Promise.all(tasks);
    let settled = false;
    void all.then(() => {
      settled = true;
    });
    while (!settled) {
      await Promise.race([all, sleep(this.context.heartbeatIntervalMs)]);
      if (settled) break;
      try {
        await payload.heartbeat();
        await payload.commitOffsetsIfNecessary();
      } catch (error) {
        // A rebalance: start nothing new, let the running handlers finish, then let kafkajs rejoin.
        rebalancing = true;
        this.context.onError(error);
      }
    }
    const outcomes = await all;

    if (resolvedUpTo < messages.length && !this.stopping && !rebalancing && payload.isRunning()) {
      // Something could not be settled (the broker refused the retry copy, say): read the partition
      // again from the first unfinished message, after a pause so a broker outage is not a hot loop.
      if (outcomes.includes('undone')) await sleep(500);
      if (!payload.isStale()) {
        this.context.consumer.seek({
          topic: batch.topic,
          partition: batch.partition,
          offset: messages[resolvedUpTo]!.offset,
        });
      }
    }
  }

  private handleMain(partition: number, message: KafkaMessage, key: string | undefined): Promise<Outcome> {
    const seenKey = `${partition}:${message.offset}`;
    const seen = this.redeliveries.get(seenKey) ?? 0;
    this.redeliveries.set(seenKey, seen + 1);
    const attempt = readPositiveInt(message.headers, HEADER.attempt, 1) + seen;
    const value = message.value ?? Buffer.alloc(0);
    const body = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    const { queue, retryTopic, group } = this.context;

    let settlement = 'pending' as Settlement;
    let settling: Promise<void> | undefined;
    const settle = (action: () => Promise<void>, releasing = false): Promise<void> => {
      if (settlement === 'settled' || settlement === 'released') return Promise.resolve();
      if (settlement === 'settling') return settling!;
      settlement = 'settling';
      settling = action().then(
        () => {
          settlement = releasing ? 'released' : 'settled';
        },
        (error: unknown) => {
          settlement = 'pending';
          throw error;
        },
      );
      return settling;
    };

    const copyHeaders = (extra: IHeaders): IHeaders => ({ [HEADER.group]: group, ...extra });
    const keyBuffer = message.key ?? null;
    const retry = (delayMs = 0, releasing = false) =>
      settle(() => {
        const headers = copyHeaders({ [HEADER.attempt]: String(attempt + 1) });
        if (delayMs <= 0) {
          // Due now: straight back to the main topic, tagged for this group only.
          return this.context.send(queue, [{ key: keyBuffer, value, headers }]);
        }
        headers[HEADER.dueAt] = String(Date.now() + delayMs);
        return this.context.send(retryTopic, [{ key: keyBuffer, value, headers }]);
      }, releasing);

    const delivery: Delivery = {
      body,
      queue,
      attempt,
      ...(key === undefined ? {} : { key }),
      ack: () => settle(async () => {}),
      retry: (delayMs?: number) => retry(delayMs ?? 0),
      deadLetter: (reason: DeadLetterReason) =>
        settle(async () => {
          const deadTopic = deadLetterQueueName(queue);
          await this.context.ensureTopic(deadTopic);
          const record = encodeDeadLetterRecord({ queue, body, reason, attempts: attempt });
          await this.context.send(deadTopic, [
            {
              key: keyBuffer,
              value: Buffer.from(record.buffer, record.byteOffset, record.byteLength),
              headers: {
                [HEADER.group]: group,
                [HEADER.errorCode]: reason.code,
                [HEADER.errorMessage]: reason.message,
                [HEADER.attempts]: String(attempt),
              },
            },
          ]);
        }),
    };

    // Resolves once the delivery was released at the drain deadline, so the batch (and `close`) need
    // not wait for a handler that overran it.
    let markReleased: (outcome: Outcome) => void = () => {};
    const released = new Promise<Outcome>((resolve) => {
      markReleased = resolve;
    });
    const entry: InFlight = {
      get settlement() {
        return settlement;
      },
      release: () => retry(0, true).then(() => markReleased('done')),
      finished: Promise.resolve(),
    };
    const flow = (async (): Promise<Outcome> => {
      try {
        await this.context.handler(delivery);
      } catch {
        // The contract: a handler that throws has its delivery retried at once.
      }
      try {
        if (settlement === 'settling') await settling;
      } catch {
        // The handler's own settlement failed; the retry below tries again.
      }
      try {
        await retry(0); // a no-op when the handler settled
      } catch (error) {
        this.context.onError(error);
        return 'undone';
      }
      return 'done';
    })();
    entry.finished = flow;
    this.inFlight.add(entry);
    return Promise.race([flow, released]).then((outcome) => {
      this.inFlight.delete(entry);
      if (outcome === 'done') this.redeliveries.delete(seenKey);
      return outcome;
    });
  }

  private async processRetryBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const due: Message[] = [];
    let lastDueOffset: string | undefined;
    const flush = async () => {
      if (due.length > 0) await this.context.send(this.context.queue, due.splice(0));
      if (lastDueOffset !== undefined) payload.resolveOffset(lastDueOffset);
      lastDueOffset = undefined;
    };

    for (const message of batch.messages) {
      if (this.shouldStop(payload)) break;
      const target = readHeader(message.headers, HEADER.group);
      if (target !== undefined && target !== this.context.group) {
        lastDueOffset = message.offset;
        continue;
      }
      const waitMs = Number(readHeader(message.headers, HEADER.dueAt) ?? 0) - Date.now();
      if (waitMs > 0) {
        // Not due: hold back this retry partition only. It is fetched again, from this message
        // (its offset is not resolved), once the timer resumes it.
        await flush();
        const resume = payload.pause();
        const timer = setTimeout(() => {
          this.resumeTimers.delete(timer);
          resume();
        }, waitMs);
        this.resumeTimers.add(timer);
        return;
      }
      const headers: IHeaders = { [HEADER.group]: target ?? this.context.group };
      const attempt = readHeader(message.headers, HEADER.attempt);
      if (attempt !== undefined) headers[HEADER.attempt] = attempt;
      due.push({ key: message.key ?? null, value: message.value, headers });
      lastDueOffset = message.offset;
    }
    await flush();
  }

  /**
   * Stops fetching, waits up to `drainTimeoutMs` for running handlers, releases what is still
   * unsettled as a new attempt, then leaves the group (kafkajs commits the finished offsets first).
   */
  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      for (const timer of this.resumeTimers) clearTimeout(timer);
      this.resumeTimers.clear();
      const disconnected = this.context.consumer.disconnect();
      const running = [...this.inFlight].map((entry) => entry.finished);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(running),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      await Promise.allSettled(
        [...this.inFlight]
          .filter((entry) => entry.settlement === 'pending')
          .map((entry) => entry.release().catch((error: unknown) => this.context.onError(error))),
      );
      await disconnected;
    })();
    return this.closing;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
