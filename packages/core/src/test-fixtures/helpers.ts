import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConsumeOptions,
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  type OutgoingMessage,
  type PublishOptions,
  type Transport,
  TransportError,
} from '@thrun/contract';

/** Polls until `check` returns true; fails with `what` after `timeoutMs` (generous: the machine is shared). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const utf8 = new TextEncoder();
export const text = new TextDecoder();

/** A real transport whose publish calls are recorded (queue and message count), to count round trips. */
export function recordingPublishes(transport: Transport): {
  transport: Transport;
  calls: { queue: string; count: number }[];
} {
  const calls: { queue: string; count: number }[] = [];
  const wrapped: Transport = Object.create(transport);
  Object.defineProperty(wrapped, 'publish', {
    value: (queue: string, messages: readonly OutgoingMessage[], options?: PublishOptions) => {
      calls.push({ queue, count: messages.length });
      return transport.publish(queue, messages, options);
    },
  });
  return { transport: wrapped, calls };
}

/**
 * A real transport whose deliveries' `deadLetter()` is refused while `refusing()` says so, as a dead
 * queue that rejects writes would; every call is recorded with its time. Delivered attempts can be
 * raised by `attemptOffset`, as a redelivery after a crash would be.
 */
export function refusingDeadLetters(
  transport: Transport,
  refusing: () => boolean,
  attemptOffset = 0,
): { transport: Transport; calls: number[] } {
  const calls: number[] = [];
  const wrapped: Transport = Object.create(transport);
  Object.defineProperty(wrapped, 'consume', {
    value: (queue: string, handler: DeliveryHandler, options?: ConsumeOptions) =>
      transport.consume(
        queue,
        (delivery) => {
          const faulty: Delivery = Object.create(delivery, {
            attempt: { value: delivery.attempt + attemptOffset },
            deadLetter: {
              value: async (reason: DeadLetterReason) => {
                calls.push(Date.now());
                if (refusing()) {
                  throw new TransportError('publish_failed', '[thrun:test] the dead queue refused the write');
                }
                return delivery.deadLetter(reason);
              },
            },
          });
          return handler(faulty);
        },
        options,
      ),
  });
  return { transport: wrapped, calls };
}
