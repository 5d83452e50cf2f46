import { DecodeError, ValidationError } from './errors.js';
import { DEAD_LETTER_REASON_LIMITS, PROTOCOL_HEADERS } from './generated/protocol-headers.js';
import type { DeadLetterReason } from './transport.js';

/**
 * Dead letters (`schemas/dead-letter.schema.json`). A dead letter is the original bytes, unchanged,
 * plus a small, bounded description: why, after how many attempts, when, and from which queue. So that
 * a message a broker accepted can always be dead-lettered, the description never grows with the body:
 *
 * - **headers** (transports with message headers: RabbitMQ, Kafka, memory): the body is the original
 *   bytes; the description is in the `thrun-dead-*` headers (`DEAD_LETTER_HEADERS`).
 * - **frame** (transports without headers: Redis): the description as one line of JSON, a line feed,
 *   then the original bytes: `{"queue":…,"error":{…},"attempts":2,"failed_at":"…"}\n<bytes>`.
 * - **record** (written by earlier versions, read only): one JSON object holding the description and
 *   the body as `body` (UTF-8) or `body_base64`. Its escaping could make it several times the body.
 */

/** The description of a dead letter, in every form. */
export interface DeadLetterMetadata {
  /** The queue the message was taken from, where a replay sends it back. */
  queue: string;
  error: DeadLetterReason;
  /** Delivery attempts made before it was dead-lettered (the last delivery's attempt number). */
  attempts: number;
  /** RFC 3339 UTC time of dead-lettering. */
  failed_at: string;
}

/** The record form written by earlier versions: the description and the body in one JSON object. */
export interface DeadLetterRecord extends DeadLetterMetadata {
  body?: string;
  body_base64?: string;
}

/** A dead letter read back, whatever its form. */
export interface DecodedDeadLetter extends DeadLetterMetadata {
  /** The original bytes, unchanged. */
  originalBody: Uint8Array;
  form: 'headers' | 'frame' | 'record';
}

export interface DeadLetterInput {
  queue: string;
  body: Uint8Array;
  reason: DeadLetterReason;
  attempts: number;
  failedAt?: Date;
}

/**
 * Header names of the headers form (`protocol/headers.json`, `deadLetter`); every transport with
 * headers writes all of them (Kafka adds only `thrun-failed-group`).
 */
export const DEAD_LETTER_HEADERS = PROTOCOL_HEADERS.deadLetter;

/**
 * A reason's code and message are cut to these many UTF-8 bytes (at a character boundary, each cut one
 * ending in `…`), in every form and every transport, so the description stays small
 * (`protocol/headers.json`, `deadLetter.reasonLimits`).
 */
export { DEAD_LETTER_REASON_LIMITS };

/**
 * The most a dead letter adds to the original bytes, in either form (the frame's JSON line, or the
 * headers' names and values). A transport keeps `maxPayloadBytes` at least this far below what its
 * dead queue accepts, so that every message it accepted can be dead-lettered.
 */
export const DEAD_LETTER_OVERHEAD_BYTES = 2_048;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();
const LINE_FEED = 0x0a;

/** Cuts `text` to at most `maxBytes` UTF-8 bytes at a character boundary, marking the cut with `…`. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8.encode(text).byteLength <= maxBytes) return text;
  const budget = maxBytes - 3; // the ellipsis is 3 bytes
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = utf8.encode(char).byteLength;
    if (bytes + size > budget) break;
    bytes += size;
    end += char.length;
  }
  return `${text.slice(0, end)}…`;
}

export function createDeadLetterMetadata(input: Omit<DeadLetterInput, 'body'>): DeadLetterMetadata {
  return {
    queue: input.queue,
    error: {
      code: truncateUtf8(input.reason.code, DEAD_LETTER_REASON_LIMITS.codeBytes),
      message: truncateUtf8(input.reason.message, DEAD_LETTER_REASON_LIMITS.messageBytes),
    },
    attempts: input.attempts,
    failed_at: (input.failedAt ?? new Date()).toISOString(),
  };
}

/** The headers of the headers form. */
export function deadLetterHeaders(metadata: DeadLetterMetadata): Record<string, string> {
  return {
    [DEAD_LETTER_HEADERS.queue]: metadata.queue,
    [DEAD_LETTER_HEADERS.errorCode]: metadata.error.code,
    [DEAD_LETTER_HEADERS.errorMessage]: metadata.error.message,
    [DEAD_LETTER_HEADERS.attempts]: String(metadata.attempts),
    [DEAD_LETTER_HEADERS.failedAt]: metadata.failed_at,
  };
}

/** The frame form: the description's JSON line, a line feed, the original bytes. */
export function encodeDeadLetterFrame(input: DeadLetterInput): Uint8Array {
  const line = utf8.encode(JSON.stringify(createDeadLetterMetadata(input)));
  const frame = new Uint8Array(line.byteLength + 1 + input.body.byteLength);
  frame.set(line, 0);
  frame[line.byteLength] = LINE_FEED;
  frame.set(input.body, line.byteLength + 1);
  return frame;
}

/** What a dead queue holds: a body, and the headers where the transport has them. */
export interface DeadLetterMessage {
  body: Uint8Array;
  headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * Reads a dead letter back, in any form: headers when the `thrun-dead-*` headers are there, else a
 * frame when the body holds a line feed (JSON never writes a raw one, so a record holds none), else a
 * record. Throws `DecodeError`/`ValidationError` when it is none of them.
 */
export function decodeDeadLetter(message: DeadLetterMessage): DecodedDeadLetter {
  const { body, headers } = message;
  if (headers?.[DEAD_LETTER_HEADERS.errorCode] !== undefined) {
    const metadata = checkMetadata({
      queue: headers[DEAD_LETTER_HEADERS.queue],
      error: {
        code: headers[DEAD_LETTER_HEADERS.errorCode],
        message: headers[DEAD_LETTER_HEADERS.errorMessage],
      },
      attempts: Number(headers[DEAD_LETTER_HEADERS.attempts]),
      failed_at: headers[DEAD_LETTER_HEADERS.failedAt],
    });
    return { ...metadata, originalBody: body, form: 'headers' };
  }
  const newline = body.indexOf(LINE_FEED);
  if (newline >= 0) {
    const metadata = checkMetadata(parseJson(body.subarray(0, newline)));
    return { ...metadata, originalBody: body.slice(newline + 1), form: 'frame' };
  }
  const record = parseJson(body) as Partial<DeadLetterRecord> | null;
  const metadata = checkMetadata(record);
  const { body: text, body_base64: base64 } = record as DeadLetterRecord;
  if ((typeof text === 'string') === (typeof base64 === 'string')) {
    throw notADeadLetter('a record holds exactly one of body and body_base64');
  }
  const originalBody =
    typeof text === 'string' ? utf8.encode(text) : new Uint8Array(Buffer.from(base64 as string, 'base64'));
  return { ...metadata, originalBody, form: 'record' };
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(strictUtf8.decode(bytes));
  } catch (cause) {
    throw new DecodeError('invalid_json', '[thrun:contract] dead-letter description is not UTF-8 JSON', {
      cause,
    });
  }
}

function checkMetadata(value: unknown): DeadLetterMetadata {
  const candidate = value as Partial<DeadLetterMetadata> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.queue !== 'string' ||
    !Number.isSafeInteger(candidate.attempts) ||
    (candidate.attempts as number) < 1 ||
    typeof candidate.failed_at !== 'string' ||
    typeof candidate.error?.code !== 'string' ||
    typeof candidate.error.message !== 'string'
  ) {
    throw notADeadLetter('queue, error {code, message}, attempts and failed_at are required');
  }
  return {
    queue: candidate.queue,
    error: { code: candidate.error.code, message: candidate.error.message },
    attempts: candidate.attempts as number,
    failed_at: candidate.failed_at,
  };
}

function notADeadLetter(why: string): ValidationError {
  return new ValidationError('schema_violation', `[thrun:contract] not a dead letter: ${why}`);
}
