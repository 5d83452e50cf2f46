import { readFileSync } from 'node:fs';
import type { BatchStatus, QueueStats, Transport } from '@thrun/contract';
import { redactText } from '@thrun/contract/transport-kit';
import type { Thrun } from '@thrun/core';
import { type Context, Hono } from 'hono';
import { detail, matchesFilter, parseFilter, summarize } from './dead-letter-view.js';
import { readQueueCounts } from './queue-counts.js';
import { ReplayJobs } from './replays.js';
import { Sampler } from './sampler.js';
import {
  type DashboardAuth,
  isAuthenticated,
  isLoopbackAddress,
  isSameOriginRequest,
  SECURITY_HEADERS,
  SESSION_COOKIE,
  SessionStore,
} from './security.js';

export interface DashboardOptions {
  /** The bus whose transport, dead letters and batches the dashboard shows. It need not be started. */
  thrun: Thrun;
  /** Required for any client off loopback; without it, only 127.0.0.1 and ::1 are answered. */
  auth?: DashboardAuth;
  /** The path the dashboard is mounted at (`/thrun`); every request it gets starts with it. Default: ``. */
  basePath?: string;
  /** Queues to show besides those inspection finds (all of them without inspection). Default: `events`. */
  queues?: readonly string[];
  /** How often the charts' counts are read. Default: 2,000 ms. */
  sampleIntervalMs?: number;
  /** How queue counts are read. Default: `transport.inspect()`, or `peek` without inspection. */
  readCounts?: (transport: Transport, queues: readonly string[]) => Promise<QueueStats[]>;
}

/** What the Node adapters hand Hono as its environment. */
interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
}

const BATCH_STATUSES = new Set<string>(['pending', 'running', 'succeeded', 'failed', 'cancelled']);

const UI_DIRECTORY = new URL('../dist/ui/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, UI_DIRECTORY));

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Thrun</title><link rel="stylesheet" href="assets/app.css"></head>
<body><div id="app"></div><script type="module" src="assets/app.js"></script></body></html>`;

const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Thrun: sign in</title><link rel="stylesheet" href="assets/app.css"></head>
<body><form class="login" method="post" action="login"><h1>Thrun</h1>
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
<button type="submit">Sign in</button></form></body></html>`;

function jsonError(c: Context, status: 400 | 401 | 403 | 404 | 409 | 500, code: string, message: string) {
  return c.json({ error: { code, message } }, status);
}

/** The dashboard as a Hono app (pages, assets and the JSON API under `basePath`). */
export function createDashboardApp(options: DashboardOptions) {
  const { thrun, auth } = options;
  const transport = thrun.transport;
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const queues = options.queues ?? ['events'];
  const readCounts = options.readCounts ?? readQueueCounts;
  const sessions = new SessionStore();
  const replays = new ReplayJobs();
  const sampler = new Sampler(
    () => readCounts(transport, queues),
    () => thrun.stats().totals,
    options.sampleIntervalMs ?? 2_000,
  );
  const assets = { 'app.js': asset('app.js'), 'app.css': asset('app.css') };

  // Not strict: `<basePath>` and `<basePath>/` reach the same routes (the page redirects to the latter).
  const app = new Hono<{ Bindings: NodeBindings }>({ strict: false }).basePath(basePath || '/');

  app.use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  });

  // Authentication first: nothing, not even the login page's assets, says more than "sign in".
  app.use('*', async (c, next) => {
    const path = c.req.path.slice(basePath.length);
    if (!auth) {
      if (!isLoopbackAddress(c.env?.incoming?.socket?.remoteAddress)) {
        return jsonError(
          c,
          403,
          'auth_required',
          'this dashboard has no authentication: loopback clients only',
        );
      }
      return next();
    }
    if (isAuthenticated(auth, c.req.raw.headers, sessions)) return next();
    if ('basic' in auth) {
      c.header('www-authenticate', 'Basic realm="thrun", charset="UTF-8"');
      return jsonError(c, 401, 'unauthenticated', 'authentication required');
    }
    if (path === '/login' || path === '/assets/app.css') return next();
    if (c.req.method === 'GET' && !path.startsWith('/api/')) return c.redirect(`${basePath}/login`, 302);
    return jsonError(c, 401, 'unauthenticated', 'authentication required');
  });

  // Every mutation: the custom header and same origin (so no cross-site page can trigger one).
  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const isLogin = c.req.path === `${basePath}/login`;
    if (!isSameOriginRequest(c.req.raw.headers, !isLogin)) {
      return jsonError(c, 403, 'csrf', 'cross-site or header-less request refused');
    }
    return next();
  });

  app.get('/', (c) => {
    // The page links to its assets relatively, so its address must end with a slash.
    const { pathname } = new URL(c.req.url); // c.req.path drops the slash when not strict
    if (!pathname.endsWith('/')) return c.redirect(`${pathname}/`, 308);
    sampler.start();
    return c.html(PAGE);
  });
  app.get('/login', (c) => c.html(LOGIN_PAGE));
  app.post('/login', async (c) => {
    if (!auth || !('token' in auth)) return jsonError(c, 404, 'not_found', 'no token login');
    const form = await c.req.parseBody();
    const token = typeof form.token === 'string' ? form.token : '';
    if (!isAuthenticated(auth, new Headers({ authorization: `Bearer ${token}` }), sessions)) {
      return c.redirect(`${basePath}/login`, 303);
    }
    const cookiePath = `${basePath}/`;
    c.header(
      'set-cookie',
      `${SESSION_COOKIE}=${sessions.create()}; Path=${cookiePath}; HttpOnly; SameSite=Strict`,
    );
    return c.redirect(`${basePath}/`, 303);
  });
  app.get('/assets/:name', (c) => {
    const name = c.req.param('name');
    if (name !== 'app.js' && name !== 'app.css') return c.notFound();
    const type = name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8';
    return c.body(assets[name], 200, { 'content-type': type });
  });

  app.get('/api/overview', async (c) => {
    sampler.start();
    const latest = await sampler.sample();
    return c.json({
      transport: { name: transport.name, capabilities: transport.capabilities },
      queues: latest.queues,
      history: sampler.history(),
    });
  });

  // Only queues the dashboard shows can be acted on: a typo never creates a queue on the broker.
  const knownQueue = (c: Context) => {
    const queue = c.req.param('queue') ?? '';
    const shown = queues.includes(queue) || sampler.latest()?.queues.some((q) => q.queue === queue);
    return shown ? queue : undefined;
  };

  app.get('/api/dead/:queue', async (c) => {
    const queue = knownQueue(c);
    if (!queue) return jsonError(c, 404, 'unknown_queue', 'no such queue');
    const filter = parseFilter(c.req.query());
    const entries = await thrun.deadLetters.list(queue, { limit: 1_000 });
    return c.json({
      queue,
      total: entries.length,
      entries: entries.filter((e) => matchesFilter(e, filter)).map(summarize),
    });
  });
  app.get('/api/dead/:queue/:position', async (c) => {
    const queue = knownQueue(c);
    const position = Number(c.req.param('position'));
    if (!queue || !Number.isInteger(position)) return jsonError(c, 404, 'not_found', 'no such dead letter');
    const entry = await thrun.deadLetters.inspect(queue, position);
    if (!entry) return jsonError(c, 404, 'not_found', 'no such dead letter');
    return c.json(detail(entry));
  });
  app.post('/api/dead/:queue/replay', async (c) => {
    const queue = knownQueue(c);
    if (!queue) return jsonError(c, 404, 'unknown_queue', 'no such queue');
    // No body is no filter, and replaying everything is not what a lost body should mean.
    const body: unknown = await c.req.json().catch(() => undefined);
    if (typeof body !== 'object' || body === null) {
      return jsonError(c, 400, 'invalid_body', 'a JSON object with the filter ({} for all) is required');
    }
    const filter = parseFilter(body as Record<string, unknown>);
    const job = replays.start(
      queue,
      (onProgress) =>
        thrun.deadLetters.replay(queue, {
          filter: (entry) => matchesFilter(entry, filter),
          idleTimeoutMs: 2_000,
          onProgress,
        }),
      (error) => redactText(error instanceof Error ? error.message : String(error)).slice(0, 300),
    );
    return c.json(job, 202);
  });
  app.get('/api/replays/:id', (c) => {
    const job = replays.get(c.req.param('id'));
    return job ? c.json(job) : jsonError(c, 404, 'not_found', 'no such replay');
  });
  app.post('/api/dead/:queue/purge', async (c) => {
    const queue = knownQueue(c);
    if (!queue) return jsonError(c, 404, 'unknown_queue', 'no such queue');
    return c.json({ purged: await thrun.deadLetters.purge(queue) });
  });

  app.get('/api/batches', async (c) => {
    const { status, name } = c.req.query();
    const statuses = status
      ? status.split(',').filter((s): s is BatchStatus => BATCH_STATUSES.has(s))
      : undefined;
    const batches = await thrun.batches.list({
      limit: 100,
      ...(statuses ? { status: statuses } : {}),
      ...(name ? { name } : {}),
    });
    return c.json({ batches });
  });
  app.get('/api/batches/:id', async (c) => {
    const batch = await thrun.batches.get(c.req.param('id'));
    return batch ? c.json(batch) : jsonError(c, 404, 'not_found', 'no such batch');
  });
  app.post('/api/batches/:id/cancel', async (c) => {
    return c.json({ cancelled: await thrun.batches.cancel(c.req.param('id')) });
  });

  app.onError((error, c) => {
    // Messages from transports are redacted at the source; still, only a code and a short line go out.
    const { code } = error as { code?: unknown };
    return jsonError(
      c,
      500,
      typeof code === 'string' ? code : 'error',
      redactText(error.message).slice(0, 300),
    );
  });

  return { app, sampler };
}
