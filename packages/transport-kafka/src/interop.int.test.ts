import { decodeEnvelope, type Transport } from '@thrun/contract';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

let transport: Transport;

beforeAll(async () => {
  await assertBrokerReachable();
  transport = kafkaTransport({ brokers, partitions: 3 });
});
afterAll(() => transport?.close());

describe('per-key ordering', () => {
  it('holds across 3 partitions, with handlers running concurrently', async () => {
    const queue = uniqueQueue('order');
    const keys = Array.from({ length: 12 }, (_, i) => `order-${i}`);
    const perKey = 150;
    const seen = new Map<string, number[]>();
    let running = 0;
    let maxRunning = 0;
    const subscription = await transport.consume(
      queue,
      async (delivery) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        // Vary the handler's duration so a message could overtake another of its key if allowed.
        await new Promise((resolve) => setTimeout(resolve, Math.random() < 0.1 ? 3 : 0));
        const [key, sequence] = decode(delivery.body).split('#');
        const list = seen.get(key!) ?? [];
        list.push(Number(sequence));
        seen.set(key!, list);
        running -= 1;
        await delivery.ack();
      },
      { concurrency: 16 },
    );
    for (let sequence = 0; sequence < perKey; sequence += 10) {
      const batch = keys.flatMap((key) =>
        Array.from({ length: 10 }, (_, i) => ({ body: text(`${key}#${sequence + i}`), key })),
      );
      await transport.publish(queue, batch);
    }
    const total = keys.length * perKey;
    await waitFor(
      () => [...seen.values()].reduce((n, l) => n + l.length, 0) >= total,
      60_000,
      'every message',
    );
    for (const key of keys) {
      expect(seen.get(key)).toEqual(Array.from({ length: perKey }, (_, i) => i));
    }
    // The keys really were spread over the 3 partitions.
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(queue);
    await admin.disconnect();
    expect(offsets).toHaveLength(3);
    for (const partition of offsets) expect(Number(partition.high)).toBeGreaterThan(0);
    // Several handlers did run at once: ordering came from per-key sequencing, not from concurrency 1.
    expect(maxRunning).toBeGreaterThan(1);
    await subscription.close();
  });
});

describe('a message produced by a plain kafkajs client', () => {
  it('is delivered byte for byte and decodes as an envelope', async () => {
    const queue = uniqueQueue('foreign');
    const handled: Uint8Array[] = [];
    const subscription = await transport.consume(queue, async (delivery) => {
      handled.push(delivery.body);
      await delivery.ack();
    });
    // As a Go service would: no Thrun headers, no meta, its own client.
    const kafka = new Kafka({ clientId: 'go-service', brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const bytes = Buffer.from('{"event":"go_message","payload":{"text":"hello"}}');
    await producer.send({ topic: queue, acks: -1, messages: [{ value: bytes }] });
    await producer.disconnect();

    await waitFor(() => handled.length === 1, 20_000, 'the foreign message');
    expect(Buffer.from(handled[0]!).equals(bytes)).toBe(true);
    const envelope = decodeEnvelope(handled[0]!);
    expect(envelope.event).toBe('go_message');
    expect(envelope.payload).toEqual({ text: 'hello' });
    await subscription.close();
  });
});
