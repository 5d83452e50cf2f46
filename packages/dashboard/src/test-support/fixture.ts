import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { createThrun, permanent, silentLogger, type Thrun } from '@thrun/core';
import { redisBatchStore, redisTransport } from '@thrun/transport-redis';

export const REDIS_URL = process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390';

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
export function redisScenario(url = REDIS_URL): Scenario {
  const keyPrefix = `thrun-dash-${randomBytes(4).toString('hex')}:`;
  const queue = 'events';
  const handled: string[] = [];
  let healed = false;
  const bus = () =>
    createThrun({
      transport: redisTransport({ url, keyPrefix }),
      batches: { store: redisBatchStore({ url, keyPrefix }) },
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
