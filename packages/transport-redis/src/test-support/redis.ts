import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

/** The server's `run_id`, which changes on every start: proof that a restart really happened. */
export async function redisRunId(url = REDIS_URL): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    const runId = /^run_id:(\w+)/m.exec(info)?.[1];
    if (!runId) throw new Error('INFO server has no run_id');
    return runId;
  } finally {
    client.disconnect();
  }
}

const brokerScript = fileURLToPath(new URL('../../../../scripts/brokers/redis.sh', import.meta.url));

/**
 * Restarts Redis through scripts/brokers/redis.sh and fails unless the server at `THRUN_REDIS_URL`
 * came back as a new process. The script restarts only the server it started, so without this
 * check a URL pointing at another server would make a restart test pass with no restart at all.
 */
export async function restartRedis(): Promise<{ stdout: string }> {
  const before = await redisRunId();
  const { stdout } = await promisify(execFile)('bash', [brokerScript, 'restart'], { env: process.env });
  const after = await redisRunId();
  if (after === before) {
    throw new Error(
      `[redis restart] ${REDIS_URL} kept run_id ${before}: scripts/brokers/redis.sh restarted another server (set THRUN_REDIS_PORT to match THRUN_REDIS_URL)`,
    );
  }
  return { stdout };
}
