import { type ConformanceReport, describeTransportConformance } from '@thrun/contract/conformance';
import { afterAll, expect, it } from 'vitest';
import { createMemoryBroker, type MemoryBroker } from './memory-broker.js';
import { memoryTransport } from './memory-transport.js';

// One broker per test, shared by every transport the kit creates in it: several "processes".
let broker: MemoryBroker = createMemoryBroker();
let report: ConformanceReport | undefined;

describeTransportConformance({
  name: 'memory',
  factory: () => memoryTransport({ broker }),
  // Nothing crosses a network: a short quiet period still catches a late or duplicate delivery.
  features: { quietPeriodMs: 100, deliveryTimeoutMs: 10_000 },
  hooks: {
    beforeEach: () => {
      broker = createMemoryBroker();
    },
  },
  onReport: (summary) => {
    report = summary;
  },
  additionalTests: ({ context }) => {
    it('memory: a group keeps receiving its copies while none of its members is connected', async () => {
      const ctx = context();
      const queue = ctx.queue('absent-group');
      const producer = await ctx.transport();
      const live = await ctx.collect(await ctx.transport(), queue, { group: 'live' });
      const absent = await ctx.collect(await ctx.transport(), queue, { group: 'absent' });
      await absent.subscription.close();
      await producer.publish(queue, [{ body: new TextEncoder().encode('kept for absent') }]);
      await live.waitForCount(1);
      const back = await ctx.collect(await ctx.transport(), queue, { group: 'absent' });
      await back.waitForCount(1);
      expect(back.received.map((entry) => entry.text)).toEqual(['kept for absent']);
    });
  },
});

afterAll(() => {
  // The memory transport claims every capability but persistence: everything else must have run.
  expect(report?.cases.filter((entry) => entry.outcome === 'skipped').map((entry) => entry.id)).toEqual([
    'persistence',
  ]);
  expect(report?.cases.filter((entry) => entry.outcome !== 'passed' && entry.outcome !== 'skipped')).toEqual(
    [],
  );
});
