/**
 * The envelope every runtime exchanges. `schemas/envelope.schema.json` is the source of truth;
 * these types mirror it and `envelope.test.ts` fails when the two drift apart.
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** What `meta.batch` carries on a batch step's envelope (`envelope.schema.json#/$defs/batch`; open, so the batch engine can add keys). */
export interface BatchMeta {
  /** The batch's id (UUID). */
  id: string;
  /** Zero-based position of this step in the batch. */
  index: number;
  /** Number of steps in the batch. */
  total: number;
  [extension: string]: unknown;
}

export interface EnvelopeMeta {
  /** UUID of this event, unique per dispatch (a retry keeps it). */
  event_id: string;
  /** RFC 3339 date-time of the dispatch, with `Z` or an offset. */
  timestamp: string;
  /** The producing runtime or service: `php`, `go`, `node`, or a service name. */
  source: string;
  /** 1-based delivery attempt, when the producer knows it. */
  attempt?: number;
  /** Groups every event of one business flow. */
  correlation_id?: string;
  /** The `event_id` of the event whose handler dispatched this one. */
  causation_id?: string;
  /** W3C Trace Context `traceparent`. */
  traceparent?: string;
  /** Present on batch steps. */
  batch?: BatchMeta;
  /** The envelope specification version the producer followed. */
  spec_version?: string;
  /** Unknown meta keys are tolerated for forward compatibility. */
  [extension: string]: unknown;
}

export interface Envelope<Payload extends JsonObject = JsonObject> {
  /** The contract name (see `isEventName`). */
  event: string;
  /** Any JSON object; `{}` is fine. */
  payload: Payload;
  /** Optional: foreign producers may send bare `{event, payload}` messages. */
  meta?: EnvelopeMeta;
}

/** The envelope specification this package implements, written to `meta.spec_version` on dispatch. */
export const SPEC_VERSION = '1.0';
