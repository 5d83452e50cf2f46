import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ThrunMetrics } from './metrics.js';

/**
 * A `node:http` request handler that answers every GET (or HEAD) with the exposition text; mount it
 * on the path Prometheus scrapes (`/metrics`). Express and Fastify's raw request/response fit it.
 */
export function metricsHandler(metrics: ThrunMetrics) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      const text = await metrics.text();
      response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : text);
    } catch {
      response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
    }
  };
}
