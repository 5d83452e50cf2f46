import { type BackoffOptions, backoffDelayMs, TransportError } from '@thrun/contract';
import { redactText, redactUrl } from '@thrun/contract/transport-kit';
import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import type { Script } from './scripts.js';

export type RedisClient = Redis | Cluster;

const RECONNECT_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 2_000, jitter: 'full' };

/** Reconnect forever with a capped backoff: a broker that comes back mid-stream is picked up again. */
function retryStrategy(times: number): number {
  return backoffDelayMs(times, RECONNECT_BACKOFF);
}

export function createClient(url: string, extra: RedisOptions = {}): Redis {
  // ioredis reads `rediss://` (TLS), username, password and the database number from the URL.
  const options: RedisOptions = {
    lazyConnect: true,
    retryStrategy,
    // Commands issued while disconnected wait for the reconnection, but not forever: publish rejects
    // after a few failed reconnections instead of hanging (callers retry; delivery is at-least-once).
    maxRetriesPerRequest: 3,
    connectTimeout: 5_000,
    // A reply that never comes (a half-open connection) becomes an error the caller retries, instead of
    // a wait without end. Blocking reads run on a duplicate without this bound.
    commandTimeout: 30_000,
    ...extra,
  };
  // The cast pins the reply mapping to the default (RESP2 shapes), which every script here expects.
  const client: Redis = new Redis(url, options as Omit<RedisOptions, 'replyMapping'>);
  silence(client);
  return client;
}

/** How a transport or store gets its client: the one given (never closed by Thrun), or its own from a URL. */
export interface ClientOptions {
  url?: string;
  client?: RedisClient;
  redisOptions?: RedisOptions;
}

export interface ResolvedClient {
  client: RedisClient;
  /** Names the server in errors, credentials removed. */
  where: string;
  /** Whether closing is ours to do. */
  ownsClient: boolean;
}

export function resolveClient(options: ClientOptions): ResolvedClient {
  if (options.client) return { client: options.client, where: 'the given Redis client', ownsClient: false };
  const url = options.url ?? process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6379';
  return {
    client: createClient(url, { enableAutoPipelining: true, ...options.redisOptions }),
    where: redactUrl(url),
    ownsClient: true,
  };
}

/**
 * ioredis prints unhandled 'error' events to the console, with addresses but also with whatever the
 * server said; Thrun reports connection problems through typed errors instead.
 */
export function silence(client: RedisClient): void {
  client.on('error', () => {});
}

/** A second connection of the same kind, for blocking reads that would stall every other command. */
export function duplicateClient(client: RedisClient): RedisClient {
  const copy: RedisClient = client instanceof Redis ? client.duplicate() : client.duplicate();
  silence(copy);
  return copy;
}

/**
 * Resolves once `client` is ready. At start-up a broker that cannot be reached fails fast with
 * `TransportError('connection_failed')` (and the client stops retrying); once connected, ioredis
 * reconnects on its own and this resolves when it is back.
 */
export async function ensureReady(client: RedisClient, where: string, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait' || client.status === 'end' || client.status === 'close') {
    try {
      // The first 'error' (ECONNREFUSED, auth, TLS) ends the attempt: start-up fails fast.
      let onError: ((error: Error) => void) | undefined;
      const failed = new Promise<never>((_, reject) => {
        onError = reject;
        client.once('error', onError);
      });
      await withTimeout(Promise.race([client.connect(), failed]), timeoutMs).finally(() => {
        if (onError) client.off('error', onError);
      });
      return;
    } catch (cause) {
      client.disconnect();
      throw new TransportError(
        'connection_failed',
        `[thrun:redis] cannot connect to ${where}: ${describeCause(cause)}. Is Redis running? (scripts/brokers/redis.sh start)`,
        { cause: sanitize(cause) },
      );
    }
  }
  // Connecting or reconnecting: wait for it, within the same bound.
  await withTimeout(
    new Promise<void>((resolve) => {
      client.once('ready', () => resolve());
    }),
    timeoutMs,
  ).catch((cause) => {
    throw new TransportError('connection_failed', `[thrun:redis] ${where} is not reachable`, {
      cause: sanitize(cause),
    });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The part of a driver error worth showing: its message, credentials of any URL in it removed. */
export function describeCause(cause: unknown): string {
  return redactText(cause instanceof Error ? cause.message : String(cause));
}

function sanitize(cause: unknown): Error {
  return new Error(describeCause(cause));
}

/** A driver error → `TransportError`, retryable, with no credentials in it. */
export function transportError(
  code: 'publish_failed' | 'broker_error' | 'connection_failed',
  what: string,
  cause: unknown,
): TransportError {
  return new TransportError(code, `[thrun:redis] ${what}: ${describeCause(cause)}`, {
    cause: sanitize(cause),
  });
}

interface ScriptingClient {
  evalBuffer(...args: (string | Buffer | number)[]): Promise<unknown>;
  evalshaBuffer(...args: (string | Buffer | number)[]): Promise<unknown>;
}

/**
 * Sends one command now, past the client's auto-pipelining. Auto-pipelining holds every command for
 * a turn of the event loop (`setImmediate`) and wraps it in a pipeline of its own: worth it for many
 * commands issued together, a loss for the one script a consumer waits on before it runs its next
 * handler (an ack at concurrency 1, a fetch). Commands on one connection still run in the order sent.
 */
export function sendNow(
  client: RedisClient,
  name: string,
  args: readonly (string | Buffer | number)[],
  replies: 'buffers' | 'strings',
): Promise<unknown> {
  const { keyPrefix } = client.options;
  const command = new Command(name, [...args], {
    replyEncoding: replies === 'buffers' ? null : 'utf8',
    ...(keyPrefix === undefined ? {} : { keyPrefix }),
  });
  client.sendCommand(command);
  return command.promise;
}

/**
 * Runs `send`, whose commands (sent at once, see sendNow) go out in one write: the server reads them
 * together and answers them together, one wake-up each way instead of one per command.
 */
export function inOneWrite<T>(client: RedisClient, send: () => T): T {
  // A Cluster writes to its nodes' connections itself: there each command is its own write.
  const socket = client instanceof Redis ? client.stream : undefined;
  socket?.cork();
  try {
    return send();
  } finally {
    socket?.uncork();
  }
}

/**
 * EVALSHA, falling back to EVAL when the server does not know the script (first use, or after a
 * restart), sent at once (see sendNow). Replies come as Buffers (message bytes stay bytes) or, with
 * `replies: 'strings'`, as text.
 */
export async function runScript(
  client: RedisClient,
  script: Script,
  keys: readonly string[],
  args: readonly (string | Buffer | number)[],
  replies: 'buffers' | 'strings' = 'buffers',
): Promise<unknown> {
  try {
    return await sendNow(client, 'evalsha', [script.sha, keys.length, ...keys, ...args], replies);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return sendNow(client, 'eval', [script.source, keys.length, ...keys, ...args], replies);
    }
    throw error;
  }
}

/** Replication asked of every write: `WAIT replicas timeoutMs` after it, on the same connection. */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

type Pipeline = ReturnType<RedisClient['pipeline']>;

/**
 * Runs the commands `build` adds to one pipeline, followed by `WAIT` when `wait.replicas` > 0, and
 * returns their replies. In a Cluster the pipeline goes to the master of its keys' slot, so `WAIT` asks
 * that master's replicas (a keyless `WAIT` on its own would reach some random node). Rejects when a
 * command failed or fewer replicas than asked confirmed the write in time: the write happened on the
 * master but may not survive its failover.
 */
export async function writeReplicated(
  client: RedisClient,
  build: (pipeline: Pipeline) => void,
  wait: ReplicaWait,
  what: string,
): Promise<unknown[]> {
  for (let redirections = 0; ; redirections++) {
    const pipeline = client.pipeline();
    build(pipeline);
    if (wait.replicas > 0) pipeline.wait(wait.replicas, wait.timeoutMs);
    const results = (await pipeline.exec()) ?? [[new Error('no reply'), null]];
    const failed = results.find(([error]) => error)?.[0];
    if (failed) {
      // After a failover the old master answers MOVED for the keys and an error for WAIT (it is a
      // replica now); ioredis follows MOVED only when every reply is one, so the slot map is refreshed
      // here and the pipeline sent again (nothing was written: the old master refused the commands).
      if (client instanceof Cluster && isRedirection(failed) && redirections < MAX_REDIRECTIONS) {
        await refreshSlots(client);
        continue;
      }
      throw failed;
    }
    const replies = results.map(([, reply]) => reply);
    if (wait.replicas > 0) {
      const acknowledged = Number(replies.pop() ?? 0);
      if (acknowledged < wait.replicas) {
        throw new TransportError(
          'publish_failed',
          `[thrun:redis] ${what}: ${acknowledged} of ${wait.replicas} replicas acknowledged in time`,
        );
      }
    }
    return replies;
  }
}

/** A command as its name and arguments, e.g. `['lpush', key, body]`. */
export type RedisCommand = [name: string, ...args: (string | Buffer | number)[]];

/**
 * Writes `commands` with writeReplicated's guarantees and returns their replies. A lone command that
 * no `WAIT` follows (one message published, typically) is sent at once, without a pipeline (see
 * sendNow); a Cluster follows its redirections itself.
 */
export async function writeCommands(
  client: RedisClient,
  commands: readonly RedisCommand[],
  wait: ReplicaWait,
  what: string,
): Promise<unknown[]> {
  const [only] = commands;
  if (only && commands.length === 1 && wait.replicas <= 0) {
    const [name, ...args] = only;
    return [await sendNow(client, name, args, 'strings')];
  }
  return writeReplicated(
    client,
    (pipeline) => {
      for (const [name, ...args] of commands) pipeline.call(name, ...args);
    },
    wait,
    what,
  );
}

const MAX_REDIRECTIONS = 5;

const isRedirection = (error: Error) => /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN) /.test(error.message);

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => {
    cluster.refreshSlotsCache(() => resolve());
  });
}

/**
 * A script run, then `WAIT` (see writeReplicated). Without a wait it is the plain runScript; with one,
 * EVALSHA and WAIT share a pipeline, and a script the server does not know yet is sent once in full.
 */
export async function runScriptReplicated(
  client: RedisClient,
  script: Script,
  keys: readonly string[],
  args: readonly (string | Buffer | number)[],
  wait: ReplicaWait,
  what: string,
): Promise<unknown> {
  if (wait.replicas <= 0) return runScript(client, script, keys, args);
  const send = (inFull: boolean) =>
    writeReplicated(
      client,
      (pipeline) => {
        const scripting = pipeline as unknown as ScriptingClient;
        if (inFull) scripting.evalBuffer(script.source, keys.length, ...keys, ...args);
        else scripting.evalshaBuffer(script.sha, keys.length, ...keys, ...args);
      },
      wait,
      what,
    );
  try {
    return (await send(false))[0];
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return (await send(true))[0];
    throw error;
  }
}

export { Cluster, Redis };
