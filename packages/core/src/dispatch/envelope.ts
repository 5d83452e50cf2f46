import {
  assertEventName,
  assertQueueName,
  type CodecLimits,
  ConfigurationError,
  type Envelope,
  type EnvelopeMeta,
  encodeEnvelope,
  type JsonObject,
  type OutgoingMessage,
  SPEC_VERSION,
  type Transport,
} from '@thrun/contract';
import type { Router } from '../routing.js';
import { assertPayloadIsObject } from '../validate-payload.js';
import type { DispatchRequest } from './dispatch-args.js';

/** One event ready to publish: its envelope, the queue it goes to, and its encoded message. */
export interface PreparedEvent {
  readonly envelope: Envelope;
  readonly queue: string;
  readonly message: OutgoingMessage;
}

/** What building envelopes needs from the bus. */
export interface EnvelopeSettings {
  readonly source: string;
  readonly codecLimits: CodecLimits;
  readonly router: Router;
  readonly transport: Transport;
}

/**
 * Builds and encodes the envelope of one dispatch: a new `event_id` (unless given), the timestamp,
 * `source`, and the correlation, causation and trace carried on from `parent` (the event being
 * handled). Everything is checked before anything is sent: the name, the payload (JSON values only,
 * depth, schema, size: a `ValidationError` or `PayloadTooLargeError`), an explicit queue's name, and
 * that the transport can delay when `delayMs` asks it to.
 */
export function prepareEvent(
  settings: EnvelopeSettings,
  { name, payload, options }: DispatchRequest,
  parent?: Envelope,
): PreparedEvent {
  assertEventName(name);
  // The encoder checks the rest (JSON-safe values, cycles, depth, schema, size) as it serializes.
  assertPayloadIsObject(payload);
  const parentMeta = parent?.meta;
  const meta: EnvelopeMeta = {
    ...(options.meta as Record<string, unknown> | undefined),
    event_id: options.eventId ?? crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    source: settings.source,
    spec_version: SPEC_VERSION,
  };
  const correlationId = options.correlationId ?? parentMeta?.correlation_id ?? parentMeta?.event_id;
  const causationId = options.causationId ?? parentMeta?.event_id;
  const traceparent = options.traceparent ?? parentMeta?.traceparent;
  if (correlationId !== undefined) meta.correlation_id = correlationId;
  if (causationId !== undefined) meta.causation_id = causationId;
  if (traceparent !== undefined) meta.traceparent = traceparent;
  const envelope: Envelope = { event: name, payload: payload as JsonObject, meta };
  const message: OutgoingMessage = { body: encodeEnvelope(envelope, settings.codecLimits) };
  const queue = options.queue ?? settings.router.queueFor(name);
  if (options.queue !== undefined) assertQueueName(queue);
  if (options.key !== undefined) message.key = options.key;
  if (options.delayMs !== undefined && options.delayMs > 0) {
    if (!settings.transport.capabilities.delay) {
      throw new ConfigurationError(
        'unsupported_feature',
        `[thrun:core] the ${settings.transport.name} transport cannot delay messages (delayMs)`,
      );
    }
    message.delayMs = options.delayMs;
  }
  return { envelope, queue, message };
}
