import { ConfigurationError, PROTOCOL_HEADERS } from '@thrun/contract';

/**
 * Names of everything the transport declares. Thrun queue names never contain `:` (they follow the
 * event-name rule), so `:` separates a queue from its group and from its delay buckets without any
 * possible clash: `orders`, `orders:billing`, `orders:retry:1500`, `orders:delay:1500`, `orders.dead`.
 */
export const topology = {
  /** The fanout exchange a Thrun queue is published to; every group's queue is bound to it. */
  exchange: (queue: string): string => `thrun.${queue}`,
  /**
   * The AMQP queue of a consumer group. The default group consumes the queue named like the Thrun
   * queue, so a plain AMQP producer that sends to `orders` (as a PHP or Go service would) reaches it.
   */
  groupQueue: (queue: string, group: string): string =>
    group === DEFAULT_GROUP ? queue : `${queue}:${group}`,
  /** Holds a group's retried messages for `bucketMs`, then dead-letters them back to the group's queue. */
  retryQueue: (groupQueue: string, bucketMs: number): string => `${groupQueue}:retry:${bucketMs}`,
  /** Holds delayed publishes for `bucketMs`, then dead-letters them to the queue's exchange (every group). */
  delayQueue: (queue: string, bucketMs: number): string => `${queue}:delay:${bucketMs}`,
} as const;

export const DEFAULT_GROUP = 'default';

const GROUP_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export function assertGroupName(group: string): void {
  if (!GROUP_PATTERN.test(group)) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:rabbitmq] invalid consumer group ${JSON.stringify(group).slice(0, 120)}: use 1-100 characters among A-Z a-z 0-9 . _ -`,
    );
  }
}

/**
 * Rounds a delay up to two significant digits (1234 ms → 1300 ms), so a queue's delays fall into a
 * bounded set of buckets (at most 90 per power of ten). Each bucket is its own queue with one
 * queue-wide TTL: every message in it expires in the order it arrived, so a long delay never holds a
 * short one back (per-message TTLs in a shared queue would: RabbitMQ only expires messages at the head).
 * Rounding up means a message is never delivered early and at most 10% late.
 */
export function delayBucketMs(delayMs: number): number {
  if (!(delayMs > 0)) return 0;
  const ms = Math.ceil(delayMs);
  if (ms < 100) return ms;
  const step = 10 ** (Math.floor(Math.log10(ms)) - 1);
  return Math.ceil(ms / step) * step;
}

/**
 * Header names the transport writes and reads (`deliveryCount` is the broker's);
 * `protocol/headers.json` (`rabbitmq`) gives each one's meaning and value format. Foreign producers
 * need none of them.
 */
export const headers = PROTOCOL_HEADERS.rabbitmq;
