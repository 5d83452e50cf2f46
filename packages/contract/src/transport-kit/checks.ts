import { PayloadTooLargeError, TransportError } from '../errors.js';
import type { OutgoingMessage } from '../transport.js';

/**
 * Checks every transport makes the same way, as the `Transport` contract words them.
 * `transport` is the short name used in messages (`redis`, `kafka`, …).
 */

/** `publish` rejects before sending anything when one body is over the limit. */
export function assertPayloadsFit(
  transport: string,
  messages: readonly OutgoingMessage[],
  maxPayloadBytes: number,
): void {
  for (const message of messages) {
    if (message.body.byteLength > maxPayloadBytes) {
      throw new PayloadTooLargeError(
        'payload_too_large',
        `[thrun:${transport}] message of ${message.body.byteLength} bytes exceeds maxPayloadBytes (${maxPayloadBytes})`,
      );
    }
  }
}

/** What `publish` and `consume` reject with after `close()`. Not retryable: this instance stays closed. */
export function transportClosedError(transport: string): TransportError {
  return new TransportError('closed', `[thrun:${transport}] transport is closed`, { isRetryable: false });
}
