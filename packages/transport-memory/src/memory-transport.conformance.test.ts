import { describeTransportConformance } from '@thrun/contract/conformance';
import { createMemoryBroker, type MemoryBroker } from './memory-broker.js';
import { memoryTransport } from './memory-transport.js';

// One broker per test, shared by every transport the kit creates in it: several "processes".
let broker: MemoryBroker = createMemoryBroker();

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
});
