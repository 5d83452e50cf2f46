import type { Delivery, Transport } from '@thrun/contract';
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
