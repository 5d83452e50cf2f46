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
