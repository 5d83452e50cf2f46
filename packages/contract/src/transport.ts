/**
 * The Transport contract: how Thrun moves bytes between processes.
 *
 * A transport moves bytes and never interprets them: the bytes a producer published are the bytes
 * every consumer receives, whoever produced them (a Go service, a PHP worker, Thrun itself).
 * Delivery is at-least-once everywhere; a handler must tolerate seeing a message twice.
 *
 * Every transport states the contract version it implements as a literal. `@thrun/core` refuses a
 * transport of a version it does not know with a `ConfigurationError('unsupported_transport_version')`.
 */
export const TRANSPORT_SPECIFICATION_VERSION = 'v1';
export type TransportSpecificationVersion = typeof TRANSPORT_SPECIFICATION_VERSION;

export interface Transport {
  /** The contract version this transport implements. */
  readonly specificationVersion: TransportSpecificationVersion;

  /** Short name used in errors and logs: `memory`, `redis`, `rabbitmq`, `kafka`. */
  readonly name: string;

  /** What this transport guarantees; the conformance suite tests exactly these claims. */
  readonly capabilities: TransportCapabilities;

  /**
   * Publishes messages to a queue, in order.
   *
   * Resolves only when the broker durably accepted every message (publisher confirms, `acks=all`,
   * or whatever the transport's durability setting means). Rejects with a `TransportError` when any
   * message may not have been accepted; messages before the failing one may have been (publishing a
   * batch is not atomic). Rejects with a `PayloadTooLargeError` before sending anything when a body
   * exceeds `capabilities.maxPayloadBytes`, and with a `ValidationError` on an invalid queue name.
   * Safe to call concurrently.
   */
  publish(queue: string, messages: readonly OutgoingMessage[], options?: PublishOptions): Promise<void>;

  /**
   * Starts consuming a queue. Resolves once the consumer is subscribed (a message published after
   * that is delivered to it or to another member of its group).
   *
   * Consumers sharing a `group` compete: each message goes to one of them. With `capabilities.fanout`,
   * every group receives its own copy of every message published after the group first subscribed.
   * At most `concurrency` handlers run at once, each counting until it asks for its settlement (a
   * transport may start the next delivery while the broker confirms it). Each delivery must be
   * settled once with `ack()`, `retry()` or `deadLetter()`; a handler that throws or returns without
   * settling has its delivery retried at once (attempt + 1). A delivery left unsettled because its
   * consumer died comes back after the transport's lease or visibility timeout, as a new attempt,
   * where `capabilities.redeliversUnacked` says so.
   *
   * A settlement the broker refuses, or that a lost connection interrupts, rejects with a
   * `TransportError` and leaves the delivery pending, so the handler may try it again (core backs off
   * and does). It never turns into a loop of copies: when a handler returns leaving a delivery pending
   * after one of its settlements failed, the transport does not retry it at once; the message stays
   * where it is, unacknowledged, and comes back as a later attempt only after a backoff (its lease
   * expiring, or the transport's own settlement backoff). Attempts keep counting across such failures.
   *
   * Aborting `options.signal` stops fetching, like `Subscription.close()`.
   */
  consume(queue: string, handler: DeliveryHandler, options?: ConsumeOptions): Promise<Subscription>;

  /**
   * Stops every consumer from fetching, waits for in-flight handlers up to `drainTimeoutMs`, releases
   * the deliveries still unsettled back to the broker (they are redelivered, as a new attempt), then
   * closes connections. Idempotent: later calls return the same promise. After `close()`, `publish`
   * and `consume` reject with `TransportError('closed')`.
   */
  close(options?: CloseOptions): Promise<void>;

  /**
   * Lists up to `limit` messages waiting in a queue without consuming them, oldest first.
   * Present where the broker can look without taking (used by dead-letter tooling).
   */
  peek?(queue: string, limit: number): Promise<QueuedMessage[]>;

  /** Removes every waiting message of a queue and returns how many it removed, where the broker can. */
  purge?(queue: string): Promise<number>;

  /**
   * Counts what sits in queues, per queue and consumer group, without consuming or changing anything
   * (no delivery is counted, no group is created). Present where `capabilities.inspect` is true.
   *
   * Reports every queue the transport can find on the broker (and this instance used), plus
   * `options.queues`; a requested queue that does not exist is reported with zero counts. Dead-letter
   * queues (`<queue>.dead`) are not rows of their own: their size is the `dead` count of their queue.
   * Counts are a snapshot taken with several broker calls, so a busy queue's numbers may not add up
   * exactly. Rejects with a `TransportError` when the broker cannot be reached.
   */
  inspect?(options?: InspectOptions): Promise<QueueStats[]>;

  /**
   * Deletes a consumer group of a queue and what the broker keeps for it (its queue, offsets or
   * pending entries), for a group that is not needed any more, such as a tail's: a group left behind
   * keeps collecting copies (RabbitMQ) or holds back trimming (Redis Streams). Close its consumers
   * first. Resolves when the group is gone or never existed. Where groups share one backlog (no
   * `fanout`), there is nothing of a group's own to delete and it does nothing.
   */
  removeGroup?(queue: string, group: string): Promise<void>;
}

export interface InspectOptions {
  /**
   * Queues to report whether or not the transport finds them itself. Needed where the broker cannot
   * list queues (RabbitMQ over AMQP knows only the queues it is asked about).
   */
  queues?: readonly string[];
  /**
   * Consumer groups to look for in every reported queue, besides those the transport finds. Needed
   * where the broker cannot list a queue's groups (RabbitMQ over AMQP).
   */
  groups?: readonly string[];
  /**
   * False: report only `queues`, without looking for others (cheaper on a broker with many queues).
   * Default: true.
   */
  discover?: boolean;
}

/**
 * One queue's counts for one consumer group. A count is absent where the broker cannot tell it (say,
 * RabbitMQ's unacknowledged messages over AMQP); it is never guessed.
 */
export interface QueueStats {
  /** The Thrun queue name. */
  queue: string;
  /**
   * The consumer group these counts are for. Absent where the queue has one backlog shared by every
   * consumer (Redis Lists, a queue nobody consumed yet).
   */
  group?: string;
  /** Ready to be delivered now to this group. Messages already settled are never counted. */
  waiting: number;
  /** Delivered to a consumer and not settled yet. */
  inFlight?: number;
  /** Held back until a later time (delayed publishes and delayed retries). */
  delayed?: number;
  /** Records in `<queue>.dead` not yet replayed or purged. */
  dead?: number;
  /** Consumers attached to this group, as the broker sees them. */
  consumers?: number;
  /** Per partition, where the queue has partitions (Kafka): the group's lag on each. */
  partitions?: PartitionLag[];
}

export interface PartitionLag {
  partition: number;
  /** Records of the partition not yet committed by the group (high watermark minus committed offset). */
  lag: number;
}

export interface TransportCapabilities {
  /** `retry(delayMs)` and `OutgoingMessage.delayMs` hold the message back at least that long. */
  delay: boolean;
  /** Each consumer group receives its own copy of every message. Without it, groups share one copy. */
  fanout: boolean;
  /**
   * `fifo`: one consumer at concurrency 1 receives a queue's messages in publish order (retries aside).
   * `per-key`: the same holds among messages that share an `OutgoingMessage.key`.
   * `none`: no order is promised.
   */
  ordering: 'none' | 'per-key' | 'fifo';
  /** Messages survive the transport instance and the broker process restarting. */
  persistent: boolean;
  /**
   * The largest body `publish` accepts, in bytes: at least `DEAD_LETTER_OVERHEAD_BYTES` below what the
   * broker accepts, so that every accepted message can also be dead-lettered.
   */
  maxPayloadBytes: number;
  /** `deadLetter()` moves the message to `<queue>.dead` as a dead-letter record. */
  deadLetter: boolean;
  /** A delivery whose consumer died without settling it is redelivered to another consumer. */
  redeliversUnacked: boolean;
  /** `Transport.inspect` is present. Absent means false (transports written before inspection). */
  inspect?: boolean;
}

export interface OutgoingMessage {
  /** The exact bytes to deliver. */
  body: Uint8Array;
  /** Partition or ordering key (an order id, say); transports with `ordering: 'per-key'` honour it. */
  key?: string;
  /** Deliver no earlier than this many milliseconds from now. Needs `capabilities.delay`. */
  delayMs?: number;
}

export interface PublishOptions {
  /** Gives up waiting for the broker; the messages may or may not have been accepted. */
  signal?: AbortSignal;
}

export interface ConsumeOptions {
  /** The consumer group. Consumers of one group compete; groups fan out. Default: `default`. */
  group?: string;
  /** Handlers running at once (and the prefetch bound). Default: 1. */
  concurrency?: number;
  /** Aborting stops this consumer, like `Subscription.close()`. */
  signal?: AbortSignal;
  /**
   * Where a group that does not exist yet starts. `oldest` (default): it also receives what the
   * broker still holds from before (work published before the first worker started is not lost).
   * `now`: only messages published after it subscribed, for an observer such as a tail. Ignored for
   * a group that exists already.
   */
  from?: 'oldest' | 'now';
}

export interface CloseOptions {
  /** How long in-flight handlers may run before their deliveries are released. Default: 10,000. */
  drainTimeoutMs?: number;
}

export type DeliveryHandler = (delivery: Delivery) => void | Promise<void>;

export interface Delivery {
  /** The exact bytes that were published. */
  readonly body: Uint8Array;
  /** The queue this delivery came from. */
  readonly queue: string;
  /**
   * 1 on first delivery, +1 on every redelivery (`retry()`, a dead consumer's lease expiring, a
   * broker redelivery). Taken from the broker's own delivery count where it has one.
   */
  readonly attempt: number;
  /**
   * The `OutgoingMessage.key` it was published with, where the transport keeps it; undefined for a
   * message published without one (a transport may decode it only when read).
   */
  readonly key?: string | undefined;
  /**
   * The message's headers, on transports that have them (a dead letter's `thrun-dead-*` description,
   * say). Values as text; absent where the transport has no headers.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /** Removes the message for good. */
  ack(): Promise<void>;
  /**
   * Puts the message back to be delivered again as `attempt + 1`, no earlier than `delayMs` from now
   * (`capabilities.delay`; without it, immediately). It never blocks the messages behind it.
   */
  retry(delayMs?: number): Promise<void>;
  /**
   * Moves the message to `<queue>.dead` as a dead letter: the original bytes unchanged, beside a
   * bounded description (the reason, the attempt count, the time, the queue) in the `thrun-dead-*`
   * headers or, without headers, as a frame (`schemas/dead-letter.schema.json`). What it adds to the
   * body is at most `DEAD_LETTER_OVERHEAD_BYTES`, so any message the transport accepted fits.
   */
  deadLetter(reason: DeadLetterReason): Promise<void>;
}

/** Why a message was dead-lettered. `code` is machine-readable (`invalid_json`, `max_attempts`, …). */
export interface DeadLetterReason {
  code: string;
  message: string;
}

export interface Subscription {
  /** Stops fetching and waits for this consumer's in-flight handlers (bounded, like `Transport.close`). */
  close(): Promise<void>;
}

/** A message seen by `peek`, still in its queue. */
export interface QueuedMessage {
  body: Uint8Array;
  key?: string;
  /** As `Delivery.headers`. */
  headers?: Readonly<Record<string, string>>;
}
