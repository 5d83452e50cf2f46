import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { createDashboardApp, type DashboardOptions } from './app.js';

export interface Dashboard {
  /** The Hono app; every path starts with `basePath`. */
  readonly app: ReturnType<typeof createDashboardApp>['app'];
  /** Web-standard handler (Hono's `app.mount(basePath, dashboard.fetch, { replaceRequest: false })`). */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  /** A `node:http` request listener for requests under `basePath`. */
  handler(request: IncomingMessage, response: ServerResponse): void;
  /** Express (or Connect) middleware: `app.use(basePath, dashboard.express())`. */
  express(): (
    request: IncomingMessage & { originalUrl?: string; body?: unknown },
    response: ServerResponse,
  ) => void;
  /** A Fastify plugin: `fastify.register(dashboard.fastify())`, routes under `basePath`. */
  fastify(): (instance: FastifyLike) => Promise<void>;
  /** Stops the background sampling of queue counts (it also stops with the process). */
  close(): void;
}

/** The part of Fastify the plugin uses, so Fastify need not be a dependency. */
export interface FastifyLike {
  removeAllContentTypeParsers(): void;
  addContentTypeParser(
    type: string,
    parser: (request: unknown, payload: unknown, done: (error: null) => void) => void,
  ): void;
  all(
    path: string,
    handler: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => void,
  ): void;
}

/**
 * The dashboard, mountable anywhere a Node server runs. It binds nothing itself: where it is mounted
 * decides who can reach it, so without `auth` it answers loopback clients only.
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { app, sampler } = createDashboardApp(options);
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const listener = getRequestListener(app.fetch);

  const handler = (request: IncomingMessage, response: ServerResponse) => void listener(request, response);

  return {
    app,
    fetch: (request, env) => app.fetch(request, env as never),
    handler,
    express: () => (request, response) => {
      // Express strips the mount path from url; the app expects the full path.
      if (request.originalUrl !== undefined) request.url = request.originalUrl;
      // A body parser mounted before the dashboard (express.json()) has read the stream: hand the
      // parsed body on as raw bytes, which the Node adapter reads instead of the spent stream.
      const parsed = (request as { body?: unknown }).body;
      if (request.readableEnded && parsed !== undefined && !('rawBody' in request)) {
        Object.assign(request, { rawBody: Buffer.from(JSON.stringify(parsed)) });
      }
      handler(request, response);
    },
    fastify: () => async (instance) => {
      // The dashboard reads request bodies itself: keep Fastify from consuming them first.
      instance.removeAllContentTypeParsers();
      instance.addContentTypeParser('*', (_request, _payload, done) => done(null));
      const route = (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => {
        reply.hijack();
        handler(request.raw, reply.raw);
      };
      instance.all(basePath || '/', route);
      instance.all(`${basePath}/*`, route);
    },
    close: () => sampler.stop(),
  };
}
