import { EventEmitter } from 'node:events';
import type { DeliveryHandler } from '@thrun/contract';
import {
  type Consumer,
  type ConsumerRunConfig,
  type EachBatchPayload,
  KafkaJSConnectionError,
  type KafkaMessage,
  type TopicPartitionOffset,
} from 'kafkajs';
import { describe, expect, it, vi } from 'vitest';
import { joinGroup } from './consumer-group.js';
import { QueueConsumer } from './queue-consumer.js';

const QUEUE = 'orders';
const RETRY = 'orders.retry';
const ASSIGNMENT = { [QUEUE]: [0, 1], [RETRY]: [0, 1] };

/**
 * A kafkajs consumer reduced to what `joinGroup` and `QueueConsumer` use: `join` emits GROUP_JOIN as
 * kafkajs does after each JoinGroup/SyncGroup, `committed` emits COMMIT_OFFSETS, and seeks are kept.
 */
function fakeConsumer() {
  const emitter = new EventEmitter();
  const seeks: TopicPartitionOffset[] = [];
  let eachBatch: ConsumerRunConfig['eachBatch'];
  const events = { GROUP_JOIN: 'group_join', CRASH: 'crash', COMMIT_OFFSETS: 'commit_offsets' };
  const consumer = {
    events,
    on: (name: string, listener: (event: object) => void) => emitter.on(name, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async (config: ConsumerRunConfig) => {
      eachBatch = config.eachBatch;
      join(ASSIGNMENT);
    },
    seek: (seek: TopicPartitionOffset) => seeks.push(seek),
  };
  function join(memberAssignment: Record<string, number[]>) {
    emitter.emit(events.GROUP_JOIN, { payload: { memberAssignment } });
  }
  function committed(topic: string, partition: number, offset: string) {
    emitter.emit(events.COMMIT_OFFSETS, {
      payload: { topics: [{ topic, partitions: [{ partition, offset }] }] },
    });
  }
  return { consumer: consumer as unknown as Consumer, seeks, join, committed, eachBatch: () => eachBatch! };
}

const message = (offset: number): KafkaMessage =>
  ({
    offset: String(offset),
    key: null,
    value: Buffer.from(`m${offset}`),
    headers: {},
    timestamp: '0',
    attributes: 0,
  }) as KafkaMessage;

/**
 * One fetched batch whose commits all fail, as against the dead broker kafkajs still takes for the
 * group coordinator; `resolved` is what the batch told kafkajs.
 */
function batchPayload(topic: string, partition: number, offsets: number[]) {
  const resolved: string[] = [];
  const payload = {
    batch: { topic, partition, messages: offsets.map(message), highWatermark: '100' },
    resolveOffset: (offset: string) => resolved.push(offset),
    heartbeat: async () => {},
    commitOffsetsIfNecessary: async () => {
      throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    },
    uncommittedOffsets: () => ({ topics: [] }),
    isRunning: () => true,
    isStale: () => false,
    pause: () => () => {},
  };
  return { payload: payload as unknown as EachBatchPayload, resolved };
}

async function joinedConsumer(handler: DeliveryHandler = async (delivery) => delivery.ack()) {
  const fake = fakeConsumer();
  const errors: unknown[] = [];
  const queueConsumer = new QueueConsumer({
    queue: QUEUE,
    group: 'default',
    retryTopic: RETRY,
    handler,
    concurrency: 2,
    consumer: fake.consumer,
    heartbeatIntervalMs: 1_000,
    commitIntervalMs: 20,
    send: async () => {},
    ensureTopic: async () => {},
    onError: (error) => errors.push(error),
  });
  await joinGroup(fake.consumer, queueConsumer, [QUEUE, RETRY], 2, 20);
  return { ...fake, queueConsumer, errors };
}

describe('a rejoin after commits failed', () => {
  it('seeks each partition it kept to what it settled, so kafkajs commits it before fetching again', async () => {
    const { eachBatch, join, seeks } = await joinedConsumer();
    const first = batchPayload(QUEUE, 0, [10, 11, 12]);
    await eachBatch()(first.payload);
    await eachBatch()(batchPayload(QUEUE, 1, [40, 41]).payload);
    expect(first.resolved.at(-1)).toBe('12');
    expect(seeks).toEqual([]);

    // The coordinator moved: partition 1 went to another member, partition 0 stayed.
    join({ [QUEUE]: [0], [RETRY]: [0, 1] });
    expect(seeks).toEqual([{ topic: QUEUE, partition: 0, offset: '13' }]);
  });

  it('seeks nothing that kafkajs committed, and seeks again until it sees the commit', async () => {
    const { eachBatch, join, committed, seeks } = await joinedConsumer();
    await eachBatch()(batchPayload(QUEUE, 0, [10, 11, 12]).payload);
    await eachBatch()(batchPayload(QUEUE, 1, [40, 41]).payload);
    committed(QUEUE, 0, '13');
    committed(QUEUE, 1, '41'); // 41 settled after this commit

    join(ASSIGNMENT);
    expect(seeks).toEqual([{ topic: QUEUE, partition: 1, offset: '42' }]);
    // Rebalanced again before kafkajs fetched (and so committed through the seek): sought again.
    join(ASSIGNMENT);
    expect(seeks).toHaveLength(2);
    committed(QUEUE, 1, '42');
    join(ASSIGNMENT);
    expect(seeks).toHaveLength(2);
  });

  it('forgets a partition it lost, even when it gets it back', async () => {
    const { eachBatch, join, seeks } = await joinedConsumer();
    await eachBatch()(batchPayload(QUEUE, 1, [40, 41]).payload);
    join({ [QUEUE]: [0], [RETRY]: [0] });
    join(ASSIGNMENT); // another member may have gone further meanwhile
    expect(seeks).toEqual([]);
  });

  it('stops at the first unsettled message, and forgets a batch of an earlier generation', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { eachBatch, join, seeks } = await joinedConsumer(async (delivery) => {
      if (new TextDecoder().decode(delivery.body) === 'm11') await held;
      await delivery.ack();
    });
    const batch = batchPayload(QUEUE, 0, [10, 11, 12]);
    const running = eachBatch()(batch.payload);
    await vi.waitFor(() => expect(batch.resolved).toEqual(['10'])); // 10 and 12 settle, 11 is held

    join(ASSIGNMENT);
    expect(seeks).toEqual([{ topic: QUEUE, partition: 0, offset: '11' }]);
    release();
    await running; // the old generation's batch now resolves up to 12: not settled in this generation
    join(ASSIGNMENT);
    expect(seeks.at(-1)).toEqual({ topic: QUEUE, partition: 0, offset: '11' });
  });

  it('seeks a retry partition past the copies it put back', async () => {
    const { eachBatch, join, seeks } = await joinedConsumer();
    await eachBatch()(batchPayload(RETRY, 1, [7, 8]).payload);
    join(ASSIGNMENT);
    expect(seeks).toEqual([{ topic: RETRY, partition: 1, offset: '9' }]);
  });
});
