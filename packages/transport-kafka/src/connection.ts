import { TransportError } from '@thrun/contract';
import { type Admin, type Consumer, type ConsumerConfig, Kafka, logLevel, type Producer } from 'kafkajs';
import { ConsumerSockets } from './consumer-sockets.js';
import { causedBy, describe } from './errors.js';
import type { KafkaSettings } from './options.js';
import { pinnedPartitioner } from './publisher.js';

/** A kafkajs consumer, and how to cut its connections when Thrun owns them. */
export interface ConsumerClient {
  consumer: Consumer;
  cutConnections?(): void;
}

/**
 * Owns a transport's kafkajs clients: the first contact with the cluster, the producer and the admin
 * client (each created once, on first use, and created again after a failed connect), and the
 * consumers' clients.
 */
export class Connection {
  /** The client of every producer, admin and peek consumer. */
  readonly kafka: Kafka;
  private producer: Promise<Producer> | undefined;
  private admin: Promise<Admin> | undefined;
  private reached: Promise<void> | undefined;

  constructor(private readonly settings: KafkaSettings) {
    this.kafka = settings.kafka ?? new Kafka(settings.clientConfig!);
  }

  /**
   * The first contact with the cluster fails fast: each bootstrap broker is tried once, within
   * `connectTimeoutMs` each, instead of through the whole `retry` budget (about 30 s), which is meant
   * for a broker that goes away while Thrun runs. Once reached, never asked again. With a client of
   * your own, its retry settings decide.
   */
  reachCluster(): Promise<void> {
    const config = this.settings.clientConfig;
    if (!config) return RESOLVED;
    this.reached ??= (async () => {
      const probe = new Kafka({
        ...config,
        retry: { retries: config.brokers.length - 1, initialRetryTime: 50, maxRetryTime: 50 },
        logLevel: logLevel.NOTHING,
      }).admin();
      try {
        await probe.connect();
      } catch (cause) {
        throw unreachableError(config.brokers, cause);
      } finally {
        await probe.disconnect().catch(() => {});
      }
    })();
    this.reached.catch(() => {
      this.reached = undefined; // the broker may be up next time
    });
    return this.reached;
  }

  getProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      await this.reachCluster();
      const created = this.kafka.producer({
        idempotent: true,
        allowAutoTopicCreation: false,
        retry: this.settings.retry,
        // kafkajs' default, choosing once per record (see pinnedPartitioner).
        createPartitioner: pinnedPartitioner,
      });
      await created.connect();
      return created;
    })();
    this.producer.catch(() => {
      this.producer = undefined; // a broker that was away when we first connected: try again next time
    });
    return this.producer;
  }

  /**
   * Drops the producer after a send that was not acknowledged, so that the next send starts a new one
   * (a new producer id, whose sequence numbers start again at 0). kafkajs hands a failed batch's
   * sequence numbers to the next batch, yet the broker may have written the failed one (only its
   * acknowledgement was lost, as when the broker stops right after a write): it would take the next
   * batch with as many records for a duplicate of it, acknowledge it and drop it.
   */
  discardProducer(): void {
    const discarded = this.producer;
    this.producer = undefined;
    discarded?.then((producer) => producer.disconnect()).catch(() => {});
  }

  getAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      await this.reachCluster();
      const created = this.kafka.admin({ retry: this.settings.retry });
      await created.connect();
      return created;
    })();
    this.admin.catch(() => {
      this.admin = undefined;
    });
    return this.admin;
  }

  /**
   * A consumer, not yet connected. When Thrun owns the configuration, on a client of its own, so that
   * `close` can cut this consumer's sockets (and only these) when leaving the group outlasts its
   * deadline.
   */
  consumer(config: ConsumerConfig): ConsumerClient {
    const clientConfig = this.settings.clientConfig;
    if (!clientConfig) return { consumer: this.kafka.consumer(config) };
    const sockets = new ConsumerSockets();
    const client = new Kafka({ ...clientConfig, socketFactory: sockets.factory });
    return { consumer: client.consumer(config), cutConnections: () => sockets.cutAll() };
  }

  /** Disconnects the producer and the admin client; consumers are closed by their owners. */
  async close(): Promise<void> {
    const clients = await Promise.allSettled(
      [this.producer, this.admin].filter((client) => client !== undefined),
    );
    await Promise.allSettled(
      clients.flatMap((result) => (result.status === 'fulfilled' ? [result.value.disconnect()] : [])),
    );
  }
}

const RESOLVED = Promise.resolve();

/** Names the brokers (never the TLS or SASL options) and, when nothing answered, how to start one. */
function unreachableError(brokers: readonly string[], cause: unknown): TransportError {
  const hint = causedBy(cause, 'name', 'KafkaJSConnectionError')
    ? ' Is Kafka running? (bash scripts/brokers/kafka.sh start)'
    : '';
  return new TransportError(
    'connection_failed',
    `[thrun:kafka] cannot connect to ${brokers.join(', ')}: ${describe(cause)}.${hint}`,
    { cause },
  );
}
