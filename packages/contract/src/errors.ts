/**
 * The error family. Every error Thrun throws is a `ThrunError` with a stable `code`, an optional
 * `cause`, and `isRetryable`, which the worker reads to choose between retry and dead-letter.
 *
 * `instanceof` breaks when two copies of this package are installed, so checks go through
 * `ThrunError.isInstance(e)` (and each subclass's own `isInstance`), which use a `Symbol.for` marker.
 * Messages start with the package they come from, e.g. `[thrun:redis] …`, and never hold credentials.
 */
const marker: unique symbol = Symbol.for('thrun.error') as never;

export interface ThrunErrorOptions {
  cause?: unknown;
  /** Overrides the family's default: may the same work succeed if tried again? */
  isRetryable?: boolean;
}

export class ThrunError extends Error {
  readonly [marker] = true;
  readonly code: string;
  readonly isRetryable: boolean;

  constructor(code: string, message: string, options: ThrunErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ThrunError';
    this.code = code;
    this.isRetryable = options.isRetryable ?? false;
  }

  static isInstance(error: unknown): error is ThrunError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/**
 * Defines a subclass whose `isInstance` checks the `name` too, so it also survives two package copies.
 * Each family fixes whether its errors are retryable by default.
 */
function family<Code extends string>(name: string, retryable: boolean) {
  return class extends ThrunError {
    declare readonly code: Code;
    constructor(code: Code, message: string, options: ThrunErrorOptions = {}) {
      super(code, message, { isRetryable: retryable, ...options });
      this.name = name;
    }
    static override isInstance(error: unknown): error is ThrunError & { code: Code } {
      return ThrunError.isInstance(error) && error.name === name;
    }
  };
}

/** Bytes that are not a well-formed, safe JSON envelope. Never retryable: the same bytes fail again. */
export type DecodeErrorCode =
  | 'invalid_utf8'
  | 'invalid_json'
  | 'duplicate_key'
  | 'forbidden_key'
  | 'too_deep'
  | 'unsafe_integer';
export class DecodeError extends family<DecodeErrorCode>('DecodeError', false) {}

/** A value that breaks the contract: schema violation, bad event name, non-JSON payload. */
export type ValidationErrorCode =
  | 'schema_violation'
  | 'invalid_event_name'
  | 'invalid_queue_name'
  | 'invalid_payload';
export interface ValidationIssue {
  /** JSON Pointer to the offending value, `''` for the root. */
  path: string;
  message: string;
}
export class ValidationError extends family<ValidationErrorCode>('ValidationError', false) {
  /** Every place validation failed, in schema order. */
  readonly issues: readonly ValidationIssue[];
  constructor(
    code: ValidationErrorCode,
    message: string,
    options: ThrunErrorOptions & { issues?: readonly ValidationIssue[] } = {},
  ) {
    super(code, message, options);
    this.issues = options.issues ?? [];
  }
}

/** A message bigger than the configured or the broker's limit. */
export class PayloadTooLargeError extends family<'payload_too_large'>('PayloadTooLargeError', false) {}

/** The broker refused, lost or could not be reached. Retryable: brokers come back. */
export type TransportErrorCode =
  | 'connection_failed'
  | 'publish_failed'
  | 'unroutable'
  | 'closed'
  | 'timeout'
  | 'broker_error';
export class TransportError extends family<TransportErrorCode>('TransportError', true) {}

/** Wrong options or an unsupported transport: fixing the code or configuration is the only cure. */
export type ConfigurationErrorCode =
  | 'invalid_option'
  | 'unsupported_transport_version'
  | 'unsupported_feature'
  /** A listener returned a promise to `publishSync` or `callSync`, which cannot wait for it. */
  | 'async_listener';
export class ConfigurationError extends family<ConfigurationErrorCode>('ConfigurationError', false) {}
