import {
  type BackoffOptions,
  ConfigurationError,
  type DeadLetterReason,
  deadLetterQueueName,
  type QueuedMessage,
  type QueueStats,
  type Transport,
  type TransportCapabilities,
} from '@thrun/contract';
import { deadLetterCopy, defineTransport, optionChecks } from '@thrun/contract/transport-kit';
import type { ChannelModel, SocketOptions } from 'amqplib';
import { ConnectionManager } from './connection.js';
import { Consumer, type ConsumerHost, type Received, readMessage } from './consumer.js';
import { declareBucket, declareGroup, declarePlainQueue, type QueueType } from './declare.js';
import { asThrunError } from './errors.js';
import { type Declaration, Publisher, type PublishItem } from './publisher.js';
import { assertGroupName, DEFAULT_GROUP, delayBucketMs, headers, topology } from './topology.js';

export interface RabbitmqTransportOptions {
  /** `amqp://user:password@host:port/vhost` or `amqps://…` for TLS. Never logged unredacted. */
  url?: string;
  /**
   * The nodes of one RabbitMQ cluster, instead of `url`: each (re)connection tries them in turn,
   * starting with the last one that worked, so consumers and publishers move to a surviving node.
   */
  urls?: readonly string[];
  /**
   * An amqplib connection to use instead of `url`. A factory is called again after the connection is
   * lost; a connection object cannot be reopened, and is left open by `close()` (it is yours).
   */
  connection?: ChannelModel | (() => Promise<ChannelModel>);
  /** Passed to amqplib's `connect`: TLS material (`ca`, `cert`, `key`, `servername`), timeouts. */
  socketOptions?: SocketOptions;
  /**
   * Unacknowledged messages the broker sends each consumer ahead. Default: the consumer's
   * `concurrency`. Raising it above `concurrency` hides the round trip between an ack and the next
   * message; the extra messages wait in the process, in order, and go back to the broker on close.
   */
  prefetch?: number;
  /** Type of the queues holding Thrun messages. Default: `quorum` (replicated, counts deliveries). */
  queueType?: QueueType;
  /** Largest body `publish` accepts. Default: 16 MiB (RabbitMQ 3.10 refuses anything over 128 MiB). */
  maxPayloadBytes?: number;
  /** Messages published but not yet confirmed, across all callers. Default: 1,000. */
  publishWindow?: number;
  /** How long `publish` and `consume` wait for a (re)connection before rejecting. Default: 10,000. */
  connectTimeoutMs?: number;
  /** Backoff between reconnection attempts. Default: 100 ms doubling to 5 s, with jitter. */
  reconnect?: BackoffOptions;
  /** Default for `close()`. Default: 10,000. */
  drainTimeoutMs?: number;
}

const DEFAULT_URL = 'amqp://guest:guest@127.0.0.1:5672';
const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
const DEAD_SUFFIX = deadLetterQueueName('');
const check = optionChecks('rabbitmq');

/**
 * Thrun on RabbitMQ. Each Thrun queue `q` is a durable fanout exchange `thrun.q`; each consumer group
 * is a durable queue bound to it (`q` for the default group, `q:<group>` otherwise), quorum by default.
 * Publishing waits for publisher confirms; consumption uses manual acks with prefetch; delays and
 * retries go through TTL buckets that dead-letter back; dead letters are records in `q.dead`.
 */
export function rabbitmqTransport(options: RabbitmqTransportOptions = {}): Transport {
  const queueType = check.oneOf('queueType', options.queueType, ['quorum', 'classic'], 'quorum');
  /**
   * Dead-letter queues are classic whatever `queueType` says: they are written rarely and read by
   * tooling, and classic queues give back what `peek` took in its place, where quorum queues move
   * returned messages behind the others.
   */
  const typeOf = (queue: string): QueueType => (queue.endsWith(DEAD_SUFFIX) ? 'classic' : queueType);
  const maxPayloadBytes = check.positiveInteger(
    'maxPayloadBytes',
    options.maxPayloadBytes,
    DEFAULT_MAX_PAYLOAD_BYTES,
  );
  const publishWindow = check.positiveInteger('publishWindow', options.publishWindow, 1000);
  const drainTimeoutMs = check.nonNegativeNumber(
    'drainTimeoutMs',
    options.drainTimeoutMs,
    DEFAULT_DRAIN_TIMEOUT_MS,
  );
  const reconnect: BackoffOptions = options.reconnect ?? { baseMs: 100, maxMs: 5000, jitter: 'full' };
  const given = [options.url, options.urls, options.connection].filter((o) => o !== undefined);
  if (given.length > 1) {
    throw new ConfigurationError('invalid_option', '[thrun:rabbitmq] pass one of url, urls and connection');
  }
  if (options.url !== undefined) assertAmqpUrl(options.url);
  if (options.urls !== undefined) {
    if (options.urls.length === 0) {
      throw new ConfigurationError('invalid_option', '[thrun:rabbitmq] urls must name at least one node');
    }
    for (const url of options.urls) assertAmqpUrl(url);
  }
  const manager = new ConnectionManager(options.connection ?? options.urls ?? options.url ?? DEFAULT_URL, {
    socketOptions: options.socketOptions ?? {},
    connectTimeoutMs: check.positiveNumber('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    reconnect,
  });
  const publisher = new Publisher(manager, publishWindow);

  const capabilities: TransportCapabilities = {
    delay: true,
    fanout: true,
    ordering: 'fifo',
    persistent: true,
    maxPayloadBytes,
    deadLetter: true,
    redeliversUnacked: true,
    inspect: true,
  };

  /** Queue → groups this instance published to or consumed: AMQP cannot list queues, inspect reports these. */
  const used = new Map<string, Set<string>>();
  const remember = (queue: string, group: string) => {
    const groups = used.get(queue) ?? new Set<string>();
    used.set(queue, groups);
    groups.add(group);
  };

  // One object per group queue: publishing does not allocate a declaration per call.
  const groupDeclarations = new Map<string, Declaration>();
  const groupDeclaration = (queue: string, group: string): Declaration => {
    const amqpQueue = topology.groupQueue(queue, group);
    let declaration = groupDeclarations.get(amqpQueue);
    if (!declaration) {
      declaration = {
        key: `group:${amqpQueue}`,
        run: (channel) => declareGroup(channel, typeOf(queue), queue, amqpQueue),
      };
      groupDeclarations.set(amqpQueue, declaration);
    }
    return declaration;
  };

  /** Publishes one message straight to a queue (default exchange): retries and dead-letter records. */
  async function publishToQueue(
    amqpQueue: string,
    body: Uint8Array,
    messageHeaders: Record<string, unknown>,
    declarations: Declaration[],
  ): Promise<void> {
    await publisher.publish(
      [{ exchange: '', routingKey: amqpQueue, body, headers: messageHeaders }],
      declarations,
    );
  }

  function consumerHost(queue: string, amqpQueue: string, group: string): ConsumerHost {
    return {
      manager,
      reconnect,
      declare: (channel) => declareGroup(channel, typeOf(queue), queue, amqpQueue),
      async retry(message: Received, delayMs: number) {
        // A copy keeps the message's own headers (a kept dead letter's description, a producer's).
        const carried: Record<string, unknown> = { ...message.headers, [headers.attempts]: message.attempt };
        if (message.key !== undefined) carried[headers.key] = message.key;
        const bucket = delayBucketMs(delayMs);
        if (bucket === 0) {
          // Back of its own group's queue, not through the exchange: other groups already have their copy.
          await publishToQueue(amqpQueue, message.body, carried, [groupDeclaration(queue, group)]);
          return;
        }
        const name = topology.retryQueue(amqpQueue, bucket);
        await publishToQueue(name, message.body, carried, [
          groupDeclaration(queue, group),
          { key: `bucket:${name}`, run: (channel) => declareBucket(channel, name, bucket, '', amqpQueue) },
        ]);
      },
      async deadLetter(message: Received, reason: DeadLetterReason) {
        // The headers form: the original bytes as the body, so the dead letter fits where the message did.
        const dead = deadLetterCopy(queue, reason, message.attempt);
        await publishToQueue(dead.queue, message.body, dead.headers, [
          groupDeclaration(dead.queue, DEFAULT_GROUP),
        ]);
      },
    };
  }

  return defineTransport({
    name: 'rabbitmq',
    capabilities,
    drainTimeoutMs,

    async publish(queue, messages, publishOptions) {
      remember(queue, DEFAULT_GROUP);
      // The default group's queue exists from the first publish on, so nothing is lost before anyone consumes.
      const declarations: Declaration[] = [groupDeclaration(queue, DEFAULT_GROUP)];
      const items: PublishItem[] = [];
      for (const message of messages) {
        const messageHeaders = message.key === undefined ? undefined : { [headers.key]: message.key };
        const bucket = delayBucketMs(message.delayMs ?? 0);
        if (bucket === 0) {
          items.push({
            exchange: topology.exchange(queue),
            routingKey: '',
            body: message.body,
            ...(messageHeaders ? { headers: messageHeaders } : {}),
          });
          continue;
        }
        const name = topology.delayQueue(queue, bucket);
        const key = `bucket:${name}`;
        if (!declarations.some((declaration) => declaration.key === key)) {
          declarations.push({
            key,
            run: (channel) => declareBucket(channel, name, bucket, topology.exchange(queue), undefined),
          });
        }
        items.push({
          exchange: '',
          routingKey: name,
          body: message.body,
          ...(messageHeaders ? { headers: messageHeaders } : {}),
        });
      }
      await publisher.publish(items, declarations, publishOptions.signal);
    },

    async consume(queue, handler, { group, concurrency }) {
      assertGroupName(group);
      remember(queue, group);
      const prefetch = Math.max(
        concurrency,
        check.positiveInteger('prefetch', options.prefetch, concurrency),
      );
      const amqpQueue = topology.groupQueue(queue, group);
      const consumer = new Consumer(
        consumerHost(queue, amqpQueue, group),
        queue,
        amqpQueue,
        handler,
        concurrency,
        prefetch,
      );
      try {
        await consumer.start();
      } catch (error) {
        throw asThrunError(error, `subscribing to ${amqpQueue}`);
      }
      return consumer;
    },

    async shutdown(timeoutMs) {
      await publisher.idle(timeoutMs);
      await publisher.close();
      await manager.close();
    },

    /**
     * Classic queues only, which dead-letter queues always are. AMQP cannot look at a message without
     * taking it: this takes up to `limit` with `basic.get` and gives them all back, in place, by
     * closing its channel. Meanwhile they are invisible to consumers, and each
     * look counts as a delivery (quorum queues raise `x-delivery-count`, classic queues set the
     * redelivered flag), so a peeked message's next attempt number is one higher. Meant for
     * dead-letter tooling, where attempts are recorded inside the record.
     */
    async peek(queue, limit) {
      if (typeOf(queue) === 'quorum') {
        throw new ConfigurationError(
          'unsupported_feature',
          `[thrun:rabbitmq] peek works on classic queues only (dead-letter queues always are, or set queueType: 'classic'): a quorum queue would reorder what peek gives back`,
        );
      }
      const model = await manager.get();
      const channel = await model.createChannel().catch((error: unknown) => {
        throw asThrunError(error, 'opening a channel');
      });
      channel.on('error', () => {});
      const found: QueuedMessage[] = [];
      try {
        await channel.checkQueue(queue);
      } catch {
        return found; // no such queue: nothing waits in it
      }
      try {
        while (found.length < limit) {
          const message = await channel.get(queue, { noAck: false });
          if (message === false) break;
          const received = readMessage(message);
          found.push({
            body: received.body.slice(),
            ...(received.key === undefined ? {} : { key: received.key }),
            ...(received.headers === undefined ? {} : { headers: received.headers }),
          });
        }
        return found;
      } catch (error) {
        throw asThrunError(error, `peeking at ${queue}`);
      } finally {
        await channel.close().catch(() => {}); // returns every message taken, in order
      }
    },

    /**
     * What AMQP tells without the management API: a passive `queue.declare` gives a queue's ready
     * messages and its consumers. It cannot list queues or groups (they come from this instance's
     * use and `options`), nor tell unacknowledged messages (`inFlight`) or what waits in the delay
     * and retry buckets (`delayed`): those stay absent.
     */
    async inspect({ queues, groups, discover }) {
      const model = await manager.get();
      const check = async (amqpQueue: string) => {
        // A passive declare of a missing queue closes its channel: one channel per look.
        const channel = await model.createChannel().catch((error: unknown) => {
          throw asThrunError(error, 'opening a channel');
        });
        channel.on('error', () => {});
        try {
          return await channel.checkQueue(amqpQueue);
        } catch {
          return undefined;
        } finally {
          await channel.close().catch(() => {});
        }
      };
      const rows: QueueStats[] = [];
      for (const queue of new Set([...(discover ? used.keys() : []), ...queues])) {
        const dead = (await check(deadLetterQueueName(queue)))?.messageCount ?? 0;
        for (const group of new Set([DEFAULT_GROUP, ...(used.get(queue) ?? []), ...groups])) {
          const found = await check(topology.groupQueue(queue, group));
          // The default group's queue is the queue itself: reported even before it exists.
          if (!found && group !== DEFAULT_GROUP) continue;
          rows.push({
            queue,
            group,
            waiting: found?.messageCount ?? 0,
            dead,
            consumers: found?.consumerCount ?? 0,
          });
        }
      }
      return rows;
    },

    /** Deletes the group's queue (never the default group's, which is the queue itself). */
    async removeGroup(queue, group) {
      assertGroupName(group);
      if (group === DEFAULT_GROUP) {
        throw new ConfigurationError(
          'invalid_option',
          `[thrun:rabbitmq] the default group's queue is the queue ${queue} itself: it is never removed`,
        );
      }
      used.get(queue)?.delete(group);
      const model = await manager.get();
      const channel = await model.createChannel().catch((error: unknown) => {
        throw asThrunError(error, 'opening a channel');
      });
      channel.on('error', () => {});
      try {
        await channel.deleteQueue(topology.groupQueue(queue, group));
      } catch (error) {
        throw asThrunError(error, `removing group ${group} of ${queue}`);
      } finally {
        await channel.close().catch(() => {});
      }
    },

    async purge(queue) {
      const model = await manager.get();
      const channel = await model.createChannel().catch((error: unknown) => {
        throw asThrunError(error, 'opening a channel');
      });
      channel.on('error', () => {});
      try {
        await declarePlainQueue(channel, typeOf(queue), queue);
        const { messageCount } = await channel.purgeQueue(queue);
        return messageCount;
      } catch (error) {
        throw asThrunError(error, `purging ${queue}`);
      } finally {
        await channel.close().catch(() => {});
      }
    },
  });
}

/** Checked up front, without the URL in the error or its cause: it may hold a password. */
function assertAmqpUrl(url: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // the parser's error carries the input: leave it out
  }
  if (protocol !== 'amqp:' && protocol !== 'amqps:') {
    throw check.invalid('url', 'an amqp:// or amqps:// URL');
  }
}
