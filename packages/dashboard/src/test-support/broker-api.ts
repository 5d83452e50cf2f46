import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard } from '../serve.js';
import { eventually, type Scenario } from './fixture.js';

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read by the assertions
const body = async (response: Response): Promise<any> => response.json();

/**
 * What an operator reads and does through the dashboard's API on one broker: a group's waiting
 * count, a dead letter found by event name, replayed with progress and handled by the worker.
 */
export function describeBrokerApi(name: string, makeScenario: () => Scenario, timeoutMs = 60_000): void {
  describe(`the dashboard on ${name}`, () => {
    let scenario: Scenario;
    let served: Awaited<ReturnType<typeof serveDashboard>>;

    beforeAll(async () => {
      scenario = makeScenario();
      // Fails (never skips) without a broker: the transport cannot connect.
      await scenario.viewer.transport.inspect!({ queues: [scenario.queue] });
      served = await serveDashboard({ thrun: scenario.viewer, port: 0, queues: [scenario.queue] });
    }, timeoutMs);
    afterAll(async () => {
      await served?.close();
      await scenario?.close();
    }, timeoutMs);

    const row = async () => {
      const overview = await body(await fetch(`${served.url}api/overview`));
      return overview.queues.find(
        (q: { queue: string; group?: string }) => q.queue === scenario.queue && q.group === 'default',
      );
    };

    it(
      'counts waiting messages of the group, then finds, replays and sees handled a dead letter',
      async () => {
        const { queue, worker } = scenario;
        await worker.start(); // creates the group, so what follows waits for it
        await worker.stop();
        await worker.events([1, 2, 3].map((id) => ({ event: 'order_created', payload: { id } })));
        await eventually(async () => (await row())?.waiting === 3, timeoutMs / 2);

        await worker.start();
        await worker.event('order_poison', { id: 9 });
        await eventually(
          async () => (await row())?.dead === 1 && (await row())?.waiting === 0,
          timeoutMs / 2,
        );
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
        const job = async () => body(await fetch(`${served.url}api/replays/${id}`));
        await eventually(async () => (await job()).state === 'done', timeoutMs / 2);
        expect((await job()).progress).toMatchObject({ replayed: 1 });
        await eventually(() => scenario.handled.some((h) => h.startsWith('order_poison')), timeoutMs / 2);
        await eventually(async () => (await row())?.dead === 0, timeoutMs / 2);
      },
      timeoutMs * 2,
    );
  });
}
