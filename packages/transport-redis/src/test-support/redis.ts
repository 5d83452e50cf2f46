import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390';

/** Fails (never skips) when the test Redis is not there, saying how to start it. */
export async function requireRedis(): Promise<Redis> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${REDIS_URL} (${(error as Error).message}). Start it with: eval "$(bash scripts/brokers/redis.sh start)"`,
    );
  } finally {
    probe.disconnect();
  }
  // The tests' own client reconnects: the reliability test restarts Redis.
  const client = new Redis(REDIS_URL);
  client.on('error', () => {});
  return client;
}

/** A key prefix no other test (or benchmark) uses, so each test flushes only its own keys. */
export function uniquePrefix(): string {
  return `thrun-test-${randomBytes(4).toString('hex')}:`;
}

export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
export const bytes = (value: string) => new Uint8Array(Buffer.from(value, 'utf8'));

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
