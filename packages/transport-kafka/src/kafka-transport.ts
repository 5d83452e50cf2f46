import {
  assertQueueName,
  type CloseOptions,
  ConfigurationError,
  type ConsumeOptions,
  type DeliveryHandler,
  type OutgoingMessage,
  PayloadTooLargeError,
  type PublishOptions,
  type QueuedMessage,
  type Subscription,
  ThrunError,
  TRANSPORT_SPECIFICATION_VERSION,
  type Transport,
  type TransportCapabilities,
  TransportError,
  ValidationError,
} from '@thrun/contract';
import { assertPayloadsFit, transportClosedError } from '@thrun/contract/transport-kit';
import {
  type Admin,
  type CompressionTypes,
  type ITopicConfig,
  Kafka,
  type KafkaConfig,
  type logCreator,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
  type RetryOptions,
  type SASLOptions,
} from 'kafkajs';
import { ConsumerSockets } from './consumer-sockets.js';
import { HEADER } from './headers.js';
import { peekTopic, waitingRanges } from './inspect.js';
import { QueueConsumer } from './queue-consumer.js';

export interface KafkaTransportOptions {
  /** Bootstrap brokers, `host:port`, as a list or comma-separated. Ignored when `kafka` is given. */
  brokers?: readonly string[] | string;
  /** A kafkajs client of your own (its brokers, TLS, SASL and logging are then used as they are). */
  kafka?: Kafka;
  /** kafkajs client id. Default: `thrun`. */
  clientId?: string;
  /** TLS: `true`, or Node's `tls.connect` options (CA, client certificate). */
  ssl?: KafkaConfig['ssl'];
  /** SASL (plain, scram-sha-256/512, aws, oauthbearer). Credentials are never logged by Thrun. */
  sasl?: SASLOptions;
  /** Partitions of the topics Thrun creates (`<queue>`, `<queue>.retry`, `<queue>.dead`). Default: 3. */
  partitions?: number;
  /** Replication factor of created topics. Default: the broker's `default.replication.factor`. */
  replicationFactor?: number;
  /** Create missing topics. With `false`, they must exist (or the broker must auto-create them). Default: true. */
  createTopics?: boolean;
  /** Kafka consumer group ids are `<groupIdPrefix>.<queue>.<group>`. Default: `thrun`. */
  groupIdPrefix?: string;
  /**
   * Largest body `publish` accepts. Default: 1,000,000 bytes, under the broker's default
   * `message.max.bytes` (1,048,588) with room for the key, headers and record overhead.
   */
  maxPayloadBytes?: number;
  /** Compression of produced batches. Default: none. */
  compression?: CompressionTypes;
  /** Default for `close()`. Default: 10,000. */
  drainTimeoutMs?: number;
  /** A dead consumer's partitions go to another member after this long. Default: 10,000. */
  sessionTimeoutMs?: number;
  /** Default: 1,000. */
  heartbeatIntervalMs?: number;
  /**
   * How often a consumer commits the offsets it settled while a batch is running (it also commits at
   * the end of each batch). A member killed mid-batch leaves up to this much finished work
   * uncommitted, which the next owner of its partitions runs again; each interval costs a busy
   * consumer one OffsetCommit request. Default: 20.
   */
  commitIntervalMs?: number;
  /** How long members may take to rejoin during a rebalance. Default: 30,000. */
  rebalanceTimeoutMs?: number;
  /** Longest wait of one fetch when nothing is new (also bounds how fast `close` returns). Default: 500. */
  maxWaitTimeMs?: number;
  /** Default: 3,000. */
  connectionTimeoutMs?: number;
  /** Default: 30,000. */
  requestTimeoutMs?: number;
  /** How produce and consume retry a broker that is away (kafkajs retry options). */
  retry?: RetryOptions;
  /** kafkajs log level. Default: `logLevel.WARN` (to stderr, through `logCreator` when given). */
  logLevel?: logLevel;
  logCreator?: logCreator;
}

const DEFAULTS = {
  partitions: 3,
  maxPayloadBytes: 1_000_000,
  drainTimeoutMs: 10_000,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  commitIntervalMs: 20,
  rebalanceTimeoutMs: 30_000,
  maxWaitTimeMs: 500,
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 30_000,
  // Bounded on purpose: `publish` must reject when the broker stays away, not hang. A delivery given
  // up on may still have been written; at-least-once already allows the duplicate a resend makes.
  retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 20 } satisfies RetryOptions,
} as const;

/** A record batch must fit the broker's `message.max.bytes`: bigger publishes go in several sends. */
const MAX_BATCH_BYTES = 900_000;

/**
 * The Apache Kafka transport, on kafkajs.
 *
 * A queue is a topic, created with `partitions` partitions when missing; a consumer group is the
 * Kafka consumer group `thrun.<queue>.<group>`, so groups fan out and members of one group share the
 * partitions. `OutgoingMessage.key` is the Kafka key, which picks the partition: messages sharing a
 * key keep their order. Publishing uses an idempotent producer with `acks: -1`.
 *
 * Delivery is at-least-once: an offset is committed only once every message before it in its
 * partition was settled. `retry(delayMs)` goes through `<queue>.retry`, whose consumer holds a copy
 * back until due and then republishes it to `<queue>` for the retrying group only; `deadLetter()`
 * writes a dead-letter record to `<queue>.dead`.
 */
export function kafkaTransport(options: KafkaTransportOptions = {}): Transport {
  const partitions = options.partitions ?? DEFAULTS.partitions;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes;
  const groupIdPrefix = options.groupIdPrefix ?? 'thrun';
  const createTopics = options.createTopics ?? true;
  const retry = options.retry ?? DEFAULTS.retry;
  for (const [name, value] of Object.entries({
    partitions,
    maxPayloadBytes,
    replicationFactor: options.replicationFactor ?? 1,
    drainTimeoutMs: (options.drainTimeoutMs ?? 0) + 1,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 1,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1,
    commitIntervalMs: options.commitIntervalMs ?? 1,
    rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 1,
    maxWaitTimeMs: options.maxWaitTimeMs ?? 1,
  })) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigurationError('invalid_option', `[thrun:kafka] ${name} must be a positive integer`);
    }
  }
  const ownConfig = options.kafka ? undefined : clientConfig(options, retry);
  const kafka = options.kafka ?? new Kafka(ownConfig!);

  const capabilities: TransportCapabilities = {
    delay: true,
    fanout: true,
    ordering: 'per-key',
    persistent: true,
    maxPayloadBytes,
    deadLetter: true,
    redeliversUnacked: true,
  };

  const consumers = new Set<QueueConsumer>();
  const topics = new Map<string, Promise<void>>();
  let producer: Promise<Producer> | undefined;
  let admin: Promise<Admin> | undefined;
  let closing: Promise<void> | undefined;
  let reached: Promise<void> | undefined;

  /**
   * The first contact with the cluster fails fast: each bootstrap broker is tried once, within
   * `connectionTimeoutMs`, instead of through the whole `retry` budget (about 30 s), which is meant
   * for a broker that goes away while Thrun runs. Once reached, never asked again. With a client of
   * your own, its retry settings decide.
   */
  function reachCluster(): Promise<void> {
    if (!ownConfig) return RESOLVED;
    reached ??= (async () => {
      const probe = new Kafka({
        ...ownConfig,
        retry: { retries: ownConfig.brokers.length - 1, initialRetryTime: 50, maxRetryTime: 50 },
        logLevel: logLevel.NOTHING,
      }).admin();
      try {
        await probe.connect();
      } catch (cause) {
        throw unreachableError(ownConfig.brokers, cause);
      } finally {
        await probe.disconnect().catch(() => {});
      }
    })();
    reached.catch(() => {
      reached = undefined; // the broker may be up next time
    });
    return reached;
  }

  const groupIdOf = (queue: string, group: string) => `${groupIdPrefix}.${queue}.${group}`;

  function assertOpen(): void {
    if (closing) {
      throw transportClosedError('kafka');
    }
  }

  function getProducer(): Promise<Producer> {
    producer ??= (async () => {
      await reachCluster();
      const created = kafka.producer({
        idempotent: true,
        allowAutoTopicCreation: false,
        retry,
        // kafkajs' default (murmur2 on the key, as the Java client), named so it does not warn.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await created.connect();
      return created;
    })();
    producer.catch(() => {
      producer = undefined; // a broker that was away when we first connected: try again next time
    });
    return producer;
  }

  function getAdmin(): Promise<Admin> {
    admin ??= (async () => {
      await reachCluster();
      const created = kafka.admin({ retry });
      await created.connect();
      return created;
    })();
    admin.catch(() => {
      admin = undefined;
    });
    return admin;
  }

  /** Creates the topics when missing, once per transport; concurrent callers share the request. */
  async function ensureTopics(names: readonly string[]): Promise<void> {
    if (!createTopics) return;
    const missing = names.filter((name) => !topics.has(name));
    if (missing.length > 0) {
      const created = (async () => {
        try {
          const client = await getAdmin();
          await createTopicsAndWait(
            client,
            missing.map((topic) => ({
              topic,
              numPartitions: partitions,
              ...(options.replicationFactor === undefined
                ? {}
                : { replicationFactor: options.replicationFactor }),
            })),
          );
        } catch (cause) {
          for (const name of missing) topics.delete(name);
          if (ThrunError.isInstance(cause)) throw cause;
          throw new TransportError(
            'broker_error',
            `[thrun:kafka] could not create topics ${missing.join(', ')}: ${describe(cause)}`,
            { cause },
          );
        }
      })();
      for (const name of missing) topics.set(name, created);
    }
    await Promise.all(names.map((name) => topics.get(name)));
  }

  // Sends are coalesced: while one `sendBatch` is in flight, the messages of every publish that
  // arrives meanwhile wait and then go together in the next one. Concurrent single-message
  // dispatches then cost one round trip per batch instead of one each (kafkajs serialises an
  // idempotent producer's requests per broker anyway). Each caller still resolves only once its own
  // messages were acknowledged, and rejects when their batch was not.
  const outbox: OutboxEntry[] = [];
  let flushing: Promise<void> | undefined;

  function send(topic: string, messages: Message[]): Promise<void> {
    const chunks = chunkBySize(messages).map(
      (chunk) =>
        new Promise<void>((resolve, reject) => {
          outbox.push({ topic, messages: chunk, bytes: sizeOf(chunk), resolve, reject });
        }),
    );
    startFlushing();
    return Promise.all(chunks).then(() => {});
  }

  function startFlushing(): void {
    flushing ??= flush().finally(() => {
      flushing = undefined;
      // Entries pushed between the loop's last check and this callback still need a flush.
      if (outbox.length > 0) startFlushing();
    });
  }

  async function flush(): Promise<void> {
    while (outbox.length > 0) {
      const taken: OutboxEntry[] = [outbox.shift()!];
      let bytes = taken[0]!.bytes;
      while (outbox.length > 0 && bytes + outbox[0]!.bytes <= MAX_BATCH_BYTES) {
        const entry = outbox.shift()!;
        bytes += entry.bytes;
        taken.push(entry);
      }
      const byTopic = new Map<string, Message[]>();
      for (const entry of taken) {
        const list = byTopic.get(entry.topic);
        if (list) list.push(...entry.messages);
        else byTopic.set(entry.topic, [...entry.messages]);
      }
      try {
        const client = await getProducer().catch((cause: unknown) => {
          if (ThrunError.isInstance(cause)) throw cause;
          throw new TransportError('connection_failed', `[thrun:kafka] cannot connect: ${describe(cause)}`, {
            cause,
          });
        });
        await client.sendBatch({
          topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })),
          acks: -1,
          ...(options.compression === undefined ? {} : { compression: options.compression }),
        });
        for (const entry of taken) entry.resolve();
      } catch (cause) {
        for (const entry of taken) entry.reject(sendError(entry.topic, cause));
      }
    }
  }

  function onError(error: unknown): void {
    if (closing) return;
    process.emitWarning(`[thrun:kafka] ${describe(error)}`, { code: 'THRUN_KAFKA' });
  }

  return {
    specificationVersion: TRANSPORT_SPECIFICATION_VERSION,
    name: 'kafka',
    capabilities,

    async publish(
      queue: string,
      messages: readonly OutgoingMessage[],
      publishOptions: PublishOptions = {},
    ): Promise<void> {
      assertOpen();
      assertKafkaQueueName(queue);
      assertPayloadsFit('kafka', messages, maxPayloadBytes);
      if (messages.length === 0) return;
      const now = Date.now();
      const immediate: Message[] = [];
      const delayed: Message[] = [];
      for (const message of messages) {
        const record: Message = {
          key: message.key ?? null,
          // Copy: the bytes must be the ones passed in, even if the caller reuses its buffer later.
          value: Buffer.from(message.body),
        };
        if (message.delayMs !== undefined && message.delayMs > 0) {
          record.headers = { [HEADER.dueAt]: String(now + message.delayMs) };
          delayed.push(record);
        } else {
          immediate.push(record);
        }
      }
      const work = (async () => {
        await ensureTopics(delayed.length > 0 ? [queue, `${queue}.retry`] : [queue]);
        if (immediate.length > 0) await send(queue, immediate);
        if (delayed.length > 0) await send(`${queue}.retry`, delayed);
      })();
      const signal = publishOptions.signal;
      if (!signal) return work;
      signal.throwIfAborted();
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () =>
          reject(
            new TransportError('timeout', '[thrun:kafka] publish aborted; messages may have been written', {
              cause: signal.reason,
            }),
          );
        signal.addEventListener('abort', onAbort, { once: true });
      });
      work.catch(() => {}); // its error is reported through the race, or dropped after an abort
      try {
        return await Promise.race([work, aborted]);
      } finally {
        signal.removeEventListener('abort', onAbort!);
      }
    },

    async consume(
      queue: string,
      handler: DeliveryHandler,
      consumeOptions: ConsumeOptions = {},
    ): Promise<Subscription> {
      assertOpen();
      assertKafkaQueueName(queue);
      const group = consumeOptions.group ?? 'default';
      const concurrency = consumeOptions.concurrency ?? 1;
      if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
        throw new ConfigurationError(
          'invalid_option',
          '[thrun:kafka] concurrency must be a positive integer',
        );
      }
      if (consumeOptions.signal?.aborted) return { close: async () => {} };
      const retryTopic = `${queue}.retry`;
      await ensureTopics([queue, retryTopic]);

      const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs;
      const commitIntervalMs = options.commitIntervalMs ?? DEFAULTS.commitIntervalMs;
      // A client per consumer when Thrun owns the configuration, so that `close` can cut this
      // consumer's sockets (and only these) when leaving the group outlasts its deadline.
      const sockets = ownConfig ? new ConsumerSockets() : undefined;
      const client = sockets ? new Kafka({ ...ownConfig!, socketFactory: sockets.factory }) : kafka;
      const consumer = client.consumer({
        groupId: groupIdOf(queue, group),
        sessionTimeout: options.sessionTimeoutMs ?? DEFAULTS.sessionTimeoutMs,
        rebalanceTimeout: options.rebalanceTimeoutMs ?? DEFAULTS.rebalanceTimeoutMs,
        heartbeatInterval: heartbeatIntervalMs,
        maxWaitTimeInMs: options.maxWaitTimeMs ?? DEFAULTS.maxWaitTimeMs,
        allowAutoTopicCreation: false,
        retry,
      });
      const queueConsumer = new QueueConsumer({
        queue,
        group,
        retryTopic,
        handler,
        concurrency,
        consumer,
        heartbeatIntervalMs,
        commitIntervalMs,
        send,
        ensureTopic: (topic) => ensureTopics([topic]),
        onError,
        ...(sockets ? { cutConnections: () => sockets.cutAll() } : {}),
      });
      try {
        await reachCluster();
        await consumer.connect();
        // A new group starts at the oldest retained message, so work published before the first
        // worker started is not lost (and a consumer is subscribed as soon as this resolves).
        await consumer.subscribe({ topics: [queue, retryTopic], fromBeginning: true });
        const joined = new Promise<void>((resolve, reject) => {
          consumer.on(consumer.events.GROUP_JOIN, () => resolve());
          consumer.on(consumer.events.CRASH, (event) => {
            if (!event.payload.restart) reject(event.payload.error);
          });
        });
        await consumer.run({
          eachBatch: queueConsumer.eachBatch,
          eachBatchAutoResolve: false,
          autoCommit: true,
          autoCommitInterval: commitIntervalMs,
          // Every assigned partition gets a worker; the semaphore bounds the handlers.
          partitionsConsumedConcurrently: Math.max(concurrency, 2),
        });
        await joined;
      } catch (cause) {
        await consumer.disconnect().catch(() => {});
        if (ThrunError.isInstance(cause)) throw cause;
        throw new TransportError(
          'connection_failed',
          `[thrun:kafka] cannot consume "${queue}" as group "${group}": ${describe(cause)}`,
          { cause },
        );
      }
      const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs;
      if (closing) {
        // The transport was closed while this consumer was joining: it must not outlive it.
        await queueConsumer.close(0);
        assertOpen();
      }
      consumers.add(queueConsumer);
      const close = () => queueConsumer.close(drainTimeoutMs).finally(() => consumers.delete(queueConsumer));
      if (consumeOptions.signal) {
        if (consumeOptions.signal.aborted) await close();
        else consumeOptions.signal.addEventListener('abort', () => void close(), { once: true });
      }
      return { close };
    },

    close(closeOptions: CloseOptions = {}): Promise<void> {
      closing ??= (async () => {
        const drainTimeoutMs =
          closeOptions.drainTimeoutMs ?? options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs;
        await Promise.all([...consumers].map((consumer) => consumer.close(drainTimeoutMs)));
        consumers.clear();
        // Publishes already accepted by `publish` finish before the producer goes.
        while (flushing) await flushing;
        const clients = await Promise.allSettled([producer, admin].filter((c) => c !== undefined));
        await Promise.allSettled(
          clients.flatMap((result) => (result.status === 'fulfilled' ? [result.value.disconnect()] : [])),
        );
      })();
      return closing;
    },

    /**
     * The messages waiting for group `default` (or, when it has committed nothing, every retained
     * one), oldest first. Reads through a throwaway consumer group, so it costs a group join.
     */
    async peek(queue: string, limit: number): Promise<QueuedMessage[]> {
      assertOpen();
      assertKafkaQueueName(queue);
      const client = await getAdmin();
      return peekTopic(kafka, client, queue, groupIdOf(queue, 'default'), 'default', limit, 30_000);
    },

    /**
     * Deletes every record of `<queue>` and `<queue>.retry` (Kafka's DeleteRecords) and returns how
     * many of them were still waiting for group `default` (all of them when it has committed nothing).
     */
    async purge(queue: string): Promise<number> {
      assertOpen();
      assertKafkaQueueName(queue);
      const client = await getAdmin();
      let removed = 0;
      for (const topic of [queue, `${queue}.retry`]) {
        const ranges = await waitingRanges(client, topic, groupIdOf(queue, 'default'));
        if (ranges.length === 0) continue;
        removed += ranges.reduce((sum, range) => sum + Math.max(0, range.end - range.start), 0);
        await client.deleteTopicRecords({
          topic,
          partitions: ranges.map((range) => ({ partition: range.partition, offset: '-1' })),
        });
      }
      return removed;
    },
  };
}

function clientConfig(
  options: KafkaTransportOptions,
  retry: RetryOptions,
): KafkaConfig & { brokers: string[] } {
  const brokers =
    typeof options.brokers === 'string'
      ? options.brokers
          .split(',')
          .map((broker) => broker.trim())
          .filter(Boolean)
      : [...(options.brokers ?? [])];
  if (brokers.length === 0) {
    throw new ConfigurationError('invalid_option', '[thrun:kafka] give `brokers` or a `kafka` client');
  }
  return {
    clientId: options.clientId ?? 'thrun',
    brokers,
    ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    ...(options.sasl === undefined ? {} : { sasl: options.sasl }),
    connectionTimeout: options.connectionTimeoutMs ?? DEFAULTS.connectionTimeoutMs,
    requestTimeout: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    retry,
    logLevel: options.logLevel ?? logLevel.WARN,
    logCreator: options.logCreator ?? stderrLogCreator,
  };
}

/** Names the brokers (never the TLS or SASL options) and, when nothing answered, how to start one. */
function unreachableError(brokers: readonly string[], cause: unknown): TransportError {
  const hint = isConnectionError(cause) ? ' Is Kafka running? (bash scripts/brokers/kafka.sh start)' : '';
  return new TransportError(
    'connection_failed',
    `[thrun:kafka] cannot connect to ${brokers.join(', ')}: ${describe(cause)}.${hint}`,
    { cause },
  );
}

function isConnectionError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { name?: unknown }).name === 'KafkaJSConnectionError' ||
      isConnectionError((error as { cause?: unknown }).cause))
  );
}

const RESOLVED = Promise.resolve();

const LEVEL_NAMES = new Map<logLevel, string>([
  [logLevel.ERROR, 'ERROR'],
  [logLevel.WARN, 'WARN'],
  [logLevel.INFO, 'INFO'],
  [logLevel.DEBUG, 'DEBUG'],
]);

/**
 * kafkajs' log lines, on stderr, with only the message and a few safe fields: never the `extra`
 * objects whole, which can carry connection options (and so SASL credentials).
 */
const stderrLogCreator: logCreator = () => {
  const lastLogged = new Map<string, number>();
  return ({ level, log }) => {
    const { message, error, groupId, topic } = log as {
      message?: string;
      error?: string;
      groupId?: string;
      topic?: string;
    };
    // We bound the idempotent producer's retries on purpose (see DEFAULTS.retry).
    if (message?.startsWith('Limiting retries for the idempotent producer')) return;
    // Someone else created the topic first: kafkajs logs it, then carries on as intended.
    if (message?.startsWith('Response CreateTopics') && error === 'Topic creation errors') return;
    // Looking a topic up before creating it: "unknown topic" is the expected answer then.
    if (message?.startsWith('Response Metadata') && error?.includes('does not host this topic-partition'))
      return;
    // While a broker is away, kafkajs logs every reconnection attempt: once a while is enough.
    const line = `${message}|${error}`;
    const now = Date.now();
    if ((lastLogged.get(line) ?? 0) > now - 5_000) return;
    lastLogged.set(line, now);
    if (lastLogged.size > 100) lastLogged.clear();
    const context = [groupId && `group=${groupId}`, topic && `topic=${topic}`, error && `error=${error}`]
      .filter(Boolean)
      .join(' ');
    process.stderr.write(
      `[thrun:kafka] ${LEVEL_NAMES.get(level) ?? 'LOG'} ${message ?? ''}${context ? ` (${context})` : ''}\n`,
    );
  };
};

/**
 * Creates topics (an existing one is fine) and waits until every partition has a leader. A broker
 * that just started, or a topic created a moment ago, can answer with retriable errors such as
 * UNKNOWN_TOPIC_OR_PARTITION for a while, which kafkajs' own wait does not retry: this does.
 */
async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  const names = topics.map((topic) => topic.topic);
  const ready = async () => {
    const { topics: described } = await admin.fetchTopicMetadata({ topics: names });
    return (
      described.length === names.length &&
      described.every((topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0))
    );
  };
  // Usually the topics exist already: one metadata request, and no CreateTopics at all.
  if (await ready().catch(() => false)) return;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await admin.createTopics({ waitForLeaders: true, topics });
      if (await ready()) return;
    } catch (error) {
      if (attempt >= 30 || (error as { retriable?: unknown }).retriable !== true) throw error;
    }
    if (attempt >= 30) throw new Error(`topics ${names.join(', ')} have no leader yet`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
  }
}

interface OutboxEntry {
  topic: string;
  messages: Message[];
  bytes: number;
  resolve(): void;
  reject(error: unknown): void;
}

function sendError(topic: string, cause: unknown): Error {
  if (ThrunError.isInstance(cause)) return cause;
  if (isMessageTooLarge(cause)) {
    return new PayloadTooLargeError(
      'payload_too_large',
      `[thrun:kafka] the broker refused a message to "${topic}" as too large`,
      { cause },
    );
  }
  return new TransportError(
    'publish_failed',
    `[thrun:kafka] publish to "${topic}" was not acknowledged: ${describe(cause)}`,
    { cause },
  );
}

function sizeOf(messages: Message[]): number {
  let bytes = 0;
  for (const message of messages) bytes += (message.value as Buffer | null)?.byteLength ?? 0;
  return bytes;
}

function chunkBySize(messages: Message[]): Message[][] {
  const chunks: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = (message.value as Buffer | null)?.byteLength ?? 0;
    if (current.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function isMessageTooLarge(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { type?: unknown }).type === 'MESSAGE_TOO_LARGE' ||
      isMessageTooLarge((error as { cause?: unknown }).cause))
  );
}

/** Kafka topic names stop at 249 characters, and Thrun appends `.retry` and `.dead`. */
const MAX_QUEUE_NAME_LENGTH = 249 - '.dead.retry'.length;
function assertKafkaQueueName(queue: string): void {
  assertQueueName(queue);
  if (queue.length > MAX_QUEUE_NAME_LENGTH) {
    throw new ValidationError(
      'invalid_queue_name',
      `[thrun:kafka] queue names are limited to ${MAX_QUEUE_NAME_LENGTH} characters on Kafka`,
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
