import { describePoisonMessages } from '@thrun/core/testing';
import { type Admin, ConfigResourceTypes, Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, uniqueQueue, waitFor } from './testing/broker.js';

let admin: Admin;
let producer: Producer;
const inspector = kafkaTransport({ brokers });
const topics: string[] = [];

beforeAll(async () => {
  await assertBrokerReachable();
  const kafka = new Kafka({ clientId: 'thrun-poison-test', brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
});
afterAll(async () => {
  await inspector.close();
  await admin.deleteTopics({ topics }).catch(() => {});
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

describePoisonMessages({
  name: 'kafka',
  transport: () => kafkaTransport({ brokers }),
  queue: (label) => {
    const queue = uniqueQueue(`poison-${label}`);
    topics.push(queue, `${queue}.retry`, `${queue}.dead`);
    return queue;
  },
  // A foreign producer, as kafka-python or a Go service would send it: bytes, no headers.
  produce: async (queue, body) => {
    await producer.send({ topic: queue, acks: -1, messages: [{ value: Buffer.from(body) }] });
  },
  // Every record the topic ever got: a log keeps what was consumed, so this is what must not grow.
  sourceSize: async (queue) =>
    (await admin.fetchTopicOffsets(queue)).reduce(
      (sum, { high, low }) => sum + Number(high) - Number(low),
      0,
    ),
  readDead: (queue) => inspector.peek!(`${queue}.dead`, 100),
  // A dead topic whose records may be no larger than 1 KB, raised once the fault should clear.
  refuseDeadLetters: async (queue) => {
    const topic = `${queue}.dead`;
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1024' }] }],
    });
    return async () => {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: [{ name: 'max.message.bytes', value: '2000000' }],
          },
        ],
      });
    };
  },
  timeoutMs: 45_000,
});

describe('kafka: a handler that gives up after a refused settlement', () => {
  it('reads the message again after a backoff, as the next attempt: no copy, no loop', async () => {
    const queue = uniqueQueue('poison-handler');
    topics.push(queue, `${queue}.retry`, `${queue}.dead`);
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: `${queue}.dead`,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '1024' }],
        },
      ],
    });
    const transport = kafkaTransport({ brokers });
    const attempts: number[] = [];
    await transport.consume(queue, async (delivery) => {
      attempts.push(delivery.attempt);
      // Not core's worker: one try, and back to the transport whatever happened.
      await delivery.deadLetter({ code: 'test', message: 'refused' }).catch(() => {});
    });
    await producer.send({ topic: queue, acks: -1, messages: [{ value: Buffer.alloc(4_000, 0x61) }] });
    await waitFor(() => attempts.length >= 1, 30_000, 'the first delivery');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.length).toBeLessThanOrEqual(8);
    expect(attempts).toEqual(attempts.map((_, index) => index + 1));
    const size = (await admin.fetchTopicOffsets(queue)).reduce((sum, { high }) => sum + Number(high), 0);
    expect(size).toBe(1);
    await transport.close({ drainTimeoutMs: 1_000 });
  });
});
