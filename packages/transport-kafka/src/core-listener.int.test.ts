import { createThrun, type HandlerContext } from '@thrun/core';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, uniqueQueue, waitFor } from './testing/broker.js';

beforeAll(assertBrokerReachable);

describe('a Thrun listener on Kafka', () => {
  it('handles an event a plain kafkajs producer wrote, and a dispatch of its own', async () => {
    const queue = uniqueQueue('core');
    const thrun = createThrun({ transport: kafkaTransport({ brokers }), source: 'kafka-test', queue });
    const seen: Array<{ name: string; payload: object; attempt: number; source: string | undefined }> = [];
    const record = (payload: object, ctx: HandlerContext) => {
      seen.push({ name: ctx.name, payload, attempt: ctx.attempt, source: ctx.envelope.meta?.source });
    };
    thrun.subscribe('go_message', record);
    thrun.subscribe('order_created', record);
    await thrun.start();
    try {
      // As a Go service would: a bare envelope, no meta, no Thrun headers, its own client.
      const producer = new Kafka({ clientId: 'go-service', brokers, logLevel: logLevel.NOTHING }).producer({
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      await producer.send({
        topic: queue,
        acks: -1,
        messages: [{ value: Buffer.from('{"event":"go_message","payload":{"text":"hello"}}') }],
      });
      await producer.disconnect();
      await thrun.event('order_created', { order_id: 123 });

      await waitFor(() => seen.length >= 2, 30_000, 'both events');
      const byName = new Map(seen.map((entry) => [entry.name, entry]));
      expect(byName.get('go_message')).toEqual({
        name: 'go_message',
        payload: { text: 'hello' },
        attempt: 1,
        source: undefined,
      });
      expect(byName.get('order_created')).toEqual({
        name: 'order_created',
        payload: { order_id: 123 },
        attempt: 1,
        source: 'kafka-test',
      });
    } finally {
      await thrun.close();
    }
  });
});
