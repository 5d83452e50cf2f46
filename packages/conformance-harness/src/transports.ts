import type { Transport } from '@thrun/contract';
import { kafkaTransport } from '@thrun/transport-kafka';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { redisTransport } from '@thrun/transport-redis';
import type { TransportName } from './worker-env.js';

export interface TransportTuning {
  /** How soon a dead consumer's unsettled delivery comes back: Redis visibility, Kafka session timeout. */
  leaseMs?: number;
  drainTimeoutMs?: number;
}

/** One TypeScript transport by its conformance name, for the harness and the reference worker alike. */
export function createTransport(name: TransportName, url: string, tuning: TransportTuning = {}): Transport {
  const drain = tuning.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: tuning.drainTimeoutMs };
  switch (name) {
    case 'redis':
    case 'redis-streams':
      return redisTransport({
        url,
        mode: name === 'redis' ? 'list' : 'stream',
        ...(tuning.leaseMs === undefined ? {} : { visibilityTimeoutMs: tuning.leaseMs }),
        ...drain,
      });
    case 'rabbitmq':
      return rabbitmqTransport({ url, ...drain });
    case 'kafka':
      return kafkaTransport({
        brokers: url.split(','),
        ...(tuning.leaseMs === undefined
          ? {}
          : { sessionTimeoutMs: tuning.leaseMs, heartbeatIntervalMs: Math.floor(tuning.leaseMs / 6) }),
        ...drain,
      });
  }
}

/** Where the repository's broker scripts put each broker, unless the environment says otherwise. */
export function defaultBrokerUrl(name: TransportName, env: NodeJS.ProcessEnv = process.env): string {
  switch (name) {
    case 'redis':
    case 'redis-streams':
      return env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390';
    case 'rabbitmq':
      return env.THRUN_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5682';
    case 'kafka':
      return env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9192';
  }
}
