/**
 * The conformance suite run against mutants of the memory broker, one `describe` per mutant, plus the
 * unmutated broker as a control. Not part of the normal test run: `conformance-mutation.test.ts`
 * runs this file in a child vitest and asserts which cases fail.
 *
 * Each mutant but `lost-ack` patches `GroupState.prototype.enqueue`, the single point every fresh
 * message passes through, and counts per group so that each case is hit the same way on every run.
 * `lost-ack` gives handlers an `ack()` that does nothing, so the message comes back once its lease
 * runs out, as an unacknowledged Redis Streams entry or SQS message would. `counts-settled` makes
 * inspection report every message a group ever received as waiting, as `XLEN` on an untrimmed stream
 * would.
 */
import type { Transport } from '@thrun/contract';
import { describeTransportConformance } from '@thrun/contract/conformance';
import { createMemoryBroker, GroupState, type MemoryBroker, type StoredMessage } from './memory-broker.js';
import { memoryTransport } from './memory-transport.js';

export type Mutation = 'none' | 'drop' | 'duplicate' | 'reorder' | 'lost-ack' | 'counts-settled';

/** How long a lost ack's message stays away: longer than the quiet period, so only a wait past it sees it. */
const leaseMs = 300;

let mutation: Mutation = 'none';
const published = new WeakMap<GroupState, number>();
const enqueue = GroupState.prototype.enqueue;

GroupState.prototype.enqueue = function (this: GroupState, message: StoredMessage, delayMs = 0): void {
  // Only fresh messages: retries and releases come back through here too.
  if (mutation === 'none' || message.deliveries > 0 || delayMs > 0) {
    enqueue.call(this, message, delayMs);
    return;
  }
  const count = (published.get(this) ?? 0) + 1;
  published.set(this, count);
  if (mutation === 'drop' && count === 5) return; // the fifth message of each group vanishes
  enqueue.call(this, message, delayMs);
  if (mutation === 'duplicate' && count === 5) enqueue.call(this, { ...message }, delayMs);
  if (mutation === 'reorder' && count % 7 === 0 && this.ready.length >= 2) {
    // Swap the newest waiting message with the one before it.
    const last = this.ready.length - 1;
    [this.ready[last - 1], this.ready[last]] = [this.ready[last]!, this.ready[last - 1]!];
  }
};

const counts = GroupState.prototype.counts;
GroupState.prototype.counts = function (this: GroupState) {
  const real = counts.call(this);
  return mutation === 'counts-settled' ? { ...real, ready: published.get(this) ?? 0 } : real;
};

/** The transport with an `ack()` that settles nothing: the message is handed out again after the lease. */
function losingAcks(transport: Transport): Transport {
  const wrapped: Transport = Object.create(transport);
  Object.defineProperty(wrapped, 'consume', {
    value: (...[queue, handler, options]: Parameters<Transport['consume']>) =>
      transport.consume(
        queue,
        (delivery) =>
          handler({
            body: delivery.body,
            queue: delivery.queue,
            attempt: delivery.attempt,
            ...(delivery.key === undefined ? {} : { key: delivery.key }),
            ack: () => delivery.retry(leaseMs),
            retry: (delayMs) => delivery.retry(delayMs),
            deadLetter: (reason) => delivery.deadLetter(reason),
          }),
        options,
      ),
  });
  return wrapped;
}

let broker: MemoryBroker = createMemoryBroker();

for (const name of ['none', 'drop', 'duplicate', 'reorder', 'lost-ack', 'counts-settled'] as const) {
  describeTransportConformance({
    name: `mutant:${name}`,
    // A small limit keeps the oversized and round-trip cases quick.
    factory: () => {
      const transport = memoryTransport({ broker, maxPayloadBytes: 64 * 1024 });
      return name === 'lost-ack' ? losingAcks(transport) : transport;
    },
    features: {
      quietPeriodMs: 50,
      redeliveryAfterMs: leaseMs,
      // In-process delivery takes milliseconds; a short timeout keeps the failing cases quick.
      deliveryTimeoutMs: 2_000,
      skip: {
        'delayed-retry': 'slow, and no mutant touches delays',
        'delayed-publish': 'slow, and no mutant touches delays',
        'inspect-delayed': 'slow, and no mutant touches delays',
      },
    },
    hooks: {
      beforeAll: () => {
        mutation = name;
      },
      beforeEach: () => {
        broker = createMemoryBroker();
      },
    },
  });
}
