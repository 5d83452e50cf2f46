import { createRequire } from 'node:module';
import { KafkaJSConnectionError, type Message, type Producer, type ProducerBatch } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Publisher, pinnedPartitioner } from './publisher.js';

/**
 * kafkajs' own produce path (its internal sendMessages: partitioning, one request per leader, its
 * retries, the idempotent producer's sequence numbers) on a fake three-broker cluster whose leader
 * of partition 0 dies during a send, before the records reach its followers. kafkajs then refreshes
 * its metadata, finds another leader, and retries.
 */
const require = createRequire(import.meta.url);
type SendMessages = (request: ProducerBatch) => Promise<unknown[]>;
const createSendMessages = require('kafkajs/src/producer/sendMessages') as (deps: object) => SendMessages;
const createRetry = require('kafkajs/src/retry') as (options: object) => unknown;

const TOPIC = 'orders';

interface FakeBroker {
  nodeId: number;
  produce(request: {
    topicData: {
      topic: string;
      partitions: { partition: number; firstSequence: number; messages: Message[] }[];
    }[];
  }): Promise<object>;
}

/** The cluster: `leaders[p]` leads partition p until the failover moves partition 0 to `newLeader`. */
function failingCluster(leaders: number[], newLeader: number) {
  /** What each partition's replicated log holds, with the sequence numbers of its batches. */
  const logs = leaders.map(() => ({ values: [] as string[], batches: [] as string[] }));
  let leaderOf = [...leaders];
  let partition0LeaderDied = false;
  const brokers = new Map<number, FakeBroker>();
  for (const nodeId of new Set([...leaders, newLeader])) {
    brokers.set(nodeId, {
      nodeId,
      async produce({ topicData }) {
        const partitions = topicData[0]!.partitions;
        if (partitions.some(({ partition }) => leaderOf[partition] !== nodeId)) {
          throw Object.assign(new Error('not the leader'), {
            name: 'KafkaJSProtocolError',
            retriable: true,
            type: 'NOT_LEADER_OR_FOLLOWER',
          });
        }
        if (nodeId === leaders[0] && !partition0LeaderDied) {
          partition0LeaderDied = true;
          throw new KafkaJSConnectionError('Connection error: read ECONNRESET');
        }
        for (const { partition, firstSequence, messages } of partitions) {
          const log = logs[partition]!;
          const batch = `${firstSequence}+${messages.length}`;
          // As Kafka's idempotent producer state: a batch with sequence numbers already written is a
          // duplicate, acknowledged and dropped.
          if (log.batches.includes(batch)) continue;
          log.batches.push(batch);
          log.values.push(...messages.map((message) => String(message.value)));
        }
        return {
          topics: [
            {
              topicName: TOPIC,
              partitions: partitions.map(({ partition }) => ({ partition, errorCode: 0, baseOffset: '0' })),
            },
          ],
        };
      },
    });
  }
  const cluster = {
    refreshMetadataIfNecessary: async () => {},
    refreshMetadata: async () => {
      if (partition0LeaderDied) leaderOf = [newLeader, ...leaderOf.slice(1)];
    },
    addMultipleTargetTopics: async () => {},
    isConnected: () => true,
    removeBroker: () => {},
    findTopicPartitionMetadata: () => leaderOf.map((leader, partitionId) => ({ partitionId, leader })),
    findLeaderForPartitions: (_topic: string, partitions: string[]) => {
      const result: Record<number, number[]> = {};
      for (const id of partitions.map(Number)) {
        const leader = leaderOf[id]!;
        result[leader] = [...(result[leader] ?? []), id];
      }
      return result;
    },
    findBroker: async ({ nodeId }: { nodeId: number }) => brokers.get(Number(nodeId))!,
  };
  const sequences = new Map<string, number>();
  const eosManager = {
    isTransactional: () => false,
    acquireBrokerLock: async () => {},
    releaseBrokerLock: async () => {},
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
    getSequence: (topic: string, partition: number) => sequences.get(`${topic}/${partition}`) ?? 0,
    updateSequence: (topic: string, partition: number, increment: number) => {
      sequences.set(`${topic}/${partition}`, (sequences.get(`${topic}/${partition}`) ?? 0) + increment);
    },
  };
  const noop = () => {};
  const sendMessages = createSendMessages({
    logger: { debug: noop, info: noop, warn: noop, error: noop },
    cluster,
    partitioner: pinnedPartitioner(),
    eosManager,
    retrier: createRetry({ retries: 5, initialRetryTime: 1, maxRetryTime: 5 }),
  });
  const producer = { sendBatch: (request: ProducerBatch) => sendMessages(request) } as unknown as Producer;
  return { producer, written: () => logs.flatMap((log) => log.values) };
}

describe('a send whose partition leader dies (kafkajs on a fake cluster)', () => {
  it.each([
    // kafkajs remembers answers per broker: it skips the new leader, which answered for partition 1.
    ['a broker that already answered for another partition', [1, 2, 3], 2],
    // kafkajs partitions the batch again on its retry: keyless records would move between partitions.
    ['a broker that had no partition of the send', [1, 2, 2], 3],
  ])(
    'resolves only once every record was written, the new leader being %s',
    async (_, leaders, newLeader) => {
      const cluster = failingCluster(leaders, newLeader);
      const publisher = new Publisher(
        async () => cluster.producer,
        () => {},
        undefined,
      );
      const values = Array.from({ length: 20 }, (_, i) => `e${i}`);

      await publisher.send(
        TOPIC,
        values.map((value) => ({ key: null, value: Buffer.from(value) })),
      );

      expect(new Set(cluster.written())).toEqual(new Set(values));
    },
  );
});
