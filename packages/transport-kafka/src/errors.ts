import { ThrunError, TransportError, type TransportErrorCode } from '@thrun/contract';

/** An error's message, for the text of Thrun's own errors and warnings. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A Thrun error as it is; anything else as a `TransportError` saying what failed and why. */
export function asThrunError(cause: unknown, code: TransportErrorCode, what: string): ThrunError {
  if (ThrunError.isInstance(cause)) return cause;
  return new TransportError(code, `[thrun:kafka] ${what}: ${describe(cause)}`, { cause });
}

/** Whether `error`, or any error in its `cause` chain, has `field` equal to `value` (kafkajs wraps its errors). */
export function causedBy(error: unknown, field: 'name' | 'type', value: string): boolean {
  for (let current = error; typeof current === 'object' && current !== null; ) {
    const fields = current as { name?: unknown; type?: unknown; cause?: unknown };
    if (fields[field] === value) return true;
    current = fields.cause;
  }
  return false;
}
