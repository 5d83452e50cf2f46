import { ThrunError, type ThrunErrorOptions } from '@thrun/contract';

/**
 * Thrown by a handler (or made with `permanent()`) to say that trying again cannot help: the worker
 * dead-letters the message at once instead of retrying it. Any `ThrunError` whose `isRetryable` is
 * `false` (a `ValidationError`, say) has the same effect; a plain `Error` is retried.
 */
export class NonRetryableError extends ThrunError {
  constructor(message: string, options: Omit<ThrunErrorOptions, 'isRetryable'> = {}) {
    super('non_retryable', message, { ...options, isRetryable: false });
    this.name = 'NonRetryableError';
  }

  static override isInstance(error: unknown): error is NonRetryableError {
    return ThrunError.isInstance(error) && error.name === 'NonRetryableError';
  }
}

/**
 * Marks a failure as permanent: `throw permanent(error)` or `throw permanent('order 7 does not exist')`.
 * The original error is kept as `cause`, and its message becomes the dead-letter reason's message.
 */
export function permanent(error: unknown): NonRetryableError {
  if (NonRetryableError.isInstance(error)) return error;
  if (typeof error === 'string') return new NonRetryableError(error);
  const message = error instanceof Error ? error.message : String(error);
  return new NonRetryableError(message, { cause: error });
}

/** Whether the worker may try a failed handler again: only errors that say otherwise are final. */
export function isRetryableError(error: unknown): boolean {
  return ThrunError.isInstance(error) ? error.isRetryable : true;
}

/** A short, machine-readable code for a handler failure, used as the dead-letter reason code. */
export function errorCode(error: unknown): string {
  return ThrunError.isInstance(error) ? error.code : 'handler_failed';
}

export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(errorMessage).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}
