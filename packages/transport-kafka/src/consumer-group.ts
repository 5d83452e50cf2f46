import type { Admin, Consumer } from 'kafkajs';
import type { QueueConsumer } from './queue-consumer.js';

/**
 * Runs `queueConsumer` on its kafkajs consumer: connects, subscribes to `topics` and resolves once the
 * consumer joined its group. Rejects when kafkajs gives the consumer up before that (a crash it does
 * not restart); the caller then disconnects it.
 */
export async function joinGroup(
  consumer: Consumer,
  queueConsumer: QueueConsumer,
  topics: string[],
  concurrency: number,
  commitIntervalMs: number,
): Promise<void> {
  await consumer.connect();
  // A new group starts at the oldest retained message, so work published before the first
  // worker started is not lost (and a consumer is subscribed as soon as this resolves).
  await subscribe(consumer, topics);
  consumer.on(consumer.events.COMMIT_OFFSETS, (event) => queueConsumer.committed(event.payload.topics));
  const joined = new Promise<void>((resolve, reject) => {
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      // Called before kafkajs fetches in the new generation (it emits synchronously).
      queueConsumer.joined(event.payload.memberAssignment);
      resolve();
    });
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
}

/**
 * Makes a group that has committed nothing yet start at the end of `topics` (`from: 'now'`), by
 * committing the current high watermarks for it before it joins. kafkajs' own `fromBeginning: false`
 * resolves "the end" only once a partition is first fetched, after the join, so a message published
 * right after `consume` resolved could be skipped.
 */
export async function startGroupAtEnd(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<void> {
  for (const topic of topics) {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    if (committed?.partitions.some(({ offset }) => Number(offset) >= 0)) continue; // not new
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
    });
  }
}

/**
 * `consumer.subscribe`, tried again while it fails retriably: on a cluster, the broker answering the
 * consumer's metadata request may not know a topic created a moment ago through another broker yet
 * (UNKNOWN_TOPIC_OR_PARTITION), and kafkajs' subscribe does not retry (it forgets the topics it
 * failed on, so trying again is safe).
 */
async function subscribe(consumer: Consumer, topics: string[]): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await consumer.subscribe({ topics, fromBeginning: true });
      return;
    } catch (error) {
      if (attempt >= 20 || (error as { retriable?: unknown }).retriable !== true) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
    }
  }
}
