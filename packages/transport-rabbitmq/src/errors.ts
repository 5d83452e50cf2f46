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
