/**
 * The environment a worker under test is started with (protocol/conformance.md §1): written here once,
 * for the harness that sets it and the reference worker that reads it.
 */

export const TRANSPORT_NAMES = ['redis', 'redis-streams', 'rabbitmq', 'kafka'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

export interface WorkerSettings {
  transport: TransportName;
  url: string;
  queue: string;
  replyQueue: string;
  group: string;
  workerId: string;
  concurrency: number;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  drainTimeoutMs: number;
  leaseMs: number;
  maxPayloadBytes: number;
}

const VARIABLES = {
  transport: 'THRUN_CONFORMANCE_TRANSPORT',
  url: 'THRUN_CONFORMANCE_URL',
  queue: 'THRUN_CONFORMANCE_QUEUE',
  replyQueue: 'THRUN_CONFORMANCE_REPLY_QUEUE',
  group: 'THRUN_CONFORMANCE_GROUP',
  workerId: 'THRUN_CONFORMANCE_WORKER_ID',
  concurrency: 'THRUN_CONFORMANCE_CONCURRENCY',
  maxAttempts: 'THRUN_CONFORMANCE_MAX_ATTEMPTS',
  backoffMs: 'THRUN_CONFORMANCE_BACKOFF_MS',
  maxBackoffMs: 'THRUN_CONFORMANCE_MAX_BACKOFF_MS',
  drainTimeoutMs: 'THRUN_CONFORMANCE_DRAIN_TIMEOUT_MS',
  leaseMs: 'THRUN_CONFORMANCE_LEASE_MS',
  maxPayloadBytes: 'THRUN_CONFORMANCE_MAX_PAYLOAD_BYTES',
} as const satisfies Record<keyof WorkerSettings, string>;

/** The line a worker writes to stdout once it is subscribed. */
export const READY_LINE = 'thrun-conformance ready';

export function isTransportName(value: string): value is TransportName {
  return (TRANSPORT_NAMES as readonly string[]).includes(value);
}

/** The variables that describe `settings` to a worker process. */
export function workerEnvironment(settings: WorkerSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, variable] of Object.entries(VARIABLES)) {
    env[variable] = String(settings[key as keyof WorkerSettings]);
  }
  return env;
}

/** Reads the settings back in a worker; throws naming the first variable that is missing or wrong. */
export function readWorkerSettings(env: NodeJS.ProcessEnv): WorkerSettings {
  const text = (key: keyof WorkerSettings): string => {
    const value = env[VARIABLES[key]];
    if (value === undefined || value === '') throw new Error(`${VARIABLES[key]} is not set`);
    return value;
  };
  const integer = (key: keyof WorkerSettings): number => {
    const value = Number(text(key));
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error(`${VARIABLES[key]} must be a non-negative integer`);
    }
    return value;
  };
  const transport = text('transport');
  if (!isTransportName(transport)) {
    throw new Error(`${VARIABLES.transport} must be one of ${TRANSPORT_NAMES.join(', ')}`);
  }
  return {
    transport,
    url: text('url'),
    queue: text('queue'),
    replyQueue: text('replyQueue'),
    group: text('group'),
    workerId: text('workerId'),
    concurrency: integer('concurrency'),
    maxAttempts: integer('maxAttempts'),
    backoffMs: integer('backoffMs'),
    maxBackoffMs: integer('maxBackoffMs'),
    drainTimeoutMs: integer('drainTimeoutMs'),
    leaseMs: integer('leaseMs'),
    maxPayloadBytes: integer('maxPayloadBytes'),
  };
}
