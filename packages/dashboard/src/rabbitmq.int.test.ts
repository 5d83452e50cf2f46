// The dashboard's API over RabbitMQ: what an operator reads and does is the same as on Redis, with
// the counts AMQP can give (waiting, dead, consumers; in flight and delayed stay unknown).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard } from './serve.js';
import { eventually, rabbitmqScenario, type Scenario } from './test-support/fixture.js';

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read by the assertions
const body = async (response: Response): Promise<any> => response.json();

describe('the dashboard on RabbitMQ', () => {
  let scenario: Scenario;
  let served: Awaited<ReturnType<typeof serveDashboard>>;

  beforeAll(async () => {
    scenario = rabbitmqScenario();
    // Fails (never skips) without a broker: the transport cannot connect.
    await scenario.viewer.transport.inspect!({ queues: [scenario.queue] });
    served = await serveDashboard({ thrun: scenario.viewer, port: 0, queues: [scenario.queue] });
  });
  afterAll(async () => {
    await served?.close();
    await scenario?.close();
  });

  const row = async () => {
    const overview = await body(await fetch(`${served.url}api/overview`));
    return overview.queues.find((q: { queue: string; group?: string }) => q.queue === scenario.queue);
  };

  it('counts waiting messages of the group, then finds, replays and sees handled a dead letter', async () => {
    const { queue, worker } = scenario;
    await worker.start(); // declares the group's queue, so what follows waits in it
    await worker.stop();
    await worker.events([1, 2, 3].map((id) => ({ event: 'order_created', payload: { id } })));
    await eventually(async () => (await row())?.waiting === 3);
    expect(await row()).toMatchObject({ queue, group: 'default', waiting: 3, dead: 0, consumers: 0 });

    await worker.start();
    await worker.event('order_poison', { id: 9 });
    await eventually(async () => (await row())?.dead === 1 && (await row())?.waiting === 0);
    const list = await body(await fetch(`${served.url}api/dead/${queue}?event=order_poison`));
    expect(list.entries).toEqual([
      expect.objectContaining({
        event: 'order_poison',
        reason: expect.objectContaining({ code: 'non_retryable' }),
      }),
    ]);

    scenario.heal();
    const started = await fetch(`${served.url}api/dead/${queue}/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-thrun-csrf': '1' },
      body: JSON.stringify({ event: 'order_poison' }),
    });
    expect(started.status).toBe(202);
    const { id } = await body(started);
    await eventually(
      async () => (await body(await fetch(`${served.url}api/replays/${id}`))).state === 'done',
    );
    expect((await body(await fetch(`${served.url}api/replays/${id}`))).progress).toMatchObject({
      replayed: 1,
    });
    await eventually(() => scenario.handled.some((h) => h.startsWith('order_poison')));
    await eventually(async () => (await row())?.dead === 0);
  });
});
