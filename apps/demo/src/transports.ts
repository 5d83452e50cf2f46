import type { Transport } from '@thrun/contract';

/**
 * The transports the demo can run on: each entry names its adapter package, imported only when chosen,
 * so the demo runs with just the adapters that are installed.
 */
interface TransportEntry {
  adapter: string;
  create(adapter: Record<string, unknown>): Transport | Promise<Transport>;
}

type Factory = (options?: Record<string, unknown>) => Transport | Promise<Transport>;

export const transports: Record<string, TransportEntry> = {
  memory: {
    adapter: '@thrun/transport-memory',
    create: (adapter) => factory(adapter, 'memoryTransport')(),
  },
  // Brokers started by scripts/brokers/<name>.sh, on the ports they print.
  redis: {
    adapter: '@thrun/transport-redis',
    create: (adapter) =>
      factory(adapter, 'redisTransport')({ url: process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390' }),
  },
  rabbitmq: {
    adapter: '@thrun/transport-rabbitmq',
    create: (adapter) =>
      factory(
        adapter,
        'rabbitmqTransport',
      )({ url: process.env.THRUN_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5682' }),
  },
  kafka: {
    adapter: '@thrun/transport-kafka',
    create: (adapter) =>
      factory(
        adapter,
        'kafkaTransport',
      )({ brokers: (process.env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9192').split(',') }),
  },
};

function factory(adapter: Record<string, unknown>, name: string): Factory {
  const value = adapter[name];
  if (typeof value !== 'function') throw new AdapterMissingError(`the adapter exports no ${name}()`);
  return value as Factory;
}

export class AdapterMissingError extends Error {}

export async function loadTransport(name: string): Promise<Transport> {
  const entry = Object.hasOwn(transports, name) ? transports[name] : undefined;
  if (!entry) {
    throw new AdapterMissingError(
      `unknown transport "${name}"; choose one of: ${Object.keys(transports).join(', ')}, or add an adapter to apps/demo/src/transports.ts`,
    );
  }
  let adapter: Record<string, unknown>;
  try {
    adapter = (await import(entry.adapter)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new AdapterMissingError(
        `the ${entry.adapter} adapter is not installed in apps/demo (add it to apps/demo/package.json, then build again)`,
      );
    }
    throw error;
  }
  return entry.create(adapter);
}
