import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard } from './serve.js';
import { eventually, REDIS_URL, redisScenario, requireRedis, type Scenario } from './test-support/fixture.js';

type Served = Awaited<ReturnType<typeof serveDashboard>>;

const json = { 'content-type': 'application/json' };

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read by the assertions
const body = async (response: Response): Promise<any> => response.json();

describe('the dashboard server', () => {
  let scenario: Scenario;
  let open: Served;

  beforeAll(async () => {
    await requireRedis();
    scenario = redisScenario();
    open = await serveDashboard({ thrun: scenario.viewer, port: 0, sampleIntervalMs: 200 });
  });
  afterAll(async () => {
    await open?.close();
    await scenario?.close();
  });

  it('serves the page with a strict CSP and no inline script', async () => {
    const response = await fetch(open.url);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toMatch(/<script type="module" src="assets\/app\.js"><\/script>/);
    expect(html).not.toMatch(/<script>/);
  });

  it('counts waiting messages and dead letters from the broker', async () => {
    await scenario.worker.event('order_created', { id: 1 });
    await scenario.worker.event('order_created', { id: 2 });
    const overview = await body(await fetch(`${open.url}api/overview`));
    expect(overview.transport.name).toBe('redis');
    expect(overview.queues).toEqual([expect.objectContaining({ queue: 'events', waiting: 2, dead: 0 })]);
  });

  it('refuses a mutation without the CSRF header, or from another origin', async () => {
    const purge = `${open.url}api/dead/events/purge`;
    expect((await fetch(purge, { method: 'POST', headers: json, body: '{}' })).status).toBe(403);
    const crossSite = await fetch(purge, {
      method: 'POST',
      headers: { ...json, 'x-thrun-csrf': '1', origin: 'https://evil.example' },
      body: '{}',
    });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.json()).toEqual({ error: expect.objectContaining({ code: 'csrf' }) });
    const fetchMetadata = await fetch(purge, {
      method: 'POST',
      headers: { ...json, 'x-thrun-csrf': '1', 'sec-fetch-site': 'cross-site' },
      body: '{}',
    });
    expect(fetchMetadata.status).toBe(403);
    const sameOrigin = await fetch(purge, {
      method: 'POST',
      headers: { ...json, 'x-thrun-csrf': '1', origin: new URL(open.url).origin },
      body: '{}',
    });
    expect(sameOrigin.status).toBe(200);
  });

  it('refuses to listen off loopback without authentication', async () => {
    await expect(serveDashboard({ thrun: scenario.viewer, host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /needs authentication/,
    );
  });

  it('answers only loopback clients when it has no authentication', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal);
    // A machine without a non-loopback address cannot show this; every CI machine here has one.
    expect(external, 'a non-loopback IPv4 address').toBeDefined();
    const { createDashboard } = await import('./dashboard.js');
    const { createServer } = await import('node:http');
    const dashboard = createDashboard({ thrun: scenario.viewer });
    const server = createServer(dashboard.handler).listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    try {
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
      const remote = await fetch(`http://${external!.address}:${port}/api/overview`);
      expect(remote.status).toBe(403);
      expect(await remote.json()).toEqual({ error: expect.objectContaining({ code: 'auth_required' }) });
    } finally {
      dashboard.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('with a token: refuses without it, accepts a bearer token, and a login sets a session, not the token', async () => {
    const token = 'tok-3c5e1d-secret';
    const guarded = await serveDashboard({
      thrun: scenario.viewer,
      host: '0.0.0.0',
      port: 0,
      auth: { token },
    });
    const base = `http://127.0.0.1:${new URL(guarded.url).port}/`;
    try {
      expect((await fetch(`${base}api/overview`)).status).toBe(401);
      const page = await fetch(base, { redirect: 'manual' });
      expect(page.status).toBe(302);
      expect(page.headers.get('location')).toBe('/login');
      const withBearer = await fetch(`${base}api/overview`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(withBearer.status).toBe(200);
      expect(await withBearer.text()).not.toContain(token);

      const wrong = await fetch(`${base}login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base.slice(0, -1) },
        body: 'token=nope',
      });
      expect(wrong.headers.get('set-cookie')).toBeNull();
      const login = await fetch(`${base}login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base.slice(0, -1) },
        body: `token=${token}`,
      });
      expect(login.status).toBe(303);
      const cookie = login.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).not.toContain(token);
      const session = cookie.split(';')[0]!;
      expect((await fetch(`${base}api/overview`, { headers: { cookie: session } })).status).toBe(200);
      const crossSiteLogin = await fetch(`${base}login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        body: `token=${token}`,
      });
      expect(crossSiteLogin.status).toBe(403);
    } finally {
      await guarded.close();
    }
  });

  it('with basic auth: asks for it and accepts only the right pair', async () => {
    const guarded = await serveDashboard({
      thrun: scenario.viewer,
      port: 0,
      auth: { basic: { username: 'ops', password: 'pw-9f1' } },
    });
    try {
      const refused = await fetch(`${guarded.url}api/overview`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('Basic');
      const basic = (pair: string) => ({ authorization: `Basic ${Buffer.from(pair).toString('base64')}` });
      expect((await fetch(`${guarded.url}api/overview`, { headers: basic('ops:wrong') })).status).toBe(401);
      expect((await fetch(`${guarded.url}api/overview`, { headers: basic('ops:pw-9f1') })).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('never sends the broker credentials to the browser, not even in an error', async () => {
    // Redis accepts any password for its passwordless default user, so this URL connects.
    const secret = 's3cr3t-broker-pass';
    const url = new URL(REDIS_URL);
    url.username = 'default';
    url.password = secret;
    const withPassword = redisScenario(url.toString());
    const served = await serveDashboard({ thrun: withPassword.viewer, port: 0, queues: ['events'] });
    try {
      const overview = await fetch(`${served.url}api/overview`);
      expect(overview.status).toBe(200);
      const bodies = [
        await overview.text(),
        await (await fetch(served.url)).text(),
        await (await fetch(`${served.url}api/dead/events`)).text(),
        await (await fetch(`${served.url}api/dead/events/99`)).text(),
        await (await fetch(`${served.url}api/batches/nope`)).text(),
      ];
      for (const body of bodies) expect(body).not.toContain(secret);
    } finally {
      await served.close();
      await withPassword.close();
    }
  });

  it('lists dead letters, filters them by event, reason and text, and inspects one', async () => {
    await scenario.worker.start();
    await scenario.worker.event('order_poison', { id: 7, note: 'needle-42' });
    await scenario.worker.transport.publish('events', [{ body: new TextEncoder().encode('{"not json') }]);
    await eventually(async () => {
      const list = await body(await fetch(`${open.url}api/dead/events`));
      return list.total === 2;
    });
    const search = async (query: string) =>
      (await body(await fetch(`${open.url}api/dead/events?${query}`))).entries;
    expect(await search('event=order_poison')).toEqual([expect.objectContaining({ event: 'order_poison' })]);
    expect(await search('event=order.*')).toEqual([]);
    expect(await search('reason=invalid_json')).toEqual([
      expect.objectContaining({ event: null, reason: expect.objectContaining({ code: 'invalid_json' }) }),
    ]);
    expect(await search('text=NEEDLE-42')).toHaveLength(1);
    const [poison] = await search('event=order_poison');
    const detail = await body(await fetch(`${open.url}api/dead/events/${poison.position}`));
    expect(detail.envelope.payload).toEqual({ id: 7, note: 'needle-42' });
    expect(Buffer.from(detail.bodyBase64, 'base64').toString()).toBe(detail.bodyText);
    expect(detail.reason.code).toBe('non_retryable');
    expect(detail.attempts).toBe(1);
  });
});
