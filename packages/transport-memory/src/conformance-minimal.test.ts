/**
 * The conformance suite adapts to what a transport claims: here the memory broker behind a transport
 * that claims almost nothing (no delay, groups sharing one copy, no order, no dead-letter queue, no
 * redelivery of a dead consumer's work, no peek or purge). The skipped cases must be exactly those
 * the capabilities exclude, and the adapted fan-out case must hold.
 */
import { TRANSPORT_SPECIFICATION_VERSION, type Transport, type TransportCapabilities } from '@thrun/contract';
import { type ConformanceReport, describeTransportConformance } from '@thrun/contract/conformance';
import { afterAll, expect } from 'vitest';
import { createMemoryBroker, type MemoryBroker } from './memory-broker.js';
import { memoryTransport } from './memory-transport.js';

const capabilities: TransportCapabilities = {
  delay: false,
  fanout: false,
  ordering: 'none',
  persistent: false,
  maxPayloadBytes: 256 * 1024,
  deadLetter: false,
  redeliversUnacked: false,
};

let broker: MemoryBroker = createMemoryBroker();
let report: ConformanceReport | undefined;

function minimalTransport(): Transport {
  const inner = memoryTransport({ broker, maxPayloadBytes: capabilities.maxPayloadBytes });
  return {
    specificationVersion: TRANSPORT_SPECIFICATION_VERSION,
    name: 'memory-minimal',
    capabilities,
    // Without `delay`, delays are ignored; without `fanout`, every group shares one copy.
    publish: (queue, messages, options) =>
      inner.publish(
        queue,
        messages.map(({ delayMs: _ignored, ...message }) => message),
        options,
      ),
    consume: (queue, handler, options) =>
      inner.consume(queue, (delivery) => handler({ ...delivery, retry: () => delivery.retry() }), {
        ...options,
        group: 'shared',
      }),
    close: (options) => inner.close(options),
  };
}

describeTransportConformance({
  name: 'memory, claiming little',
  factory: minimalTransport,
  features: { quietPeriodMs: 100, deliveryTimeoutMs: 10_000 },
  hooks: {
    beforeEach: () => {
      broker = createMemoryBroker();
    },
  },
  onReport: (summary) => {
    report = summary;
  },
});

afterAll(() => {
  const skipped = report?.cases.filter((entry) => entry.outcome === 'skipped').map((entry) => entry.id);
  expect(skipped).toEqual([
    'delayed-retry',
    'delayed-publish',
    'dead-letter',
    'dead-letter-fits',
    'fifo-order',
    'per-key-order',
    'persistence',
    'dead-consumer',
    'peek',
    'purge',
    'inspect-waiting',
    'inspect-dead',
    'inspect-delayed',
    'observer-group',
  ]);
  expect(report?.cases.filter((entry) => entry.outcome === 'failed')).toEqual([]);
  expect(report?.cases.find((entry) => entry.id === 'fanout')?.title).toMatch(/groups share one copy/);
  expect(report?.cases.find((entry) => entry.id === 'round-trip')?.title).toMatch(
    /over maxPayloadBytes left out/,
  );
});
