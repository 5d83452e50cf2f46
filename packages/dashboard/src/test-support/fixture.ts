import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { createThrun, permanent, silentLogger, type Thrun, type ThrunOptions } from '@thrun/core';
import { kafkaTransport } from '@thrun/transport-kafka';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { redisBatchStore, redisTransport } from '@thrun/transport-redis';
import { serveDashboard } from '../serve.js';

export const REDIS_URL = process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390';
export const AMQP_URL = process.env.THRUN_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5682';
export const KAFKA_BROKERS = process.env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9192';

/** Fails (never skips) when the test Redis is not there, saying how to start it. */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  const { hostname, port } = new URL(url);
  await new Promise<void>((resolve, reject) => {
    const socket = createConnection({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(2_000, () => socket.destroy(new Error('timed out')));
    socket.once('data', (data) => {
      socket.end();
      data.toString().startsWith('+PONG') ? resolve() : reject(new Error(data.toString()));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('error', (error) =>
      reject(
        new Error(
          `Redis is not reachable at ${url} (${error.message}). Start it with: eval "$(bash scripts/brokers/redis.sh start)"`,
        ),
      ),
    );
  });
}

/** The payloads the XSS checks use: each would run script if it ever became markup. */
export const XSS = {
  script: '<script>window.__xss = "script"</script>',
  img: '"><img src=x onerror="window.__xss = \'img\'">',
};

export interface Scenario {
  queue: string;
  /** A worker on the queue: `order_created` succeeds, `order_poison` fails permanently until healed. */
  worker: Thrun;
  /** The bus the dashboard shows: the same Redis, never started. */
  viewer: Thrun;
  handled: string[];
  heal(): void;
  close(): Promise<void>;
}

/** A queue of its own on Redis (a fresh key prefix), a worker and the dashboard's bus. */
export function redisScenario(url = REDIS_URL, mode: 'list' | 'stream' = 'list'): Scenario {
  const keyPrefix = `thrun-dash-${randomBytes(4).toString('hex')}:`;
  return scenario('events', () => ({
    transport: redisTransport({ url, keyPrefix, mode }),
    batches: { store: redisBatchStore({ url, keyPrefix }) },
  }));
}

/** A queue of its own on RabbitMQ (a fresh name), a worker and the dashboard's bus. */
export function rabbitmqScenario(url = AMQP_URL): Scenario {
  const queue = `dash-${randomBytes(4).toString('hex')}`;
  return scenario(queue, () => ({ transport: rabbitmqTransport({ url }), queue }));
}

/** A queue (topic) of its own on Kafka, a worker and the dashboard's bus. */
export function kafkaScenario(brokers = KAFKA_BROKERS): Scenario {
  const queue = `dash-${randomBytes(4).toString('hex')}`;
  return scenario(queue, () => ({ transport: kafkaTransport({ brokers }), queue }));
}

function scenario(queue: string, options: () => ThrunOptions): Scenario {
  const handled: string[] = [];
  let healed = false;
  const bus = () =>
    createThrun({
      ...options(),
      logger: silentLogger,
      retry: { maxAttempts: 2, backoffMs: 10, jitter: false },
    });
  const worker = bus();
  const viewer = bus();
  worker.subscribe('order_created', (payload) => {
    handled.push(`order_created:${JSON.stringify(payload)}`);
  });
  worker.subscribe('order_poison', (payload) => {
    if (!healed) throw permanent(`refused ${XSS.img} ${XSS.script}`);
    handled.push(`order_poison:${JSON.stringify(payload)}`);
  });
  worker.subscribe('step.#', (payload) => {
    handled.push(`step:${JSON.stringify(payload)}`);
  });
  return {
    queue,
    worker,
    viewer,
    handled,
    heal: () => {
      healed = true;
    },
    close: async () => {
      await worker.close();
      await viewer.close();
    },
  };
}

export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The dashboard on every interface with a token, and its address through loopback. */
export async function serveOffLoopback(thrun: Thrun, token: string) {
  const guarded = await serveDashboard({ thrun, host: '0.0.0.0', port: 0, auth: { token } });
  return { guarded, base: `http://127.0.0.1:${new URL(guarded.url).port}/` };
}
