import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Transport } from '@thrun/contract';
import { type ChannelModel, connect } from 'amqplib';
import { rabbitmqTransport } from './rabbitmq-transport.js';

/** The broker the tests use: `scripts/brokers/rabbitmq.sh start` prints this variable. */
export const amqpUrl = process.env.THRUN_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5682';

/** A raw amqplib connection, failing (never skipping) with how to start the broker. */
export async function rawConnection(): Promise<ChannelModel> {
  try {
    return await connect(amqpUrl, { noDelay: true });
  } catch (cause) {
    throw new Error(
      `RabbitMQ is not reachable at THRUN_AMQP_URL (${amqpUrl.replace(/\/\/[^@]*@/, '//***@')}): start it with\n` +
        '  eval "$(bash scripts/brokers/rabbitmq.sh start)"',
      { cause },
    );
  }
}

export function uniqueQueue(prefix: string): string {
  return `test-${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Deletes what a test declared for `queue` (its groups, dead queue and buckets given by name). */
export async function deleteTopology(
  connection: ChannelModel,
  queue: string,
  extraQueues: string[] = [],
): Promise<void> {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  for (const name of [queue, `${queue}.dead`, ...extraQueues]) {
    await channel.deleteQueue(name).catch(() => {});
  }
  await channel.deleteExchange(`thrun.${queue}`).catch(() => {});
  await channel.deleteExchange(`thrun.${queue}.dead`).catch(() => {});
  await channel.close().catch(() => {});
}

export const utf8 = new TextEncoder();
export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs` with `what`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const brokerScript = fileURLToPath(new URL('../../../scripts/brokers/rabbitmq.sh', import.meta.url));

/** `rabbitmqctl` against the node that scripts/brokers/rabbitmq.sh runs. */
export const ctl = (...args: string[]) =>
  promisify(execFile)('bash', [brokerScript, 'ctl', ...args], { env: process.env, timeout: 60_000 });

/** A policy that makes the broker refuse (nack) every publish to the queues matching `pattern`. */
export async function refuseQueuePublishes(name: string, pattern: string): Promise<void> {
  await ctl(
    'set_policy',
    '--apply-to',
    'queues',
    name,
    pattern,
    JSON.stringify({ 'max-length': 0, overflow: 'reject-publish' }),
  );
}

export const regexQuoted = (name: string) => name.replace(/[.-]/g, '\\$&');

/**
 * What one test file opens: transports (closed after each test by `closeTransports`) and queues
 * (deleted with their named extras by `deleteQueues`, after all tests).
 */
export function testTopology() {
  const transports: Transport[] = [];
  const cleanup: Array<[string, string[]]> = [];
  return {
    transport(options: Parameters<typeof rabbitmqTransport>[0] = {}): Transport {
      const created = rabbitmqTransport({
        ...(options.connection || options.urls ? {} : { url: amqpUrl }),
        drainTimeoutMs: 2_000,
        ...options,
      });
      transports.push(created);
      return created;
    },
    /** A unique queue; `extra` names the suffixed queues a test declares beside it (`:retry:1000`). */
    queueFor(name: string, extra: string[] = []): string {
      const queue = uniqueQueue(name);
      cleanup.push([queue, extra.map((suffix) => `${queue}${suffix}`)]);
      return queue;
    },
    closeTransports: () => Promise.all(transports.splice(0).map((t) => t.close())),
    async deleteQueues(connection: ChannelModel): Promise<void> {
      for (const [queue, extra] of cleanup.splice(0)) await deleteTopology(connection, queue, extra);
    },
  };
}
