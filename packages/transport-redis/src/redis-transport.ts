import { randomUUID } from 'node:crypto';
import {
  DEFAULT_MAX_BYTES,
  type DeliveryHandler,
  type OutgoingMessage,
  type PublishOptions,
  type QueueStats,
  type Transport,
  type TransportCapabilities,
  TransportError,
} from '@thrun/contract';
import {
  abortable,
  type CheckedConsumeOptions,
  defineTransport,
  optionChecks,
} from '@thrun/contract/transport-kit';
import type { RedisOptions } from 'ioredis';
import {
  Cluster,
  duplicateClient,
  ensureReady,
  Redis,
  type RedisClient,
  type RedisCommand,
  type ReplicaWait,
  resolveClient,
  runScript,
  transportError,
  writeCommands,
} from './connection.js';
import { Consumer } from './consumer.js';
import { findQueues, inspectListQueue, inspectStreamQueue, waitingCount, waitingEntries } from './inspect.js';
import { queueKeys } from './keys.js';
import { listPurgeScript, scheduleScript } from './scripts.js';
import { delayedMember, listSource, streamSource } from './sources.js';

export type RedisTransportMode = 'list' | 'stream';

export interface RedisTransportOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. Credentials in it are used to
   * connect and never appear in errors. Default: `THRUN_REDIS_URL`, else `redis://127.0.0.1:6379`.
   */
  url?: string;
  /**
   * Your own ioredis client (a `Redis` or a `Cluster`) instead of `url`. Thrun duplicates it for blocking
   * reads and never closes it; `close()` closes only the connections Thrun opened.
   */
  client?: RedisClient;
  /** Extra ioredis options (TLS certificates, `username`, `password`, …) when Thrun opens the connection. */
  redisOptions?: RedisOptions;
  /**
   * `list` (default): a list per queue holding the plain envelope bytes, the format any Redis client can `LPUSH`.
   * `stream`: a stream per queue with consumer groups: fan-out across groups.
   */
  mode?: RedisTransportMode;
  /**
   * How long a consumer may go silent before the messages it holds go to another consumer (as a new
   * attempt). Live consumers renew their lease every third of it. Default: 30,000.
   */
  visibilityTimeoutMs?: number;
  /** Prepended to every key. Default: `''`, so queue `events` is the key `events` that other services push to. */
  keyPrefix?: string;
  /** Largest body `publish` accepts. Default: 1 MiB, the codec's limit. */
  maxPayloadBytes?: number;
  /**
   * Messages a consumer holds, running, read ahead, or settled and waiting for Redis to confirm (never
   * fewer than `concurrency`). Default: Lists max(2 × concurrency, 20), taking at most its fair share
   * of the queue per read; Streams `concurrency`.
   */
  prefetch?: number;
  /** Longest a consumer's blocking read waits before it looks again (delays, close). Default: 1,000. */
  blockTimeoutMs?: number;
  /** Default for `close()`. Default: 10,000. */
  drainTimeoutMs?: number;
  /** How long `publish` and the first `consume` wait for a connection at start-up. Default: 5,000. */
  connectTimeoutMs?: number;
  /**
   * After each publish, wait until this many replicas acknowledged it (Redis `WAIT`, on the master of
   * the queue's slot in a Cluster); a publish they did not confirm within `connectTimeoutMs` rejects.
   * Default: 0, i.e. durability is what the server's persistence settings (AOF, `appendfsync`) give,
   * and a failover may lose acknowledged publishes (see the README's "Running on a cluster").
   */
  waitForReplicas?: number;
  /**
   * Also `WAIT` after each settlement (ack, retry, dead-letter), so a dead-letter record or a retry
   * survives a failover too. Default: false (a lost ack only brings the message back: a duplicate).
   */
  waitForReplicasOnSettle?: boolean;
  /** Streams mode: how often consumers trim entries every group is done with. Default: 5,000. */
  trimIntervalMs?: number;
}

const DEFAULT_VISIBILITY_TIMEOUT_MS = 30_000;
const check = optionChecks('redis');
const LPUSH_CHUNK = 1_000;
/** The group `peek` looks through, as on every transport. */
const DEFAULT_GROUP = 'default';

/**
 * A Thrun transport on Redis. See the package README for the key layout and guarantees.
 *
 * ```ts
 * const transport = redisTransport({ url: process.env.THRUN_REDIS_URL })
 * ```
 */
export function redisTransport(options: RedisTransportOptions = {}): Transport {
  const mode = check.oneOf('mode', options.mode, ['list', 'stream'], 'list');
  const visibilityTimeoutMs = check.positiveNumber(
    'visibilityTimeoutMs',
    options.visibilityTimeoutMs,
    DEFAULT_VISIBILITY_TIMEOUT_MS,
  );
  const maxPayloadBytes = check.positiveInteger(
    'maxPayloadBytes',
    options.maxPayloadBytes,
    DEFAULT_MAX_BYTES,
  );
  const blockTimeoutMs = check.positiveNumber('blockTimeoutMs', options.blockTimeoutMs, 1_000);
  const connectTimeoutMs = check.positiveNumber('connectTimeoutMs', options.connectTimeoutMs, 5_000);
  const keyPrefix = options.keyPrefix ?? '';
  const replicaWait: ReplicaWait = {
    replicas: Math.floor(check.nonNegativeNumber('waitForReplicas', options.waitForReplicas, 0)),
    timeoutMs: connectTimeoutMs,
  };
  const settleReplicaWait: ReplicaWait = options.waitForReplicasOnSettle
    ? replicaWait
    : { replicas: 0, timeoutMs: connectTimeoutMs };
  const { client, where, ownsClient } = resolveClient(options);
  let ready: Promise<void> | undefined;

  const capabilities: TransportCapabilities = {
    delay: true,
    fanout: mode === 'stream',
    ordering: 'fifo',
    persistent: true,
    maxPayloadBytes,
    deadLetter: true,
    redeliversUnacked: true,
    inspect: true,
  };

  /** Connects once; a failed start-up attempt is forgotten so the next call tries again. */
  function connect(): Promise<void> {
    ready ??= ensureReady(client, where, connectTimeoutMs).catch((error) => {
      ready = undefined;
      throw error;
    });
    return ready;
  }

  async function openBlocking(): Promise<RedisClient> {
    const blocking =
      client instanceof Redis
        ? client.duplicate({ enableAutoPipelining: false, lazyConnect: true, commandTimeout: undefined })
        : duplicateClient(client);
    if (client instanceof Redis) blocking.on('error', () => {});
    await ensureReady(blocking, where, connectTimeoutMs);
    return blocking;
  }

  async function publish(
    queue: string,
    messages: readonly OutgoingMessage[],
    publishOptions: PublishOptions,
  ): Promise<void> {
    await connect();
    const keys = queueKeys(keyPrefix, queue);
    const commands: RedisCommand[] = [];
    const bodies: Buffer[] = [];
    const flush = () => {
      // One LPUSH with many values keeps their order: the first value ends up next-out.
      for (let i = 0; i < bodies.length; i += LPUSH_CHUNK) {
        commands.push(['lpush', keys.queue, ...bodies.slice(i, i + LPUSH_CHUNK)]);
      }
      bodies.length = 0;
    };
    for (const message of messages) {
      // Copy: the caller may reuse its buffer, and ioredis needs a Buffer to send bytes as they are.
      const body = Buffer.from(message.body);
      const delayMs = message.delayMs ?? 0;
      if (delayMs > 0) {
        if (mode === 'list') flush();
        commands.push(['eval', scheduleScript.source, 1, keys.delayed, delayMs, delayedMember(body)]);
      } else if (mode === 'list') {
        bodies.push(body);
      } else if (message.key === undefined) {
        commands.push(['xadd', keys.queue, '*', 'b', body]);
      } else {
        commands.push(['xadd', keys.queue, '*', 'b', body, 'k', message.key]);
      }
    }
    flush();
    try {
      await abortable(
        writeCommands(client, commands, replicaWait, `publish to ${queue}`),
        publishOptions.signal,
        () => new TransportError('timeout', '[thrun:redis] publish aborted; messages may have been written'),
      );
    } catch (cause) {
      if (TransportError.isInstance(cause)) throw cause;
      throw transportError('publish_failed', `publish to ${queue} failed`, cause);
    }
  }

  async function consume(
    queue: string,
    handler: DeliveryHandler,
    { group, concurrency, from }: CheckedConsumeOptions,
  ): Promise<Consumer> {
    await connect();
    const keys = queueKeys(keyPrefix, queue);
    if (mode === 'stream') {
      try {
        // From the beginning of what the stream still holds: a group's first consumer also gets what
        // was published before it subscribed and is not yet trimmed.
        await client.xgroup('CREATE', keys.queue, group, from === 'now' ? '$' : '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) {
          throw transportError('broker_error', `cannot create consumer group for ${queue}`, error);
        }
      }
    }
    const blocking = await openBlocking();
    const context = {
      client,
      blocking,
      keys,
      consumerId: `${group}:${randomUUID()}`,
      visibilityTimeoutMs,
      blockTimeoutMs,
      replicaWait: settleReplicaWait,
    };
    const source =
      mode === 'list'
        ? listSource(context)
        : streamSource({ ...context, group, trimIntervalMs: options.trimIntervalMs ?? 5_000 });
    const consumer = new Consumer(source, handler, {
      queue,
      concurrency,
      // Lists read ahead (a fair share of the queue, see list-fetch); in Streams mode a read entry already
      // counts as delivered, so a consumer reads only what it can run.
      prefetch: Math.max(
        check.positiveInteger(
          'prefetch',
          options.prefetch,
          mode === 'list' ? Math.max(2 * concurrency, 20) : concurrency,
        ),
        concurrency,
      ),
      settleRetryMs: visibilityTimeoutMs,
    });
    if (mode === 'list') await source.tick([]); // takes the lease before the first message
    consumer.start();
    return consumer;
  }

  return defineTransport({
    name: 'redis',
    capabilities,
    drainTimeoutMs: check.nonNegativeNumber('drainTimeoutMs', options.drainTimeoutMs, 10_000),
    publish,
    consume,

    async shutdown() {
      if (ownsClient) await quit(client);
    },

    async peek(queue, limit) {
      if (limit <= 0) return [];
      await connect();
      const keys = queueKeys(keyPrefix, queue);
      if (mode === 'list') {
        // Oldest first: the next-out end of the list is its right.
        const bodies = await client.lrangeBuffer(keys.queue, -limit, -1);
        return bodies.reverse().map((body) => ({ body: new Uint8Array(body) }));
      }
      const entries = await waitingEntries(client, keys.queue, DEFAULT_GROUP, limit);
      return entries.map(([, fields]) => {
        const index = fields.findIndex((field, i) => i % 2 === 0 && field.toString() === 'b');
        const keyIndex = fields.findIndex((field, i) => i % 2 === 0 && field.toString() === 'k');
        const body = new Uint8Array(fields[index >= 0 ? index + 1 : 1] ?? Buffer.alloc(0));
        return keyIndex >= 0 ? { body, key: fields[keyIndex + 1]!.toString() } : { body };
      });
    },

    async removeGroup(queue, group) {
      if (mode === 'list') return; // one shared backlog: nothing belongs to a group
      await connect();
      const keys = queueKeys(keyPrefix, queue);
      try {
        if ((await client.type(keys.queue)) === 'stream') await client.xgroup('DESTROY', keys.queue, group);
        await client.del(keys.retry(group));
      } catch (cause) {
        throw transportError('broker_error', `cannot remove group ${group} of ${queue}`, cause);
      }
    },

    async inspect({ queues, discover }) {
      await connect();
      try {
        const found = discover ? await findQueues(client, keyPrefix, mode) : [];
        const names = new Set([...found, ...queues]);
        const rows: QueueStats[] = [];
        for (const queue of names) {
          if (mode === 'list') {
            const row = await inspectListQueue(client, keyPrefix, queue);
            if (row) rows.push(row);
          } else rows.push(...(await inspectStreamQueue(client, keyPrefix, queue)));
        }
        return rows;
      } catch (cause) {
        throw transportError('broker_error', 'inspecting queues failed', cause);
      }
    },

    async purge(queue) {
      await connect();
      const keys = queueKeys(keyPrefix, queue);
      if (mode === 'list') {
        return Number(await runScript(client, listPurgeScript, [keys.queue, keys.delayed], []));
      }
      // What was still waiting for the default group (acknowledged entries are not counted).
      const waiting = await waitingCount(client, keys.queue, DEFAULT_GROUP);
      const results = await client
        .multi()
        .zcard(keys.delayed)
        .xtrim(keys.queue, 'MAXLEN', 0)
        .del(keys.delayed)
        .exec();
      return waiting + Number(results?.[0]?.[1] ?? 0);
    },
  });
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end' || client.status === 'wait') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1_000);
    }),
  ]);
  clearTimeout(timer);
  client.disconnect();
}

export { Cluster, Redis };
