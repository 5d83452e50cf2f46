import { setTimeout as sleep } from 'node:timers/promises';
import type { OutgoingMessage, PublishOptions, Transport } from '@thrun/contract';

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
