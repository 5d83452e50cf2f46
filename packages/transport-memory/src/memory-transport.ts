import {
  assertPayloadsFit,
  assertQueueName,
  type CloseOptions,
  ConfigurationError,
  type ConsumeOptions,
  createDeadLetterMetadata,
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  deadLetterHeaders,
  deadLetterQueueName,
  type OutgoingMessage,
  type QueuedMessage,
  type Subscription,
  TRANSPORT_SPECIFICATION_VERSION,
  type Transport,
  type TransportCapabilities,
  transportClosedError,
} from '@thrun/contract';
import {
  createMemoryBroker,
  type GroupMember,
  type GroupState,
  type MemoryBroker,
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

/**
 * The embedded transport: in-process queues with consumer groups, FIFO order, delays, retries and
 * dead-lettering. It claims every capability except persistence: messages live in this process only.
 */
export function memoryTransport(options: MemoryTransportOptions = {}): Transport {
  const broker = options.broker ?? createMemoryBroker();
  const maxPayloadBytes = positiveInteger(
    'maxPayloadBytes',
    options.maxPayloadBytes,
    DEFAULT_MAX_PAYLOAD_BYTES,
  );
  const defaultDrainTimeoutMs = nonNegative(
    'drainTimeoutMs',
    options.drainTimeoutMs,
    DEFAULT_DRAIN_TIMEOUT_MS,
  );
  const consumers = new Set<MemoryConsumer>();
  let closing: Promise<void> | undefined;

  const capabilities: TransportCapabilities = Object.freeze({
    delay: true,
    fanout: true,
    ordering: 'fifo',
    persistent: false,
    maxPayloadBytes,
    deadLetter: true,
    redeliversUnacked: true,
  });

  function assertOpen(): void {
    if (closing) throw transportClosedError('memory');
  }

  function deadLetter(queue: string, message: StoredMessage, reason: DeadLetterReason): void {
    // The headers form: the original bytes as the body, the description beside them.
    const metadata = createDeadLetterMetadata({ queue, reason, attempts: message.deliveries });
    broker.queue(deadLetterQueueName(queue)).publish(
      {
        body: message.body,
        key: message.key,
        headers: Object.freeze(deadLetterHeaders(metadata)),
        deliveries: 0,
      },
      0,
    );
  }

  return {
    specificationVersion: TRANSPORT_SPECIFICATION_VERSION,
    name: 'memory',
    capabilities,

    async publish(queue: string, messages: readonly OutgoingMessage[]): Promise<void> {
      assertOpen();
      assertQueueName(queue);
      assertPayloadsFit('memory', messages, maxPayloadBytes);
      const state = broker.queue(queue);
      for (const message of messages) {
        // Copy: the caller may reuse its buffer, and consumers must see the bytes as published.
        state.publish({ body: message.body.slice(), key: message.key, deliveries: 0 }, message.delayMs ?? 0);
      }
    },

    async consume(
      queue: string,
      handler: DeliveryHandler,
      consumeOptions: ConsumeOptions = {},
    ): Promise<Subscription> {
      assertOpen();
      assertQueueName(queue);
      const concurrency = positiveInteger('concurrency', consumeOptions.concurrency, 1);
      const group = broker.queue(queue).group(consumeOptions.group ?? 'default');
      const consumer = new MemoryConsumer(queue, group, handler, concurrency, deadLetter);
      consumers.add(consumer);
      const signal = consumeOptions.signal;
      const onAbort = () => void close();
      const close = () => {
        signal?.removeEventListener('abort', onAbort);
        return consumer.close(defaultDrainTimeoutMs).finally(() => consumers.delete(consumer));
      };
      if (signal?.aborted) {
        await close();
      } else {
        signal?.addEventListener('abort', onAbort, { once: true });
        group.attach(consumer);
      }
      return { close };
    },

    close(closeOptions: CloseOptions = {}): Promise<void> {
      closing ??= (async () => {
        const drainTimeoutMs = closeOptions.drainTimeoutMs ?? defaultDrainTimeoutMs;
        await Promise.all([...consumers].map((consumer) => consumer.close(drainTimeoutMs)));
        consumers.clear();
      })();
      return closing;
    },

    async peek(queue: string, limit: number): Promise<QueuedMessage[]> {
      assertQueueName(queue);
      return (
        broker
          .queue(queue)
          .inspected()
          .ready.slice(0, limit)
          // Copies: what a caller does with a peeked body must not change the queued message.
          .map((message) => ({
            body: message.body.slice(),
            ...(message.key === undefined ? {} : { key: message.key }),
            ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
          }))
      );
    },

    async purge(queue: string): Promise<number> {
      assertQueueName(queue);
      return broker.queue(queue).purge();
    },
  };
}

type Settlement = 'pending' | 'settled' | 'released';

class MemoryConsumer implements GroupMember {
  private readonly inFlight = new Map<StoredMessage, { settlement: Settlement; done: Promise<void> }>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly queue: string,
    private readonly group: GroupState,
    private readonly handler: DeliveryHandler,
    private readonly concurrency: number,
    private readonly deadLetter: (queue: string, message: StoredMessage, reason: DeadLetterReason) => void,
  ) {}

  hasCapacity(): boolean {
    return !this.closing && this.inFlight.size < this.concurrency;
  }

  deliver(message: StoredMessage): void {
    message.deliveries += 1;
    const entry = { settlement: 'pending' as Settlement, done: Promise.resolve() };
    this.inFlight.set(message, entry);

    const settle = (action: () => void) => async (): Promise<void> => {
      if (entry.settlement !== 'pending') return; // settled twice, or released after the drain deadline
      entry.settlement = 'settled';
      this.inFlight.delete(message);
      action();
      this.group.pump();
    };
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

    // Handlers run on a later tick so one delivery never runs inside another's stack.
    entry.done = Promise.resolve()
      .then(() => this.handler(delivery))
      .then(
        () => retry(0), // no-op when the handler settled; otherwise the contract says: retry now
        () => retry(0),
      );
  }

  close(drainTimeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.group.detach(this);
      const drained = Promise.all([...this.inFlight.values()].map((entry) => entry.done));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainTimeoutMs);
      });
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
      // Whatever is still unsettled goes back to the group, as a dead consumer's lease would.
      const released: StoredMessage[] = [];
      for (const [message, entry] of this.inFlight) {
        entry.settlement = 'released';
        released.push(message);
      }
      this.inFlight.clear();
      this.group.requeueFirst(released);
    })();
    return this.closing;
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:memory] ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:memory] ${name} must be a number ≥ 0, got ${value}`,
    );
  }
  return value;
}
