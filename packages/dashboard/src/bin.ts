#!/usr/bin/env node
// thrun-dashboard: the dashboard on its own server. The transport comes from --transport and the
// usual environment (THRUN_REDIS_URL, THRUN_AMQP_URL, THRUN_KAFKA_BROKERS); credentials only from the
// environment (THRUN_DASHBOARD_TOKEN, or THRUN_DASHBOARD_USER and THRUN_DASHBOARD_PASSWORD), so they
// never show in a process list.
import { parseArgs } from 'node:util';
import type { Transport } from '@thrun/contract';
import { createThrun, silentLogger } from '@thrun/core';
import { kafkaTransport } from '@thrun/transport-kafka';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { redisBatchStore, redisTransport } from '@thrun/transport-redis';
import type { DashboardAuth } from './security.js';
import { serveDashboard } from './serve.js';

const USAGE = `usage: thrun-dashboard [--transport redis|rabbitmq|kafka] [--port 3000] [--host 127.0.0.1]
                       [--queue events]... [--base-path /thrun]
  --host other than loopback needs THRUN_DASHBOARD_TOKEN or THRUN_DASHBOARD_USER/THRUN_DASHBOARD_PASSWORD`;

const { values } = parseArgs({
  options: {
    transport: { type: 'string', default: 'redis' },
    port: { type: 'string', default: '3000' },
    host: { type: 'string', default: '127.0.0.1' },
    queue: { type: 'string', multiple: true },
    'base-path': { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function authFromEnv(): DashboardAuth | undefined {
  const {
    THRUN_DASHBOARD_TOKEN: token,
    THRUN_DASHBOARD_USER: username,
    THRUN_DASHBOARD_PASSWORD: password,
  } = process.env;
  if (token) return { token };
  if (username && password) return { basic: { username, password } };
  return undefined;
}

const env = process.env;
const redisUrl = env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6379';
const transports: Record<string, () => Transport> = {
  redis: () => redisTransport({ url: redisUrl }),
  rabbitmq: () => rabbitmqTransport({ url: env.THRUN_AMQP_URL ?? 'amqp://127.0.0.1:5672' }),
  kafka: () => kafkaTransport({ brokers: env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9092' }),
};
const makeTransport = transports[values.transport];
if (!makeTransport) {
  console.error(USAGE);
  process.exit(2);
}

try {
  const thrun = createThrun({
    transport: makeTransport(),
    logger: silentLogger,
    // Batches are kept in Redis by workers that share them; a dashboard on Redis reads the same store.
    ...(values.transport === 'redis' ? { batches: { store: redisBatchStore({ url: redisUrl }) } } : {}),
  });
  const auth = authFromEnv();
  const served = await serveDashboard({
    thrun,
    host: values.host,
    port: Number(values.port),
    ...(auth ? { auth } : {}),
    ...(values.queue ? { queues: values.queue } : {}),
    ...(values['base-path'] ? { basePath: values['base-path'] } : {}),
  });
  console.log(`thrun-dashboard: ${served.url} (${thrun.transport.name})`);
  const shutdown = async () => {
    await served.close();
    await thrun.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
