import type { Delivery, Transport } from '@thrun/contract';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

const opened: Transport[] = [];
const open = () => {
  const transport = kafkaTransport({ brokers, partitions: 3, sessionTimeoutMs: 6_000 });
  opened.push(transport);
  return transport;
};

beforeAll(assertBrokerReachable);
afterAll(() => Promise.all(opened.map((transport) => transport.close({ drainTimeoutMs: 1_000 }))));

describe('rebalances', () => {
  it('lose no message in flight when members join and leave', { timeout: 120_000 }, async () => {
    const queue = uniqueQueue('rebalance');
    const total = 600;
    const handled = new Map<string, number>();
    const byMember = new Map<string, number>();
    const handler = (member: string) => async (delivery: Delivery) => {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const id = decode(delivery.body);
      handled.set(id, (handled.get(id) ?? 0) + 1);
      byMember.set(member, (byMember.get(member) ?? 0) + 1);
      await delivery.ack();
    };
    const first = open();
    const firstSubscription = await first.consume(queue, handler('first'), { group: 'g', concurrency: 2 });
    const producer = open();
    for (let i = 0; i < total; i += 50) {
      await producer.publish(
        queue,
        Array.from({ length: 50 }, (_, j) => ({ body: text(`m${i + j}`), key: `k${(i + j) % 30}` })),
      );
    }
    await waitFor(() => handled.size >= 100, 30_000, '100 messages handled by the first member');
    // A second member joins while the first has handlers running: partitions move.
    const second = open();
    await second.consume(queue, handler('second'), { group: 'g', concurrency: 2 });
    await waitFor(() => handled.size >= 300, 30_000, '300 messages handled');
    // The first leaves mid-stream: its partitions move again.
    await firstSubscription.close();
    await waitFor(() => handled.size >= total, 60_000, 'every message handled');
    const duplicates = [...handled.values()].reduce((sum, count) => sum + count - 1, 0);
    console.log(
      `[kafka rebalance] ${handled.size} distinct of ${total}, ${duplicates} duplicate deliveries, by member: ${JSON.stringify(Object.fromEntries(byMember))}`,
    );
    expect(handled.size).toBe(total);
    // Partitions really moved: the second member handled some, and only it was left at the end.
    expect(byMember.get('second') ?? 0).toBeGreaterThan(0);
    for (let i = 0; i < total; i += 1) expect(handled.has(`m${i}`)).toBe(true);
  });
});

describe('a handler longer than sessionTimeoutMs', () => {
  it('is not redelivered while its worker is alive', { timeout: 60_000 }, async () => {
    const sessionTimeoutMs = 6_000; // the broker's minimum
    const handlerMs = sessionTimeoutMs * 1.5;
    const queue = uniqueQueue('long-handler');
    const open = () => {
      const transport = kafkaTransport({ brokers, partitions: 1, sessionTimeoutMs });
      opened.push(transport);
      return transport;
    };
    const deliveries: { member: string; body: string; attempt: number }[] = [];
    let finished = false;
    const handler = (member: string) => async (delivery: Delivery) => {
      deliveries.push({ member, body: decode(delivery.body), attempt: delivery.attempt });
      if (decode(delivery.body) === 'long') await new Promise((resolve) => setTimeout(resolve, handlerMs));
      await delivery.ack();
      if (decode(delivery.body) === 'long') finished = true;
    };
    // Two members, one partition: the idle one takes over the moment the busy one's session lapses.
    await open().consume(queue, handler('a'), { group: 'g' });
    await open().consume(queue, handler('b'), { group: 'g' });
    // Wait until the group settled with both members, so no join rebalances mid-handler.
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const stable = async () => {
        const { groups } = await admin.describeGroups([`thrun.${queue}.g`]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 2;
      };
      for (const deadline = Date.now() + 30_000; !(await stable()); ) {
        if (Date.now() > deadline) throw new Error('the group did not settle with two members');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await admin.disconnect();
    }
    const producer = open();
    await producer.publish(queue, [{ body: text('long') }]);
    await waitFor(() => finished, handlerMs + 30_000, 'the long handler to finish');
    // A copy taken over after a lapsed session would arrive within a session timeout of the lapse;
    // the marker published after the long job shows the partition is read past it.
    await producer.publish(queue, [{ body: text('after') }]);
    await waitFor(() => deliveries.some((d) => d.body === 'after'), 30_000, 'the message after it');
    expect(deliveries.map(({ body, attempt }) => ({ body, attempt }))).toEqual([
      { body: 'long', attempt: 1 },
      { body: 'after', attempt: 1 },
    ]);
  });
});
