import {
  type CodecLimits,
  ConfigurationError,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DEPTH,
  TRANSPORT_SPECIFICATION_VERSION,
  type Transport,
} from '@thrun/contract';
import { memoryTransport } from '@thrun/transport-memory';
import type { ThrunHooks } from './hooks.js';
import { defaultLogger, type ThrunLogger } from './logger.js';
import type { BatchesOptions, ThrunOptions, UnknownEventPolicy } from './options.js';
import { Router } from './routing.js';
import type { ResolvedRetry } from './worker.js';

/** `ThrunOptions` checked, with every default filled in. */
export interface ResolvedOptions {
  readonly transport: Transport;
  readonly source: string;
  readonly logger: ThrunLogger;
  readonly hooks: ThrunHooks;
  readonly router: Router;
  readonly group: string;
  readonly retry: ResolvedRetry;
  readonly concurrency: number;
  readonly unknownEvents: UnknownEventPolicy;
  readonly codecLimits: Required<CodecLimits>;
  readonly validateInProcess: boolean;
  readonly drainTimeoutMs: number;
  readonly handleSignals: NodeJS.Signals[];
  readonly batches: BatchesOptions | undefined;
}

/** Throws a `ConfigurationError` for the first option out of range, before anything is started. */
export function resolveOptions(options: ThrunOptions): ResolvedOptions {
  const transport = options.transport ?? memoryTransport();
  if (transport.specificationVersion !== TRANSPORT_SPECIFICATION_VERSION) {
    throw new ConfigurationError(
      'unsupported_transport_version',
      `[thrun:core] transport ${String(transport.name)} implements specification ${JSON.stringify(
        transport.specificationVersion,
      )}; this version of @thrun/core supports ${JSON.stringify(TRANSPORT_SPECIFICATION_VERSION)}`,
    );
  }
  const source = options.source ?? 'node';
  if (typeof source !== 'string' || source.length === 0) {
    throw new ConfigurationError('invalid_option', '[thrun:core] source must be a non-empty string');
  }
  const unknownEvents = options.unknownEvents ?? 'dead-letter';
  if (!['dead-letter', 'drop', 'leave'].includes(unknownEvents)) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:core] unknownEvents must be dead-letter, drop or leave`,
    );
  }
  return {
    transport,
    source,
    logger: options.logger ?? defaultLogger,
    hooks: options.hooks ?? {},
    router: new Router(options.queue ?? 'events', options.routes),
    group: options.group ?? 'default',
    retry: {
      maxAttempts: positive('retry.maxAttempts', options.retry?.maxAttempts ?? 5),
      baseMs: nonNegative('retry.backoffMs', options.retry?.backoffMs ?? 1_000),
      maxMs: nonNegative('retry.maxBackoffMs', options.retry?.maxBackoffMs ?? 60_000),
      jitter: options.retry?.jitter === false ? 'none' : 'full',
    },
    concurrency: positive('concurrency', options.concurrency ?? 10),
    unknownEvents,
    codecLimits: {
      maxBytes: positive('limits.maxPayloadBytes', options.limits?.maxPayloadBytes ?? DEFAULT_MAX_BYTES),
      maxDepth: positive('limits.maxDepth', options.limits?.maxDepth ?? DEFAULT_MAX_DEPTH),
    },
    validateInProcess: options.validateInProcess ?? true,
    drainTimeoutMs: nonNegative('drainTimeoutMs', options.drainTimeoutMs ?? 10_000),
    handleSignals:
      options.handleSignals === true
        ? ['SIGTERM', 'SIGINT']
        : options.handleSignals === false || options.handleSignals === undefined
          ? []
          : [...options.handleSignals],
    batches: options.batches,
  };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 1) {
    throw new ConfigurationError('invalid_option', `[thrun:core] ${name} must be a number ≥ 1, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigurationError('invalid_option', `[thrun:core] ${name} must be a number ≥ 0, got ${value}`);
  }
  return value;
}
