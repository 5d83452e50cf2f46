import { DecodeError, ValidationError } from './errors.js';
import type { DeadLetterReason } from './transport.js';

/**
 * A dead-lettered message as it sits in `<queue>.dead` on every transport
 * (`schemas/dead-letter.schema.json`). It keeps the original bytes unchanged: as `body` when they
 * are valid UTF-8, otherwise as `body_base64`, so a Go or PHP service can read and replay it too.
 */
export interface DeadLetterRecord {
  /** The queue the message was taken from, where a replay sends it back. */
  queue: string;
  error: DeadLetterReason;
  /** Delivery attempts made before it was dead-lettered. */
  attempts: number;
  /** RFC 3339 UTC time of dead-lettering. */
  failed_at: string;
  body?: string;
  body_base64?: string;
}

export interface DeadLetterInput {
  queue: string;
  body: Uint8Array;
  reason: DeadLetterReason;
  attempts: number;
  failedAt?: Date;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

export function createDeadLetterRecord(input: DeadLetterInput): DeadLetterRecord {
  const record: DeadLetterRecord = {
    queue: input.queue,
    error: { code: input.reason.code, message: input.reason.message },
    attempts: input.attempts,
    failed_at: (input.failedAt ?? new Date()).toISOString(),
  };
  try {
    record.body = strictUtf8.decode(input.body);
  } catch {
    record.body_base64 = Buffer.from(
      input.body.buffer,
      input.body.byteOffset,
      input.body.byteLength,
    ).toString('base64');
  }
  return record;
}

export function encodeDeadLetterRecord(input: DeadLetterInput): Uint8Array {
  return utf8.encode(JSON.stringify(createDeadLetterRecord(input)));
}

/** Reads a record back. Throws `DecodeError`/`ValidationError` when the bytes are not a record. */
export function decodeDeadLetterRecord(bytes: Uint8Array): DeadLetterRecord & { originalBody: Uint8Array } {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(bytes));
  } catch (cause) {
    throw new DecodeError('invalid_json', '[thrun:contract] dead-letter record is not UTF-8 JSON', { cause });
  }
  const record = value as Partial<DeadLetterRecord> | null;
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof record.queue !== 'string' ||
    typeof record.attempts !== 'number' ||
    typeof record.failed_at !== 'string' ||
    typeof record.error?.code !== 'string' ||
    typeof record.error.message !== 'string' ||
    (typeof record.body === 'string') === (typeof record.body_base64 === 'string')
  ) {
    throw new ValidationError('schema_violation', '[thrun:contract] not a dead-letter record');
  }
  const originalBody =
    typeof record.body === 'string'
      ? utf8.encode(record.body)
      : new Uint8Array(Buffer.from(record.body_base64 as string, 'base64'));
  return { ...(record as DeadLetterRecord), originalBody };
}
