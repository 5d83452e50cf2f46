import { deadLetterQueueName, type QueueStats, type Transport } from '@thrun/contract';

/** Counting by peek (transports without inspection) stops here. */
export const PEEK_COUNT_LIMIT = 10_000;

/**
 * Reads the counts of every queue: through `inspect()` where the transport has it (every queue it
 * finds, plus the given ones), otherwise with `peek` on each given queue and its dead-letter queue
 * (up to `PEEK_COUNT_LIMIT`), leaving what peek cannot see (in flight, delayed) unknown.
 */
export async function readQueueCounts(
  transport: Transport,
  queues: readonly string[],
): Promise<QueueStats[]> {
  if (transport.capabilities.inspect && transport.inspect) return transport.inspect({ queues });
  const peek = transport.peek?.bind(transport);
  if (!peek) return queues.map((queue) => ({ queue, waiting: 0 }));
  return Promise.all(
    queues.map(async (queue) => {
      const [waiting, dead] = await Promise.all([
        peek(queue, PEEK_COUNT_LIMIT),
        peek(deadLetterQueueName(queue), PEEK_COUNT_LIMIT),
      ]);
      return { queue, waiting: waiting.length, dead: dead.length };
    }),
  );
}
