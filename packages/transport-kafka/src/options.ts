import { ConfigurationError } from '@thrun/contract';
import { optionChecks } from '@thrun/contract/transport-kit';
import {
  type CompressionTypes,
  type Kafka,
  type KafkaConfig,
  type logCreator,
  logLevel,
  type RetryOptions,
  type SASLOptions,
} from 'kafkajs';
import { stderrLogCreator } from './logging.js';

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
  /**
   * How long one attempt to open a connection to a broker may take (kafkajs `connectionTimeout`).
   * Unlike the Redis and RabbitMQ options of this name, it bounds each attempt, not how long a call
   * waits in all: the first contact with the cluster tries each bootstrap broker once, so start-up
   * fails within about this long per bootstrap broker; once the cluster was reached, `retry` decides
   * how long `publish` and `consume` keep reconnecting to a broker that went away. Ignored when
   * `kafka` is given. Default: 3,000.
   */
  connectTimeoutMs?: number;
  /** How long a broker may take to answer one request (kafkajs `requestTimeout`). Default: 30,000. */
  requestTimeoutMs?: number;
  /** How produce and consume retry a broker that is away (kafkajs retry options). */
  retry?: RetryOptions;
  /** kafkajs log level. Default: `logLevel.WARN` (to stderr, through `logCreator` when given). */
  logLevel?: logLevel;
  logCreator?: logCreator;
}

/** The kafkajs client configuration Thrun builds when it owns the client. */
export type ClientConfig = KafkaConfig & { brokers: string[] };

/** The options with their defaults applied, checked. */
export interface KafkaSettings {
  partitions: number;
  replicationFactor: number | undefined;
  createTopics: boolean;
  groupIdPrefix: string;
  maxPayloadBytes: number;
  compression: CompressionTypes | undefined;
  drainTimeoutMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  commitIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitTimeMs: number;
  retry: RetryOptions;
  /** The client to use, when one was given; otherwise Thrun creates its clients from `clientConfig`. */
  kafka: Kafka | undefined;
  /** Absent when `kafka` was given. */
  clientConfig: ClientConfig | undefined;
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
  connectTimeoutMs: 3_000,
  requestTimeoutMs: 30_000,
  // Bounded on purpose: `publish` must reject when the broker stays away, not hang. A delivery given
  // up on may still have been written; at-least-once already allows the duplicate a resend makes.
  retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 20 } satisfies RetryOptions,
} as const;

/** Applies the defaults and checks every option; throws `ConfigurationError('invalid_option')`. */
const check = optionChecks('kafka');

export function resolveOptions(options: KafkaTransportOptions): KafkaSettings {
  const settings: KafkaSettings = {
    partitions: check.positiveInteger('partitions', options.partitions, DEFAULTS.partitions),
    maxPayloadBytes: check.positiveInteger(
      'maxPayloadBytes',
      options.maxPayloadBytes,
      DEFAULTS.maxPayloadBytes,
    ),
    replicationFactor:
      options.replicationFactor === undefined
        ? undefined
        : check.positiveInteger('replicationFactor', options.replicationFactor, 1),
    drainTimeoutMs: check.nonNegativeNumber(
      'drainTimeoutMs',
      options.drainTimeoutMs,
      DEFAULTS.drainTimeoutMs,
    ),
    sessionTimeoutMs: check.positiveInteger(
      'sessionTimeoutMs',
      options.sessionTimeoutMs,
      DEFAULTS.sessionTimeoutMs,
    ),
    heartbeatIntervalMs: check.positiveInteger(
      'heartbeatIntervalMs',
      options.heartbeatIntervalMs,
      DEFAULTS.heartbeatIntervalMs,
    ),
    commitIntervalMs: check.positiveInteger(
      'commitIntervalMs',
      options.commitIntervalMs,
      DEFAULTS.commitIntervalMs,
    ),
    rebalanceTimeoutMs: check.positiveInteger(
      'rebalanceTimeoutMs',
      options.rebalanceTimeoutMs,
      DEFAULTS.rebalanceTimeoutMs,
    ),
    maxWaitTimeMs: check.positiveInteger('maxWaitTimeMs', options.maxWaitTimeMs, DEFAULTS.maxWaitTimeMs),
    createTopics: options.createTopics ?? true,
    groupIdPrefix: options.groupIdPrefix ?? 'thrun',
    compression: options.compression,
    retry: options.retry ?? DEFAULTS.retry,
    kafka: options.kafka,
    clientConfig: undefined,
  };
  if (!options.kafka) settings.clientConfig = clientConfig(options, settings.retry);
  return settings;
}

function clientConfig(options: KafkaTransportOptions, retry: RetryOptions): ClientConfig {
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
    connectionTimeout: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    requestTimeout: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    retry,
    logLevel: options.logLevel ?? logLevel.WARN,
    logCreator: options.logCreator ?? stderrLogCreator,
  };
}
