import {
  assertQueueName,
  type CodecLimits,
  ConfigurationError,
  type DeadLetterMessage,
  type DeadLetterReason,
  type DecodedDeadLetter,
  type Delivery,
  deadLetterQueueName,
  decodeDeadLetter,
  decodeEnvelope,
  type Envelope,
  type Subscription,
  type Transport,
} from '@thrun/contract';
import { errorMessage } from './errors.js';
import type { ThrunLogger } from './logger.js';

/** One dead-lettered message, read back from `<queue>.dead`. */
export interface DeadLetterEntry {
  /** 0-based position in the dead-letter queue, oldest first (what `inspect` takes). */
  position: number;
  /** The queue it was taken from, where `replay` sends it. */
  queue: string;
  error: DeadLetterReason;
  /** Delivery attempts made before it was dead-lettered. */
  attempts: number;
  /** RFC 3339 time of dead-lettering. */
  failedAt: string;
  /** The original bytes, unchanged. */
  body: Uint8Array;
  /** The original bytes decoded, when they are a valid envelope (a poison message is not). */
  envelope: Envelope | undefined;
  /** How it is stored: original bytes with `thrun-dead-*` headers, a frame, or an earlier version's record. */
  form: DecodedDeadLetter['form'];
}

export interface ListOptions {
  /** At most this many entries. Default: 100. */
  limit?: number;
}

export interface ReplayOptions {
  /** Replays at most this many. Default: all. */
  limit?: number;
  /** Replays only the entries it returns true for; the others stay where they are. */
  filter?: (entry: DeadLetterEntry) => boolean;
  /** Gives up when the dead-letter queue stays silent this long. Default: 5,000. */
  idleTimeoutMs?: number;
  /**
   * Called after each record was replayed or kept, with the counts so far (a progress bar). What it
   * throws is ignored: reporting never stops a replay halfway.
   */
  onProgress?: (progress: ReplayProgress) => void;
}

export interface ReplayProgress extends ReplayReport {
  /** Records looked at so far: `replayed + kept`. */
  seen: number;
  /** The records in the dead-letter queue when the replay started, where the transport can peek. */
  total: number | undefined;
}

export interface ReplayReport {
  /** Published back to their queues as new messages (attempt 1), then removed from the dead-letter queue. */
  replayed: number;
  /** Left in the dead-letter queue (filtered out, past the limit, or not a record). */
  kept: number;
}

/**
 * Dead-letter tooling over any transport. `list` and `inspect` need `Transport.peek`, `purge` needs
 * `Transport.purge`; without them they throw `ConfigurationError('unsupported_feature')`. `replay`
 * consumes the dead-letter queue, so it works on every transport: each replayed message is published
 * to its queue before its record is acknowledged (a crash in between replays it twice, never zero
 * times); the records it keeps go back to the end of the dead-letter queue.
 */
export interface DeadLetters {
  list(queue?: string, options?: ListOptions): Promise<DeadLetterEntry[]>;
  inspect(queue: string, position: number): Promise<DeadLetterEntry | undefined>;
  replay(queue?: string, options?: ReplayOptions): Promise<ReplayReport>;
  /** Removes every record of `<queue>.dead`; returns how many. */
  purge(queue?: string): Promise<number>;
}

export interface DeadLetterDependencies {
  transport: Transport;
  defaultQueue: string;
  group: string;
  logger: ThrunLogger;
  limits: CodecLimits;
}

export function createDeadLetters(deps: DeadLetterDependencies): DeadLetters {
  const { transport } = deps;

  function unsupported(feature: 'peek' | 'purge', what: string): never {
    throw new ConfigurationError(
      'unsupported_feature',
      `[thrun:core] the ${transport.name} transport has no ${feature}(), which ${what} needs`,
    );
  }

  function toEntry(message: DeadLetterMessage, position: number): DeadLetterEntry | undefined {
    try {
      const { originalBody, ...record } = decodeDeadLetter(message);
      let envelope: Envelope | undefined;
      try {
        envelope = decodeEnvelope(originalBody, deps.limits);
      } catch {
        envelope = undefined;
      }
      return {
        position,
        queue: record.queue,
        error: record.error,
        attempts: record.attempts,
        failedAt: record.failed_at,
        body: originalBody,
        envelope,
        form: record.form,
      };
    } catch (error) {
      deps.logger.warn('skipping a dead-letter queue entry that is not a dead letter', {
        error: errorMessage(error),
      });
      return undefined;
    }
  }

  async function list(queue = deps.defaultQueue, options: ListOptions = {}): Promise<DeadLetterEntry[]> {
    assertQueueName(queue);
    if (!transport.peek) unsupported('peek', 'listing dead letters');
    const messages = await transport.peek(deadLetterQueueName(queue), options.limit ?? 100);
    const entries: DeadLetterEntry[] = [];
    messages.forEach((message, position) => {
      const entry = toEntry(message, position);
      if (entry) entries.push(entry);
    });
    return entries;
  }

  async function inspect(queue: string, position: number): Promise<DeadLetterEntry | undefined> {
    assertQueueName(queue);
    if (!transport.peek) unsupported('peek', 'inspecting dead letters');
    if (!Number.isInteger(position) || position < 0) return undefined;
    const messages = await transport.peek(deadLetterQueueName(queue), position + 1);
    const message = messages[position];
    return message ? toEntry(message, position) : undefined;
  }

  async function purge(queue = deps.defaultQueue): Promise<number> {
    assertQueueName(queue);
    if (!transport.purge) unsupported('purge', 'purging dead letters');
    return transport.purge(deadLetterQueueName(queue));
  }

  async function replay(queue = deps.defaultQueue, options: ReplayOptions = {}): Promise<ReplayReport> {
    assertQueueName(queue);
    const deadQueue = deadLetterQueueName(queue);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const idleTimeoutMs = options.idleTimeoutMs ?? 5_000;
    // With peek, stop after one pass over what is there now; without, stop when the queue goes quiet.
    const waiting = transport.peek
      ? (await transport.peek(deadQueue, 1_000_000)).length
      : Number.POSITIVE_INFINITY;
    const report: ReplayReport = { replayed: 0, kept: 0 };
    if (waiting === 0) return report;

    let seen = 0;
    let finished = false;
    let idleTimer: NodeJS.Timeout | undefined;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    let subscription: Subscription | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      // Close at once (it stops fetching synchronously) so no further record is handed to us.
      void subscription?.close();
      resolveDone();
    };
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(finish, idleTimeoutMs);
    };

    const handle = async (delivery: Delivery): Promise<void> => {
      if (finished) return; // unsettled: the transport releases it as we close
      const counted = await replayOne(delivery);
      try {
        options.onProgress?.({
          ...counted,
          seen: counted.replayed + counted.kept,
          total: Number.isFinite(waiting) ? waiting : undefined,
        });
      } catch {
        // a progress bar that fails must not leave a replay halfway
      }
    };

    /** Replays or keeps one record; returns the counts as they were once it was decided. */
    const replayOne = async (delivery: Delivery): Promise<ReplayReport> => {
      seen++;
      armIdle();
      const last = seen >= waiting;
      if (last) finish(); // before settling, so the next message is not handed to us
      const entry = toEntry(delivery, seen - 1);
      // Count before awaiting: settling a delivery may hand out the next one at once.
      if (entry && report.replayed < limit && (options.filter?.(entry) ?? true)) {
        report.replayed++;
        try {
          assertQueueName(entry.queue);
          await transport.publish(entry.queue, [{ body: entry.body }]);
        } catch (error) {
          report.replayed--;
          report.kept++;
          deps.logger.error('could not replay a dead letter; kept', { error: errorMessage(error) });
          const counted = { ...report };
          await delivery.retry(0);
          return counted;
        }
        const counted = { ...report };
        await delivery.ack();
        return counted;
      }
      report.kept++;
      const counted = { ...report };
      await delivery.retry(0);
      return counted;
    };

    armIdle();
    subscription = await transport.consume(deadQueue, handle, { group: deps.group, concurrency: 1 });
    await done;
    await subscription.close();
    return report;
  }

  return { list, inspect, replay, purge };
}
