import { createThrun } from '@thrun/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const closers: Array<() => Promise<void>> = [];

beforeAll(assertBrokerReachable);
afterAll(() => Promise.all(closers.map((close) => close())));

describe('inspecting a queue whose topics do not exist yet', () => {
  it('lists no dead letters within 1 s, then lists the first one once it exists', async () => {
    const queue = uniqueQueue('inspect');
    const thrun = createThrun({ transport: kafkaTransport({ brokers }), queue, logger: silent });
    closers.push(() => thrun.close());

    const startedAt = Date.now();
    const none = await thrun.deadLetters.list(queue);
    const elapsedMs = Date.now() - startedAt;
    expect(none).toEqual([]);
    expect(elapsedMs).toBeLessThanOrEqual(1_000);

    // The same call finds a record once `<queue>.dead` has one: not JSON, so straight there.
    let deadLettered = 0;
    const worker = createThrun({
      transport: kafkaTransport({ brokers }),
      queue,
      logger: silent,
      hooks: { onDeadLetter: () => (deadLettered += 1) },
    });
    closers.push(() => worker.close());
    worker.subscribe('order_created', () => {}); // so that the worker consumes the queue
    await worker.start();
    const producer = kafkaTransport({ brokers });
    closers.push(() => producer.close());
    await producer.publish(queue, [{ body: text('not json') }]);
    await waitFor(() => deadLettered === 1, 30_000, 'the dead letter');
    const listed = await thrun.deadLetters.list(queue);
    expect(listed.map((entry) => decode(entry.body))).toEqual(['not json']);
  });

  it('peeks into a missing topic within 1 s', async () => {
    const transport = kafkaTransport({ brokers });
    closers.push(() => transport.close());
    const startedAt = Date.now();
    expect(await transport.peek!(uniqueQueue('peek-missing'), 10)).toEqual([]);
    expect(Date.now() - startedAt).toBeLessThanOrEqual(1_000);
  });
});
