import type { Delivery, DeliveryHandler, Transport } from '@thrun/contract';
import { decodeEnvelope } from '@thrun/contract';
import type { WorkerSettings } from './worker-env.js';

/**
 * Deliberately broken variants of the reference worker, each with the defect a real runtime could
 * have. The harness must fail every one of them on the scenarios named here (the package's tests
 * check it), which is what shows that those scenarios can fail at all.
 */
export interface Mutant {
  /** What is broken. */
  defect: string;
  /** The scenarios that must fail against it. */
  fails: readonly string[];
  /** Changes the worker's settings before it starts. */
  settings?: (settings: WorkerSettings) => WorkerSettings;
  /** Wraps the transport the worker runs on. */
  transport?: (transport: Transport) => Transport;
  /** Exits at once on SIGTERM instead of draining. */
  exitOnSigterm?: boolean;
}

const HOSTILE = [
  'malformed-json',
  'invalid-utf8',
  'duplicate-key',
  'proto-key',
  'deep-nesting',
  'oversized',
  'unsafe-integer',
  'schema-violation',
];

export const MUTANTS = {
  'ack-before-handling': {
    defect: 'acknowledges every message as it arrives, before its handler ran',
    fails: ['retry-attempts', 'max-attempts', 'sigkill-redelivery'],
    transport: (transport) =>
      withDeliveries(transport, async (delivery) => {
        await delivery.ack();
        const settled = async () => {};
        return { ...plainDelivery(delivery), ack: settled, retry: settled, deadLetter: settled };
      }),
  },
  'drop-meta': {
    defect: 'drops the meta of every message it consumes',
    fails: ['envelope-intact'],
    transport: (transport) =>
      withDeliveries(transport, async (delivery) => ({
        ...plainDelivery(delivery),
        body: withoutMeta(delivery.body),
      })),
  },
  'reply-without-meta': {
    defect: 'dispatches its envelopes without meta',
    fails: ['reply-valid'],
    transport: (transport) => ({
      ...forward(transport),
      publish: (queue, messages, options) =>
        transport.publish(
          queue,
          messages.map((message) => ({ ...message, body: withoutMeta(message.body) })),
          options,
        ),
    }),
  },
  'uncounted-attempts': {
    defect: 'retries without counting: every delivery is attempt 1',
    fails: ['retry-attempts', 'max-attempts', 'sigkill-redelivery'],
    transport: (transport) =>
      withDeliveries(transport, async (delivery) => ({ ...plainDelivery(delivery), attempt: 1 })),
  },
  'no-backoff': {
    defect: 'retries at once, without waiting the backoff',
    fails: ['retry-backoff'],
    transport: (transport) =>
      withDeliveries(transport, async (delivery) => ({
        ...plainDelivery(delivery),
        retry: () => delivery.retry(0),
      })),
  },
  'swallow-bad-input': {
    defect: 'acknowledges what it should dead-letter',
    fails: [...HOSTILE, 'unknown-event', 'permanent-error', 'max-attempts'],
    transport: (transport) =>
      withDeliveries(transport, async (delivery) => ({
        ...plainDelivery(delivery),
        deadLetter: () => delivery.ack(),
      })),
  },
  'limit-off-by-one': {
    defect: 'refuses a message of exactly the largest size it is told to accept',
    fails: ['within-limit'],
    settings: (settings) => ({ ...settings, maxPayloadBytes: settings.maxPayloadBytes - 1 }),
  },
  'over-concurrency': {
    defect: 'runs three times as many handlers at once as it is told',
    fails: ['concurrency-bound'],
    settings: (settings) => ({ ...settings, concurrency: settings.concurrency * 3 }),
  },
  'one-at-a-time': {
    defect: 'runs one handler at a time, whatever concurrency it is given',
    fails: ['concurrency-bound'],
    settings: (settings) => ({ ...settings, concurrency: 1 }),
  },
  'no-step-reports': {
    defect: 'runs batch steps but never reports their outcome',
    fails: ['batch-steps', 'batch-step-failed'],
    transport: (transport) => ({
      ...forward(transport),
      publish: async (queue, messages, options) => {
        const kept = messages.filter((message) => !isStepReport(message.body));
        if (kept.length > 0) await transport.publish(queue, kept, options);
      },
    }),
  },
  'no-drain': {
    defect: 'exits at once on SIGTERM, abandoning its in-flight handlers',
    fails: ['sigterm-drain'],
    exitOnSigterm: true,
  },
} as const satisfies Record<string, Mutant>;

export type MutantName = keyof typeof MUTANTS;

export function isMutantName(name: string): name is MutantName {
  return Object.hasOwn(MUTANTS, name);
}

/** A transport whose every delivery goes through `change` before the handler sees it. */
function withDeliveries(transport: Transport, change: (delivery: Delivery) => Promise<Delivery>): Transport {
  return {
    ...forward(transport),
    consume: (queue, handler: DeliveryHandler, options) =>
      transport.consume(queue, async (delivery) => handler(await change(delivery)), options),
  };
}

/** The transport's members, bound to it, so a mutant can replace some of them. */
function forward(transport: Transport): Transport {
  return {
    specificationVersion: transport.specificationVersion,
    name: transport.name,
    capabilities: transport.capabilities,
    publish: (queue, messages, options) => transport.publish(queue, messages, options),
    consume: (queue, handler, options) => transport.consume(queue, handler, options),
    close: (options) => transport.close(options),
  };
}

/** A delivery's members as plain properties, with its settlements bound to it. */
function plainDelivery(delivery: Delivery): Delivery {
  const { body, queue, attempt, key, headers } = delivery;
  return {
    body,
    queue,
    attempt,
    ...(key === undefined ? {} : { key }),
    ...(headers === undefined ? {} : { headers }),
    ack: () => delivery.ack(),
    retry: (delayMs) => delivery.retry(delayMs),
    deadLetter: (reason) => delivery.deadLetter(reason),
  };
}

/** The bytes of an envelope without its meta; bytes that are no envelope are left as they are. */
function withoutMeta(body: Uint8Array): Uint8Array {
  try {
    const { event, payload } = decodeEnvelope(body);
    return new TextEncoder().encode(JSON.stringify({ event, payload }));
  } catch {
    return body;
  }
}

function isStepReport(body: Uint8Array): boolean {
  try {
    return decodeEnvelope(body).event.startsWith('thrun.batch.step_');
  } catch {
    return false;
  }
}
