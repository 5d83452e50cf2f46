import { type ConformanceReport, describeTransportConformance } from '@thrun/contract/conformance';
import { afterAll, beforeAll, expect } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokerScript, brokers } from './testing/broker.js';

/** Restarts the broker through the repository's script (SIGTERM, so data and offsets survive). */
async function restartBroker(): Promise<void> {
  const code = await brokerScript('restart');
  if (code !== 0) {
    throw new Error(`scripts/brokers/kafka.sh restart exited with ${code}: is the broker the script's own?`);
  }
}

let report: ConformanceReport | undefined;

beforeAll(assertBrokerReachable);

describeTransportConformance({
  name: 'kafka',
  factory: () =>
    kafkaTransport({
      brokers,
      partitions: 3,
      // The broker's minimum: a member that vanished without leaving is replaced as soon as allowed.
      sessionTimeoutMs: 6_000,
    }),
  features: {
    // `close()` hands unsettled deliveries back at once; only a crashed process waits for its session.
    redeliveryAfterMs: 0,
    restartBroker,
  },
  onReport: (summary) => {
    report = summary;
  },
});

afterAll(() => {
  // Kafka orders per partition, so 'fifo' is the one claim it does not make; every other case runs.
  expect(report?.cases.filter((entry) => entry.outcome === 'skipped').map((entry) => entry.id)).toEqual([
    'fifo-order',
  ]);
});
