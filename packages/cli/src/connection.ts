/**
 * Where the transport comes from, written once for the CLI and the dashboard: command-line flags,
 * then environment variables, then a JSON config file, key by key (a flag wins over the variable,
 * the variable over the file). Nothing here connects; `openTransport` builds a lazy transport.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertQueueName, ConfigurationError, type Transport } from '@thrun/contract';
import { redactUrl } from '@thrun/contract/transport-kit';
import { kafkaTransport } from '@thrun/transport-kafka';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { type RedisBatchStore, redisBatchStore, redisTransport } from '@thrun/transport-redis';

export type TransportKind = 'redis' | 'rabbitmq' | 'kafka';
const KINDS: readonly TransportKind[] = ['redis', 'rabbitmq', 'kafka'];

/** Every setting, as a flag (camelCase), a config-file key (the same name) and a variable. */
export interface ConnectionFlags {
  /** Which broker; inferred when exactly one of the URLs below is set. */
  transport?: string;
  redisUrl?: string;
  /** `list` (default) or `stream`: must match the workers' mode. */
  redisMode?: string;
  redisKeyPrefix?: string;
  rabbitmqUrl?: string;
  /** `quorum` (default) or `classic`: must match the workers' queue type. */
  rabbitmqQueueType?: string;
  /** `host:port`, comma-separated. */
  kafkaBrokers?: string;
  /** Redis URL of the shared batch store. Default: the Redis transport's URL. */
  batchStoreUrl?: string;
  /** The queue commands act on by default (dead letters, dispatch, tail). Default: `events`. */
  queue?: string;
  /** More queues to report in `thrun queues`, comma-separated (RabbitMQ cannot list its queues). */
  queues?: string;
  /** Consumer groups to look for, comma-separated (RabbitMQ cannot list a queue's groups). */
  groups?: string;
}

/** The environment variable of each setting. */
export const CONNECTION_ENV: Readonly<Record<keyof ConnectionFlags, string>> = {
  transport: 'THRUN_TRANSPORT',
  redisUrl: 'THRUN_REDIS_URL',
  redisMode: 'THRUN_REDIS_MODE',
  redisKeyPrefix: 'THRUN_REDIS_KEY_PREFIX',
  rabbitmqUrl: 'THRUN_RABBITMQ_URL',
  rabbitmqQueueType: 'THRUN_RABBITMQ_QUEUE_TYPE',
  kafkaBrokers: 'THRUN_KAFKA_BROKERS',
  batchStoreUrl: 'THRUN_BATCH_STORE_URL',
  queue: 'THRUN_QUEUE',
  queues: 'THRUN_QUEUES',
  groups: 'THRUN_GROUPS',
};

/** Read when no `--config` or `THRUN_CONFIG` names a file and it exists in the working directory. */
export const DEFAULT_CONFIG_FILE = 'thrun.config.json';

export interface ConnectionInput {
  flags?: ConnectionFlags;
  /** Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** A config file; default `THRUN_CONFIG`, else `./thrun.config.json` when present. */
  configFile?: string;
  /** Where a relative config path is resolved. Default: `process.cwd()`. */
  cwd?: string;
}

export type ConnectionSettings =
  | (CommonSettings & {
      transport: 'redis';
      redis: { url: string; mode: 'list' | 'stream'; keyPrefix: string };
    })
  | (CommonSettings & { transport: 'rabbitmq'; rabbitmq: { url: string; queueType: 'quorum' | 'classic' } })
  | (CommonSettings & { transport: 'kafka'; kafka: { brokers: string[] } });

interface CommonSettings {
  queue: string;
  /** Queues to report besides those the transport finds (always includes `queue`). */
  queues: string[];
  groups: string[];
  /** The batch store's Redis URL, when there is one. */
  batchStoreUrl: string | undefined;
}

function readConfigFile(path: string): ConnectionFlags {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:cli] cannot read the config file ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:cli] the config file ${path} must hold a JSON object`,
    );
  }
  const flags: ConnectionFlags = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!Object.hasOwn(CONNECTION_ENV, key)) {
      throw new ConfigurationError(
        'invalid_option',
        `[thrun:cli] unknown key ${JSON.stringify(key).slice(0, 60)} in ${path}; known: ${Object.keys(CONNECTION_ENV).join(', ')}`,
      );
    }
    // Lists may be written as JSON arrays in the file.
    const text = Array.isArray(value) ? value.map(String).join(',') : value;
    if (typeof text !== 'string') {
      throw new ConfigurationError('invalid_option', `[thrun:cli] ${key} in ${path} must be a string`);
    }
    flags[key as keyof ConnectionFlags] = text;
  }
  return flags;
}

const list = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined || value === '') return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigurationError(
    'invalid_option',
    `[thrun:cli] ${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value).slice(0, 40)}`,
  );
}

/** Resolves every setting; a `ConfigurationError` when no transport or a contradictory one is given. */
export function resolveConnection(input: ConnectionInput = {}): ConnectionSettings {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const configPath = input.configFile ?? env.THRUN_CONFIG;
  let file: ConnectionFlags = {};
  if (configPath !== undefined && configPath !== '') file = readConfigFile(resolve(cwd, configPath));
  else if (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE)))
    file = readConfigFile(resolve(cwd, DEFAULT_CONFIG_FILE));

  const get = (key: keyof ConnectionFlags): string | undefined => {
    const value = input.flags?.[key] ?? env[CONNECTION_ENV[key]] ?? file[key];
    return value === '' ? undefined : value;
  };

  const given = KINDS.filter((kind) =>
    get(kind === 'redis' ? 'redisUrl' : kind === 'rabbitmq' ? 'rabbitmqUrl' : 'kafkaBrokers'),
  );
  const explicit = get('transport');
  let transport: TransportKind;
  if (explicit !== undefined) transport = oneOf('transport', explicit, KINDS, 'redis');
  else if (given.length === 1) transport = given[0]!;
  else if (given.length === 0) {
    throw new ConfigurationError(
      'invalid_option',
      '[thrun:cli] no transport: set THRUN_REDIS_URL, THRUN_RABBITMQ_URL or THRUN_KAFKA_BROKERS (or --redis-url, --rabbitmq-url, --kafka-brokers, or a thrun.config.json)',
    );
  } else {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:cli] settings for ${given.join(' and ')} are both present: choose one with --transport or THRUN_TRANSPORT`,
    );
  }

  const queue = get('queue') ?? 'events';
  const queues = [...new Set([queue, ...list(get('queues'))])];
  for (const name of queues) assertQueueName(name);
  const common: CommonSettings = {
    queue,
    queues,
    groups: list(get('groups')),
    batchStoreUrl: get('batchStoreUrl') ?? (transport === 'redis' ? get('redisUrl') : undefined),
  };

  if (transport === 'redis') {
    return {
      ...common,
      transport,
      redis: {
        url: get('redisUrl') ?? 'redis://127.0.0.1:6379',
        mode: oneOf('redisMode', get('redisMode'), ['list', 'stream'] as const, 'list'),
        keyPrefix: get('redisKeyPrefix') ?? '',
      },
    };
  }
  if (transport === 'rabbitmq') {
    return {
      ...common,
      transport,
      rabbitmq: {
        url: get('rabbitmqUrl') ?? 'amqp://guest:guest@127.0.0.1:5672',
        queueType: oneOf(
          'rabbitmqQueueType',
          get('rabbitmqQueueType'),
          ['quorum', 'classic'] as const,
          'quorum',
        ),
      },
    };
  }
  const brokers = list(get('kafkaBrokers'));
  return { ...common, transport, kafka: { brokers: brokers.length > 0 ? brokers : ['127.0.0.1:9092'] } };
}

/** The transport the settings describe. Lazy: nothing connects before its first call. */
export function openTransport(settings: ConnectionSettings): Transport {
  switch (settings.transport) {
    case 'redis':
      return redisTransport({
        url: settings.redis.url,
        mode: settings.redis.mode,
        keyPrefix: settings.redis.keyPrefix,
      });
    case 'rabbitmq':
      return rabbitmqTransport({ url: settings.rabbitmq.url, queueType: settings.rabbitmq.queueType });
    case 'kafka':
      return kafkaTransport({ brokers: settings.kafka.brokers, clientId: 'thrun-cli' });
  }
}

/** The shared batch store, where the settings name one (a Redis URL). */
export function openBatchStore(settings: ConnectionSettings): RedisBatchStore | undefined {
  if (settings.batchStoreUrl === undefined) return undefined;
  return redisBatchStore({
    url: settings.batchStoreUrl,
    ...(settings.transport === 'redis' ? { keyPrefix: settings.redis.keyPrefix } : {}),
  });
}

/** One line naming the transport and where it connects, without credentials: safe to print or send. */
export function describeConnection(settings: ConnectionSettings): string {
  switch (settings.transport) {
    case 'redis':
      return `redis ${settings.redis.mode === 'stream' ? 'streams' : 'lists'} at ${redactUrl(settings.redis.url)}`;
    case 'rabbitmq':
      return `rabbitmq at ${redactUrl(settings.rabbitmq.url)}`;
    case 'kafka':
      return `kafka at ${settings.kafka.brokers.join(',')}`;
  }
}
