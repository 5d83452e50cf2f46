import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigurationError } from '@thrun/contract';
import type { DashboardOptions } from './app.js';
import { createDashboard } from './dashboard.js';
import { isLoopbackAddress } from './security.js';

export interface ServeOptions extends DashboardOptions {
  /** Default: 127.0.0.1. Any other address needs `auth`. */
  host?: string;
  /** Default: 3000; 0 picks a free port. */
  port?: number;
}

/** Runs the dashboard on its own HTTP server. Refuses to listen off loopback without authentication. */
export async function serveDashboard(options: ServeOptions) {
  const host = options.host ?? '127.0.0.1';
  if (!options.auth && !isLoopbackAddress(host) && host !== 'localhost') {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:dashboard] listening on ${host} needs authentication: set a token or basic auth`,
    );
  }
  const dashboard = createDashboard(options);
  const server: Server = createServer(dashboard.handler);
  server.listen(options.port ?? 3000, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    dashboard,
    url: `http://${shownHost}:${port}${(options.basePath ?? '').replace(/\/+$/, '')}/`,
    async close() {
      dashboard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
