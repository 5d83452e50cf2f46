import { type Transport, type TransportCapabilities, TransportError } from '@thrun/contract';
import { abortable, defineTransport } from '@thrun/contract/transport-kit';
import type { Message } from 'kafkajs';
import { Connection } from './connection.js';
import { joinGroup, startGroupAtEnd } from './consumer-group.js';
import { asThrunError } from './errors.js';
import { inspectTopics, peekTopic, purgeTopics } from './inspect.js';
import { warn } from './logging.js';
import { type KafkaTransportOptions, resolveOptions } from './options.js';
import { Publisher, toRecords } from './publisher.js';
import { QueueConsumer } from './queue-consumer.js';
import { assertKafkaQueueName, retryTopic, Topics } from './topics.js';

const DEFAULT_GROUP = 'default';

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
  const settings = resolveOptions(options);
  const connection = new Connection(settings);
  const topics = new Topics(() => connection.getAdmin(), settings);
  const publisher = new Publisher(
    () => connection.getProducer(),
    () => connection.discardProducer(),
    settings.compression,
  );
  let closed = false;

  const capabilities: TransportCapabilities = {
    delay: true,
    fanout: true,
    ordering: 'per-key',
    persistent: true,
    maxPayloadBytes: settings.maxPayloadBytes,
    deadLetter: true,
    redeliversUnacked: true,
    inspect: true,
  };

  const groupIdOf = (queue: string, group: string) => `${settings.groupIdPrefix}.${queue}.${group}`;

  function onError(error: unknown): void {
    if (!closed) warn(error);
  }

  async function send(queue: string, immediate: Message[], delayed: Message[]): Promise<void> {
    await topics.ensure(delayed.length > 0 ? [queue, retryTopic(queue)] : [queue]);
    if (immediate.length > 0) await publisher.send(queue, immediate);
    if (delayed.length > 0) await publisher.send(retryTopic(queue), delayed);
  }

  return defineTransport({
    name: 'kafka',
    capabilities,
    drainTimeoutMs: settings.drainTimeoutMs,
    assertQueue: assertKafkaQueueName,

    async publish(queue, messages, { signal }) {
      const { immediate, delayed } = toRecords(messages, Date.now());
      await abortable(
        send(queue, immediate, delayed),
        signal,
        () => new TransportError('timeout', '[thrun:kafka] publish aborted; messages may have been written'),
      );
    },

    async consume(queue, handler, { group, concurrency, from }) {
      const queueRetryTopic = retryTopic(queue);
      await topics.ensure([queue, queueRetryTopic]);

      const { consumer, cutConnections } = connection.consumer({
        groupId: groupIdOf(queue, group),
        sessionTimeout: settings.sessionTimeoutMs,
        rebalanceTimeout: settings.rebalanceTimeoutMs,
        heartbeatInterval: settings.heartbeatIntervalMs,
        maxWaitTimeInMs: settings.maxWaitTimeMs,
        allowAutoTopicCreation: false,
        retry: settings.retry,
      });
      const queueConsumer = new QueueConsumer({
        queue,
        group,
        retryTopic: queueRetryTopic,
        handler,
        concurrency,
        consumer,
        heartbeatIntervalMs: settings.heartbeatIntervalMs,
        commitIntervalMs: settings.commitIntervalMs,
        send: publisher.send,
        ensureTopic: (topic) => topics.ensure([topic]),
        onError,
        ...(cutConnections ? { cutConnections } : {}),
      });
      try {
        await connection.reachCluster();
        if (from === 'now') {
          await startGroupAtEnd(await connection.getAdmin(), groupIdOf(queue, group), [
            queue,
            queueRetryTopic,
          ]);
        }
        await joinGroup(
          consumer,
          queueConsumer,
          [queue, queueRetryTopic],
          concurrency,
          settings.commitIntervalMs,
        );
      } catch (cause) {
        await consumer.disconnect().catch(() => {});
        throw asThrunError(cause, 'connection_failed', `cannot consume "${queue}" as group "${group}"`);
      }
      return queueConsumer;
    },

    closing() {
      closed = true;
    },

    async shutdown() {
      // Publishes already accepted by `publish` finish before the producer goes.
      await publisher.idle();
      await connection.close();
    },

    /**
     * The messages waiting for group `default` (or, when it has committed nothing, every retained
     * one), oldest first. Reads through a throwaway consumer group, so it costs a group join.
     */
    async peek(queue, limit) {
      const admin = await connection.getAdmin();
      const groupId = groupIdOf(queue, DEFAULT_GROUP);
      return peekTopic(connection.kafka, admin, queue, groupId, DEFAULT_GROUP, limit, 30_000);
    },

    /**
     * Deletes every record of `<queue>` and `<queue>.retry` (Kafka's DeleteRecords) and returns how
     * many of them were still waiting for group `default` (all of them when it has committed nothing).
     */
    async removeGroup(queue, group) {
      const admin = await connection.getAdmin();
      const groupId = groupIdOf(queue, group);
      try {
        // Asked first: deleting a group that does not exist is an error, and it is gone already.
        const { groups } = await admin.listGroups();
        if (groups.some((known) => known.groupId === groupId)) await admin.deleteGroups([groupId]);
      } catch (cause) {
        throw asThrunError(cause, 'broker_error', `cannot remove group "${group}" of "${queue}"`);
      }
    },

    async inspect({ queues, groups, discover }) {
      const admin = await connection.getAdmin();
      const isQueue = (name: string) => {
        try {
          assertKafkaQueueName(name);
          return true;
        } catch {
          return false;
        }
      };
      try {
        const naming = { groupIdPrefix: settings.groupIdPrefix, isQueue };
        return await inspectTopics(admin, naming, { queues, groups, discover });
      } catch (cause) {
        throw asThrunError(cause, 'connection_failed', 'cannot inspect the queues');
      }
    },

    async purge(queue) {
      const admin = await connection.getAdmin();
      return purgeTopics(admin, [queue, retryTopic(queue)], groupIdOf(queue, DEFAULT_GROUP));
    },
  });
}
