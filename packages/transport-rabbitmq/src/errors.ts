import { ThrunError, TransportError } from '@thrun/contract';
import { redactText } from '@thrun/contract/transport-kit';

/**
 * Errors leaving the transport are `ThrunError`s: amqplib's own errors (a channel closed by the broker,
 * a socket reset) become a retryable `TransportError` with a redacted message and the original as `cause`.
 */
export function asThrunError(error: unknown, doing: string): Error {
  if (ThrunError.isInstance(error)) return error;
  const detail = error instanceof Error ? redactText(error.message) : String(error);
  return new TransportError('broker_error', `[thrun:rabbitmq] ${doing} failed: ${detail}`, { cause: error });
}

/**
 * Whether an error is the broker dropping a channel or connection, rather than refusing what was asked:
 * a refusal carries a 4xx reply code (403 access refused, 404 not found, 406 precondition failed) and
 * would only be refused again. A dropped channel carries no code, or a 3xx/5xx connection-level one
 * (320 connection forced, 541 internal error).
 */
export function isDroppedChannel(error: unknown): boolean {
  if (ThrunError.isInstance(error)) return false;
  const code = (error as { code?: unknown } | null)?.code;
  return !(typeof code === 'number' && code >= 400 && code < 500);
}
