import { TransportError } from '../errors.js';
import { assertQueueName, deadLetterQueueName } from '../event-name.js';
import {
  type CloseOptions,
  type ConsumeOptions,
  type DeliveryHandler,
  type InspectOptions,
  type OutgoingMessage,
  type PublishOptions,
  type QueuedMessage,
  type QueueStats,
  type Subscription,
  TRANSPORT_SPECIFICATION_VERSION,
  type Transport,
  type TransportCapabilities,
} from '../transport.js';
import { assertPayloadsFit, transportClosedError } from './checks.js';
import { optionChecks } from './options.js';

const DEAD_SUFFIX = deadLetterQueueName('');

/** What a transport's consumer gives the kit: a close that drains, then releases what is left. */
export interface DrainingConsumer {
  close(drainTimeoutMs: number): Promise<void>;
}

/** `consume` options once checked: the group and concurrency are always set. */
export interface CheckedConsumeOptions extends ConsumeOptions {
  group: string;
  concurrency: number;
}

/**
 * What an adapter implements. Every call reaches it checked the same way in every transport: the
 * transport is open, the queue name is valid, every body fits `capabilities.maxPayloadBytes`, an
 * empty publish or one whose signal has aborted already never reaches it, and `concurrency` is a
 * positive integer.
 */
export interface TransportDefinition {
  name: string;
  capabilities: TransportCapabilities;
  /** Default for `close()` and for closing a subscription. */
  drainTimeoutMs: number;
  /** Validates the queue name where the broker has rules of its own (default: `assertQueueName`). */
  assertQueue?(queue: string): void;
  publish(queue: string, messages: readonly OutgoingMessage[], options: PublishOptions): Promise<void>;
  /** Starts a consumer; the kit keeps it, closes it on `close()` and when the signal aborts. */
  consume(queue: string, handler: DeliveryHandler, options: CheckedConsumeOptions): Promise<DrainingConsumer>;
  /** Called once when `close()` starts, before the consumers drain (to stop reporting errors, say). */
  closing?(): void;
  /** The adapter's own shutdown (publishers, connections), after every consumer drained. */
  shutdown?(drainTimeoutMs: number): Promise<void>;
  peek?(queue: string, limit: number): Promise<QueuedMessage[]>;
  purge?(queue: string): Promise<number>;
  removeGroup?(queue: string, group: string): Promise<void>;
  /** Receives `options.queues` checked, deduplicated, without dead-letter queues; `groups` deduplicated. */
  inspect?(options: { queues: readonly string[]; groups: readonly string[] }): Promise<QueueStats[]>;
}

/**
 * Builds a `Transport` from a definition: the checks above, refusing work after `close()`, the live
 * consumers, subscriptions that an abort signal closes, and one `close()` that drains every
 * consumer (which releases what is left), then runs `shutdown` with the same timeout.
 */
export function defineTransport(definition: TransportDefinition): Transport {
  const { name, capabilities } = definition;
  const check = optionChecks(name);
  const assertQueue = definition.assertQueue ?? assertQueueName;
  /** Each live consumer's close, memoised: a consumer closing already is waited for, not closed twice. */
  const consumers = new Set<(drainTimeoutMs: number) => Promise<void>>();
  let closing: Promise<void> | undefined;

  const admit = (queue: string) => {
    if (closing) throw transportClosedError(name);
    assertQueue(queue);
  };

  const subscribe = (consumer: DrainingConsumer, signal: AbortSignal | undefined): Subscription => {
    let closed: Promise<void> | undefined;
    const closeWithin = (drainTimeoutMs: number) => {
      signal?.removeEventListener('abort', onAbort);
      closed ??= consumer.close(drainTimeoutMs).finally(() => consumers.delete(closeWithin));
      return closed;
    };
    const onAbort = () => void closeWithin(definition.drainTimeoutMs);
    consumers.add(closeWithin);
    if (signal?.aborted) void closeWithin(definition.drainTimeoutMs);
    else signal?.addEventListener('abort', onAbort, { once: true });
    return { close: () => closeWithin(definition.drainTimeoutMs) };
  };

  const transport: Transport = {
    specificationVersion: TRANSPORT_SPECIFICATION_VERSION,
    name,
    capabilities,

    async publish(queue, messages, options = {}) {
      admit(queue);
      assertPayloadsFit(name, messages, capabilities.maxPayloadBytes);
      if (options.signal?.aborted) {
        throw new TransportError('timeout', `[thrun:${name}] publish aborted before anything was sent`);
      }
      if (messages.length > 0) await definition.publish(queue, messages, options);
    },

    async consume(queue, handler, options = {}) {
      admit(queue);
      const checked: CheckedConsumeOptions = {
        ...options,
        group: options.group ?? 'default',
        concurrency: check.positiveInteger('concurrency', options.concurrency, 1),
      };
      if (options.signal?.aborted) return { close: async () => {} };
      const consumer = await definition.consume(queue, handler, checked);
      if (closing) {
        // The transport was closed while this consumer was starting: it must not outlive it.
        await consumer.close(0);
        throw transportClosedError(name);
      }
      return subscribe(consumer, options.signal);
    },

    close(options: CloseOptions = {}) {
      closing ??= (async () => {
        definition.closing?.();
        const drainTimeoutMs = options.drainTimeoutMs ?? definition.drainTimeoutMs;
        await Promise.all([...consumers].map((closeWithin) => closeWithin(drainTimeoutMs)));
        await definition.shutdown?.(drainTimeoutMs);
      })();
      return closing;
    },
  };
  const { peek, purge, inspect, removeGroup } = definition;
  if (removeGroup) {
    transport.removeGroup = async (queue, group) => {
      admit(queue);
      return removeGroup(queue, group);
    };
  }
  if (inspect) {
    transport.inspect = async (options: InspectOptions = {}) => {
      if (closing) throw transportClosedError(name);
      const requested = new Set<string>();
      for (const queue of options.queues ?? []) {
        assertQueue(queue);
        // A dead-letter queue is reported as its queue's dead count, never as a row of its own.
        requested.add(queue.endsWith(DEAD_SUFFIX) ? queue.slice(0, -DEAD_SUFFIX.length) : queue);
      }
      const rows = await inspect({ queues: [...requested], groups: [...new Set(options.groups ?? [])] });
      return rows
        .filter((row) => !row.queue.endsWith(DEAD_SUFFIX))
        .sort((a, b) => a.queue.localeCompare(b.queue) || (a.group ?? '').localeCompare(b.group ?? ''));
    };
  }
  if (peek) {
    transport.peek = async (queue, limit) => {
      admit(queue);
      return peek(queue, limit);
    };
  }
  if (purge) {
    transport.purge = async (queue) => {
      admit(queue);
      return purge(queue);
    };
  }
  return transport;
}
