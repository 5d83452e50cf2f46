import { ThrunError, TransportError } from '@thrun/contract';

/** An AMQP URL with its password replaced, fit for errors and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

/** Removes `user:password@` from any URL inside a message an underlying library produced. */
export function redactText(text: string): string {
  return text.replace(/(amqps?:\/\/)[^@\s/]*@/gi, '$1***@');
}

/**
 * Errors leaving the transport are `ThrunError`s: amqplib's own errors (a channel closed by the broker,
 * a socket reset) become a retryable `TransportError` with a redacted message and the original as `cause`.
 */
export function asThrunError(error: unknown, doing: string): Error {
  if (ThrunError.isInstance(error)) return error;
  const detail = error instanceof Error ? redactText(error.message) : String(error);
  return new TransportError('broker_error', `[thrun:rabbitmq] ${doing} failed: ${detail}`, { cause: error });
}
