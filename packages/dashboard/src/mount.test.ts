import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from './dashboard.js';
import { eventually, redisScenario, requireRedis, type Scenario } from './test-support/fixture.js';

/** What a mounted dashboard must do: its page and assets under the prefix, mutations through it. */
async function checkMounted(base: string): Promise<void> {
  const bare = await fetch(base.slice(0, -1), { redirect: 'manual' });
  expect([301, 302, 307, 308]).toContain(bare.status);
  expect(bare.headers.get('location')).toBe(new URL(base).pathname);
  const page = await fetch(base);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('src="assets/app.js"');
  expect((await fetch(`${base}assets/app.js`)).headers.get('content-type')).toContain('javascript');
  const overview = await fetch(`${base}api/overview`);
  const { queues } = (await overview.json()) as { queues: { queue: string }[] };
  expect(queues.map((q) => q.queue)).toContain('events');
  const headers = { 'content-type': 'application/json', 'x-thrun-csrf': '1' };
  const replay = await fetch(`${base}api/dead/events/replay`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ event: 'order_created' }),
  });
  expect(replay.status).toBe(202);
  let job = (await replay.json()) as { id: string; state: string; progress: object };
  await eventually(async () => {
    job = (await (await fetch(`${base}api/replays/${job.id}`)).json()) as typeof job;
    return job.state !== 'running';
  });
  // The filter arrived through the mount: the other event's dead letter is kept, not replayed.
  expect(job).toMatchObject({ state: 'done', progress: { replayed: 0, kept: 1, seen: 1 } });
  expect((await fetch(`${base}api/dead/events`).then((r) => r.json())) as { total: number }).toMatchObject({
    total: 1,
  });
  expect((await fetch(`${base}api/dead/events/purge`, { method: 'POST', body: '{}' })).status).toBe(403);
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('mounting the dashboard under /ops/thrun', () => {
  let scenario: Scenario;
  let dashboard: Dashboard;
  const servers: Server[] = [];

  beforeAll(async () => {
    await requireRedis();
    scenario = redisScenario();
    dashboard = createDashboard({ thrun: scenario.viewer, basePath: '/ops/thrun' });
    // One dead letter of another event, which a replay filtered on order_created must keep.
    await scenario.worker.start();
    await scenario.worker.event('order_poison', { id: 1 });
    await eventually(async () => (await scenario.viewer.deadLetters.list('events')).length === 1);
  });
  afterAll(async () => {
    dashboard?.close();
    for (const server of servers) server.close();
    await scenario?.close();
  });

  it('in node:http', async () => {
    const server = createServer(dashboard.handler);
    servers.push(server);
    await checkMounted(`${await listen(server)}/ops/thrun/`);
  });

  it('in Express', async () => {
    const app = express();
    app.use(express.json()); // an app's own body parser runs first: the dashboard must cope
    app.use('/ops/thrun', dashboard.express());
    const server = createServer(app);
    servers.push(server);
    await checkMounted(`${await listen(server)}/ops/thrun/`);
  });

  it('in Fastify', async () => {
    const app = Fastify();
    await app.register(dashboard.fastify());
    await app.listen({ port: 0, host: '127.0.0.1' });
    servers.push(app.server);
    await checkMounted(`${`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`}/ops/thrun/`);
  });

  it('in Hono', async () => {
    const app = new Hono();
    app.mount('/ops/thrun', dashboard.fetch, { replaceRequest: false });
    const server = createServer(getRequestListener(app.fetch));
    servers.push(server);
    await checkMounted(`${await listen(server)}/ops/thrun/`);
  });
});
