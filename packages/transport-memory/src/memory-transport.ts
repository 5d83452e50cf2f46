import {
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  deadLetterQueueName,
  type QueuedMessage,
  type QueueStats,
  type Transport,
  type TransportCapabilities,
} from '@thrun/contract';
import {
  deadLetterCopy,
  defineTransport,
  drainWithin,
  optionChecks,
  runDelivery,
  Settlement,
} from '@thrun/contract/transport-kit';
import {
  createMemoryBroker,
  type GroupMember,
  type GroupState,
  type MemoryBroker,
  QueueState,
  type StoredMessage,
} from './memory-broker.js';

export interface MemoryTransportOptions {
  /** Share one broker between transports to model several processes. Default: a private broker. */
  broker?: MemoryBroker;
  /** Largest body accepted by `publish`. Default: 8 MiB. */
  maxPayloadBytes?: number;
  /** Default for `close()`. Default: 10,000. */
  drainTimeoutMs?: number;
}

const DEFAULT_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
const check = optionChecks('memory');

/**
 * The embedded transport: in-process queues with consumer groups, FIFO order, delays, retries and
 * dead-lettering. It claims every capability except persistence: messages live in this process only.
 */
export function memoryTransport(options: MemoryTransportOptions = {}): Transport {
  const broker = options.broker ?? createMemoryBroker();
  const maxPayloadBytes = check.positiveInteger(
    'maxPayloadBytes',
    options.maxPayloadBytes,
    DEFAULT_MAX_PAYLOAD_BYTES,
  );

  const capabilities: TransportCapabilities = Object.freeze({
    delay: true,
    fanout: true,
    ordering: 'fifo',
    persistent: false,
    maxPayloadBytes,
    deadLetter: true,
    redeliversUnacked: true,
    inspect: true,
  });

  function deadLetter(queue: string, message: StoredMessage, reason: DeadLetterReason): void {
    // The headers form: the original bytes as the body, the description beside them.
    const dead = deadLetterCopy(queue, reason, message.deliveries);
    broker.queue(dead.queue).publish(
      {
        body: message.body,
        key: message.key,
        headers: Object.freeze(dead.headers),
        deliveries: 0,
      },
      0,
    );
  }

  return defineTransport({
    name: 'memory',
    capabilities,
    drainTimeoutMs: check.nonNegativeNumber(
      'drainTimeoutMs',
      options.drainTimeoutMs,
      DEFAULT_DRAIN_TIMEOUT_MS,
    ),

    async publish(queue, messages) {
      const state = broker.queue(queue);
      for (const message of messages) {
        // Copy: the caller may reuse its buffer, and consumers must see the bytes as published.
        state.publish({ body: message.body.slice(), key: message.key, deliveries: 0 }, message.delayMs ?? 0);
      }
    },

    async consume(queue, handler, { group, concurrency, from }) {
      const state = broker.queue(queue).group(group, from === 'now');
      const consumer = new MemoryConsumer(queue, state, handler, concurrency, deadLetter);
      state.attach(consumer);
      return consumer;
    },

    async peek(queue, limit) {
      return (
        broker
          .queue(queue)
          .inspected()
          .ready.slice(0, limit)
          // Copies: what a caller does with a peeked body must not change the queued message.
          .map(
            (message): QueuedMessage => ({
              body: message.body.slice(),
              ...(message.key === undefined ? {} : { key: message.key }),
              ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
            }),
          )
      );
    },

    async purge(queue) {
      return broker.queue(queue).purge();
    },

    async removeGroup(queue, group) {
      broker.existing(queue)?.removeGroup(group);
    },

    async inspect({ queues }) {
      const names = new Set([...broker.queueNames(), ...queues]);
      return [...names].flatMap((queue): QueueStats[] => {
        const state = broker.existing(queue) ?? new QueueState();
        const dead = broker.existing(deadLetterQueueName(queue))?.inspected().counts();
        const deadCount = dead ? dead.ready + dead.delayed + dead.inFlight : 0;
        const groups = state.groups.size > 0 ? [...state.groups] : [[undefined, state.inspected()] as const];
        return groups.map(([group, groupState]) => {
          const { ready, delayed, inFlight, consumers } = groupState.counts();
          return {
            queue,
            ...(group === undefined ? {} : { group }),
            waiting: ready,
            inFlight,
            delayed,
            dead: deadCount,
            consumers,
          };
        });
      });
    },
  });
}

class MemoryConsumer implements GroupMember {
  private readonly deliveries = new Map<StoredMessage, { settlement: Settlement; done: Promise<unknown> }>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly queue: string,
    private readonly group: GroupState,
    private readonly handler: DeliveryHandler,
    private readonly concurrency: number,
    private readonly deadLetter: (queue: string, message: StoredMessage, reason: DeadLetterReason) => void,
  ) {}

  hasCapacity(): boolean {
    return !this.closing && this.deliveries.size < this.concurrency;
  }

  get inFlight(): number {
    return this.deliveries.size;
  }

  deliver(message: StoredMessage): void {
    message.deliveries += 1;
    const settlement = new Settlement();
    const entry = { settlement, done: Promise.resolve() as Promise<unknown> };
    this.deliveries.set(message, entry);

    const settle = (action: () => void) => () =>
      settlement.settle(() => {
        this.deliveries.delete(message);
        action();
        this.group.pump();
      });
    const retry = (delayMs = 0) => settle(() => this.group.enqueue(message, delayMs))();

    const delivery: Delivery = {
      // A copy per delivery: a handler that writes into its bytes cannot change a redelivery or
      // another group's copy, as with a real broker.
      body: message.body.slice(),
      queue: this.queue,
      attempt: message.deliveries,
      ...(message.key === undefined ? {} : { key: message.key }),
      ...(message.headers === undefined ? {} : { headers: message.headers }),
      ack: settle(() => {}),
      retry,
      deadLetter: (reason) => settle(() => this.deadLetter(this.queue, message, reason))(),
    };
    // Nothing here can refuse a settlement, so every run ends settled or released.
    entry.done = runDelivery(this.handler, delivery, settlement, () => retry(0));
  }

  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.group.detach(this);
      await drainWithin(
        [...this.deliveries.values()].map((entry) => entry.done),
        drainTimeoutMs,
      );
      // Whatever is still unsettled goes back to the group, as a dead consumer's lease would.
      const released = [...this.deliveries].flatMap(([message, entry]) =>
        entry.settlement.release() ? [message] : [],
      );
      this.deliveries.clear();
      this.group.requeueFirst(released);
    })();
    return this.closing;
  }
}
