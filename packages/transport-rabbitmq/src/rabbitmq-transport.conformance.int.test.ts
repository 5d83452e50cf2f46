import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isEventName, type Transport } from '@thrun/contract';
import { type ConformanceReport, describeTransportConformance } from '@thrun/contract/conformance';
import { afterAll, expect } from 'vitest';
import { rabbitmqTransport } from './rabbitmq-transport.js';
import { amqpUrl, deleteTopology, rawConnection } from './test-helpers.js';

const brokerScript = fileURLToPath(new URL('../../../scripts/brokers/rabbitmq.sh', import.meta.url));

/** Queues and groups the suite used, only so they can be deleted afterwards. */
const used = new Map<string, Set<string>>();

function recording(transport: Transport): Transport {
  const { publish, consume } = transport;
  const remember = (queue: string, group?: string) => {
    // The invalid-queue case passes names the broker must never see.
    if (!isEventName(queue)) return;
    const groups = used.get(queue) ?? new Set<string>();
    if (group !== undefined) groups.add(group);
    used.set(queue, groups);
  };
  transport.publish = (queue, ...rest) => {
    remember(queue);
    return publish(queue, ...rest);
  };
  transport.consume = (queue, handler, options) => {
    remember(queue, options?.group ?? 'default');
    return consume(queue, handler, options);
  };
  return transport;
}

const reports = new Map<string, ConformanceReport>();

const restartBroker = async () => {
  await promisify(execFile)('bash', [brokerScript, 'restart'], { env: process.env, timeout: 120_000 });
};

const features = {
  // The broker hands a dead consumer's messages out as soon as its connection closes.
  redeliveryAfterMs: 0,
  deliveryTimeoutMs: 20_000,
  restartBroker,
};

const hooks = {
  beforeAll: async () => {
    await (await rawConnection()).close(); // fails early, saying how to start the broker
  },
  afterAll: async () => {
    const connection = await rawConnection();
    const pending = [...used];
    used.clear();
    // A few at a time: deleting a quorum queue takes the broker a moment.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let next = pending.pop(); next; next = pending.pop()) {
          const [queue, groups] = next;
          const named = [...groups]
            .filter((group) => group !== 'default')
            .map((group) => `${queue}:${group}`);
          await deleteTopology(connection, queue, named);
        }
      }),
    );
    await connection.close();
  },
};

describeTransportConformance({
  name: 'rabbitmq (quorum queues)',
  factory: () => recording(rabbitmqTransport({ url: amqpUrl, connectTimeoutMs: 30_000 })),
  features: {
    ...features,
    skip: {
      // The case peeks at an ordinary queue; the classic run below covers peek.
      peek: 'peek needs a classic queue (quorum queues move returned messages behind the others); dead-letter queues are always classic',
    },
  },
  onReport: (report) => reports.set('quorum', report),
  hooks,
});

describeTransportConformance({
  name: 'rabbitmq (classic queues)',
  factory: () =>
    recording(rabbitmqTransport({ url: amqpUrl, connectTimeoutMs: 30_000, queueType: 'classic' })),
  features: { ...features, queuePrefix: 'conformance-classic' },
  onReport: (report) => reports.set('classic', report),
  hooks,
});

afterAll(() => {
  // Only the one documented skip: a capability regression must fail here, not turn into a skip.
  const skipped = (run: string) =>
    reports
      .get(run)
      ?.cases.filter((entry) => entry.outcome === 'skipped')
      .map((entry) => entry.id);
  expect({ quorum: skipped('quorum'), classic: skipped('classic') }).toEqual({
    quorum: ['peek'],
    classic: [],
  });
});
