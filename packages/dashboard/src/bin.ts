#!/usr/bin/env node
// thrun-dashboard: the dashboard on its own server. The broker is chosen the way `thrun` chooses it
// (flags, then THRUN_* variables, then thrun.config.json: @thrun/cli's connection module); the
// dashboard's own credentials come only from the environment (THRUN_DASHBOARD_TOKEN, or
// THRUN_DASHBOARD_USER and THRUN_DASHBOARD_PASSWORD), so they never show in a process list.
import { parseArgs } from 'node:util';
import {
  type ConnectionFlags,
  describeConnection,
  openBatchStore,
  openTransport,
  resolveConnection,
} from '@thrun/cli';
import { createThrun, silentLogger } from '@thrun/core';
import type { DashboardAuth } from './security.js';
import { serveDashboard } from './serve.js';

const USAGE = `usage: thrun-dashboard [--port 3000] [--host 127.0.0.1] [--base-path /thrun]
                       [--transport redis|rabbitmq|kafka] [--redis-url URL] [--redis-mode list|stream]
                       [--redis-key-prefix P] [--rabbitmq-url URL] [--rabbitmq-queue-type quorum|classic]
                       [--kafka-brokers host:port,...] [--batch-store-url URL] [--queue Q]
                       [--queues a,b] [--groups g1,g2] [--config thrun.config.json]
  Off loopback (--host) it needs THRUN_DASHBOARD_TOKEN, or THRUN_DASHBOARD_USER and THRUN_DASHBOARD_PASSWORD.`;

const CONNECTION_FLAGS = {
  transport: 'transport',
  'redis-url': 'redisUrl',
  'redis-mode': 'redisMode',
  'redis-key-prefix': 'redisKeyPrefix',
  'rabbitmq-url': 'rabbitmqUrl',
  'rabbitmq-queue-type': 'rabbitmqQueueType',
  'kafka-brokers': 'kafkaBrokers',
  'batch-store-url': 'batchStoreUrl',
  queue: 'queue',
  queues: 'queues',
  groups: 'groups',
} as const satisfies Record<string, keyof ConnectionFlags>;

function authFromEnv(env: NodeJS.ProcessEnv): DashboardAuth | undefined {
  const {
    THRUN_DASHBOARD_TOKEN: token,
    THRUN_DASHBOARD_USER: username,
    THRUN_DASHBOARD_PASSWORD: password,
  } = env;
  if (token) return { token };
  if (username && password) return { basic: { username, password } };
  return undefined;
}

try {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '3000' },
      host: { type: 'string', default: '127.0.0.1' },
      'base-path': { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean' },
      ...Object.fromEntries(Object.keys(CONNECTION_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const flags: ConnectionFlags = {};
  for (const [flag, key] of Object.entries(CONNECTION_FLAGS)) {
    const value = (values as Record<string, unknown>)[flag];
    if (typeof value === 'string') flags[key] = value;
  }
  const settings = resolveConnection({ flags, ...(values.config ? { configFile: values.config } : {}) });
  const store = openBatchStore(settings);
  const thrun = createThrun({
    transport: openTransport(settings),
    queue: settings.queue,
    logger: silentLogger,
    ...(store ? { batches: { store } } : {}),
  });
  const auth = authFromEnv(process.env);
  const served = await serveDashboard({
    thrun,
    host: values.host as string,
    port: Number(values.port),
    queues: settings.queues,
    groups: settings.groups,
    ...(auth ? { auth } : {}),
    ...(values['base-path'] ? { basePath: values['base-path'] as string } : {}),
  });
  console.log(`thrun-dashboard: ${served.url} (${describeConnection(settings)})`);
  const shutdown = async () => {
    await served.close();
    await thrun.close();
    await store?.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
} catch (error) {
  console.error(`thrun-dashboard: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
}
