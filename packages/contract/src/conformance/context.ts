import { sleep } from '../backoff.js';
import type {
  ConsumeOptions,
  Delivery,
  Subscription,
  Transport,
  TransportCapabilities,
} from '../transport.js';

/**
 * Facts about a transport that its capabilities do not say but the tests need, the way Watermill's
 * `Features` does. Every field has a default that suits a broker on a busy CI machine.
 */
export interface TransportConformanceFeatures {
  /**
   * How long a delivery left unsettled by a dead consumer stays invisible before the broker hands it
   * out again (lease, visibility timeout, session timeout). The dead-consumer case waits this long
   * on top of `deliveryTimeoutMs`. Default: 0.
   */
  redeliveryAfterMs?: number;
  /** How long to watch for a message that must not arrive. Default: 1,000. */
  quietPeriodMs?: number;
  /** Longest wait for a message that must arrive. Default: 15,000. */
  deliveryTimeoutMs?: number;
  /**
   * Restarts the broker process between publishing and consuming in the persistence case (which then
   * gets 3 more minutes), like Watermill's `RestartServiceCommand`.
   */
  restartBroker?: () => Promise<void>;
  /** Cases this transport cannot run for a reason its capabilities do not capture, with that reason. */
  skip?: Partial<Record<ConformanceCaseId, string>>;
  /** First segment of every queue the kit creates. Default: `conformance`. */
  queuePrefix?: string;
}

export type ResolvedFeatures = Required<Omit<TransportConformanceFeatures, 'restartBroker' | 'skip'>> &
  Pick<TransportConformanceFeatures, 'restartBroker'> & {
    skip: Partial<Record<ConformanceCaseId, string>>;
  };

export function resolveFeatures(features: TransportConformanceFeatures = {}): ResolvedFeatures {
  return {
    redeliveryAfterMs: features.redeliveryAfterMs ?? 0,
    quietPeriodMs: features.quietPeriodMs ?? 1_000,
    deliveryTimeoutMs: features.deliveryTimeoutMs ?? 15_000,
    queuePrefix: features.queuePrefix ?? 'conformance',
    skip: features.skip ?? {},
    ...(features.restartBroker ? { restartBroker: features.restartBroker } : {}),
  };
}

export type ConformanceCaseId =
  | 'contract'
  | 'round-trip'
  | 'concurrent-publishers'
  | 'ack-removes'
  | 'retry-attempt'
  | 'delayed-retry'
  | 'delayed-publish'
  | 'dead-letter'
  | 'dead-letter-fits'
  | 'competing-consumers'
  | 'fanout'
  | 'isolation'
  | 'invalid-queue'
  | 'resubscribe'
  | 'fifo-order'
  | 'per-key-order'
  | 'persistence'
  | 'oversized'
  | 'close-idempotent'
  | 'close-drains'
  | 'close-unblocks'
  | 'abort-signal'
  | 'handler-throws'
  | 'dead-consumer'
  | 'concurrency'
  | 'peek'
  | 'purge'
  | 'inspect-waiting'
  | 'inspect-dead'
  | 'inspect-delayed'
  | 'observer-group';

/** One delivery as a test saw it. */
export interface Received {
  readonly body: Uint8Array;
  readonly text: string;
  readonly attempt: number;
  readonly queue: string;
  readonly key: string | undefined;
  readonly at: number;
  readonly delivery: Delivery;
}

/** A consumer that records what it receives. */
export interface Collector {
  readonly received: Received[];
  readonly subscription: Subscription;
  /** Resolves once at least `count` deliveries arrived; fails the test after the delivery timeout. */
  waitForCount(count: number, what?: string, timeoutMs?: number): Promise<void>;
}

export interface CollectOptions extends ConsumeOptions {
  /**
   * Settles each delivery; the default acks. Runs after the delivery is recorded. Whatever it
   * throws reaches the transport (the handler-throws case relies on that).
   */
  onDelivery?: (received: Received, delivery: Delivery) => void | Promise<void>;
}

/** What each conformance case gets: fresh transports, unique queues and polling helpers. */
export interface ConformanceContext {
  readonly capabilities: TransportCapabilities;
  readonly features: ResolvedFeatures;
  /** A new transport on the same broker, as another process would have; closed after the test. */
  transport(): Promise<Transport>;
  /** A queue name no other test uses. */
  queue(label?: string): string;
  /** Starts a recording consumer. */
  collect(transport: Transport, queue: string, options?: CollectOptions): Promise<Collector>;
  /** Polls `condition` until it holds; fails with `what` after `timeoutMs` (default: the delivery timeout). */
  waitFor(condition: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Waits the quiet period, for assertions that something does not happen. */
  quiet(ms?: number): Promise<void>;
  sleep(ms: number): Promise<void>;
}

const lenientUtf8 = new TextDecoder('utf-8');

let runCounter = 0;

export function createContext(
  capabilities: TransportCapabilities,
  features: ResolvedFeatures,
  factory: () => Transport | Promise<Transport>,
  opened: Transport[],
  caseId: string,
): ConformanceContext {
  // A random run id keeps queues unique across runs on a persistent broker; the counter within one.
  const run = Math.random().toString(36).slice(2, 10);
  let queues = 0;

  const waitFor = async (condition: () => boolean, what: string, timeoutMs = features.deliveryTimeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    let pause = 2;
    while (!condition()) {
      if (Date.now() > deadline)
        throw new Error(`[thrun:conformance] timed out after ${timeoutMs} ms: ${what}`);
      await sleep(pause);
      pause = Math.min(pause * 2, 25);
    }
  };

  return {
    capabilities,
    features,
    async transport() {
      const transport = await factory();
      opened.push(transport);
      return transport;
    },
    queue(label = caseId) {
      queues += 1;
      runCounter += 1;
      return `${features.queuePrefix}.${run}${runCounter}.${label}.${queues}`;
    },
    async collect(transport, queue, options = {}) {
      const { onDelivery, ...consumeOptions } = options;
      const received: Received[] = [];
      const subscription = await transport.consume(
        queue,
        async (delivery) => {
          const entry: Received = {
            body: delivery.body.slice(),
            text: lenientUtf8.decode(delivery.body),
            attempt: delivery.attempt,
            queue: delivery.queue,
            key: delivery.key,
            at: Date.now(),
            delivery,
          };
          received.push(entry);
          if (onDelivery) await onDelivery(entry, delivery);
          else await delivery.ack();
        },
        consumeOptions,
      );
      return {
        received,
        subscription,
        waitForCount: (count, what = `${count} deliveries on ${queue}`, timeoutMs) =>
          waitFor(
            () => received.length >= count,
            `${what} (got ${received.length})`,
            timeoutMs ?? features.deliveryTimeoutMs,
          ),
      };
    },
    waitFor,
    quiet: (ms = features.quietPeriodMs) => sleep(ms),
    sleep,
  };
}
