import type { Envelope } from './envelope.js';
import { DecodeError, PayloadTooLargeError, ValidationError } from './errors.js';

/**
 * The safe codec: the only way bytes from outside become an `Envelope`, and back.
 * Size is checked before anything is parsed.
 */
export interface CodecLimits {
  /** Largest encoded envelope, in bytes. Default: 1 MiB. */
  maxBytes?: number;
  /** Deepest nesting of objects and arrays in the whole envelope. Default: 64. */
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/**
 * Bytes → a validated envelope whose objects have no prototype.
 * Throws `PayloadTooLargeError`, `DecodeError` (`invalid_utf8`, `invalid_json`, `duplicate_key`,
 * `forbidden_key`, `too_deep`, `unsafe_integer`) or `ValidationError` (`schema_violation`).
 */
export function decodeEnvelope(bytes: Uint8Array, limits: CodecLimits = {}): Envelope {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      'payload_too_large',
      `[thrun:contract] message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (cause) {
    throw new DecodeError('invalid_utf8', '[thrun:contract] message is not valid UTF-8', { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new DecodeError('invalid_json', '[thrun:contract] message is not valid JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || typeof (value as Envelope).event !== 'string') {
    throw new ValidationError('schema_violation', '[thrun:contract] message is not an envelope');
  }
  return value as Envelope;
}

/**
 * An envelope → bytes. Throws `ValidationError('invalid_payload')` for values JSON cannot carry
 * (functions, `BigInt`, cycles, non-finite numbers) and `PayloadTooLargeError` past `maxBytes`.
 */
export function encodeEnvelope(envelope: Envelope, limits: CodecLimits = {}): Uint8Array {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const bytes = utf8.encode(JSON.stringify(envelope));
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      'payload_too_large',
      `[thrun:contract] envelope of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  return bytes;
}
