import { createThrun, silentLogger, type Thrun } from '@thrun/core';
import { afterEach, describe, expect, it } from 'vitest';
import { rabbitmqTransport } from './rabbitmq-transport.js';
import { amqpUrl, deleteTopology, rawConnection, uniqueQueue, waitFor } from './test-helpers.js';

// @thrun/core is a dev dependency only: the adapter itself never depends on it.
const running: Array<{ thrun: Thrun; queue: string }> = [];

afterEach(async () => {
  const raw = await rawConnection();
  for (const { thrun, queue } of running.splice(0)) {
    await thrun.close();
    await deleteTopology(raw, queue);
  }
  await raw.close();
});

function thrunOn(queue: string): Thrun {
  const thrun = createThrun({
    transport: rabbitmqTransport({ url: amqpUrl }),
    queue,
    source: 'rabbitmq-test',
    logger: silentLogger,
    retry: { maxAttempts: 3, backoffMs: 50, maxBackoffMs: 200 },
  });
  running.push({ thrun, queue });
  return thrun;
}

describe('a Thrun listener on RabbitMQ', () => {
  it('handles the bare envelope a plain amqplib producer sent, as a Go or PHP service would', async () => {
    const queue = uniqueQueue('core-foreign');
    const thrun = thrunOn(queue);
    const handled: Array<{ payload: unknown; attempt: number; source: string | undefined }> = [];
    thrun.subscribe('go_message', (payload, ctx) => {
      handled.push({ payload, attempt: ctx.attempt, source: ctx.envelope.meta?.source });
    });
    await thrun.start();

    const raw = await rawConnection();
    const channel = await raw.createConfirmChannel();
    channel.sendToQueue(queue, Buffer.from('{"event":"go_message","payload":{"text":"hello"}}'), {
      persistent: true,
    });
    await channel.waitForConfirms();
    await raw.close();

    await waitFor(() => handled.length === 1, 15_000, 'the listener to run');
    expect(handled[0]).toEqual({ payload: { text: 'hello' }, attempt: 1, source: undefined });
  });

  it('dispatches through RabbitMQ and retries a failing listener as the next attempt', async () => {
    const queue = uniqueQueue('core-retry');
    const thrun = thrunOn(queue);
    const attempts: number[] = [];
    thrun.subscribe('order_created', (_payload, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) throw new Error('payment service unavailable');
    });
    await thrun.start();
    await thrun.event('order_created', { order_id: 123 });
    await waitFor(() => attempts.length === 2, 15_000, 'the retry');
    expect(attempts).toEqual([1, 2]);
  });
});
