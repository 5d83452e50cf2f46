import { deadLetterQueueName, type Transport } from '@thrun/contract';

/** One queue's counts at one moment. A count the transport cannot give is absent, not 0. */
export interface QueueCounts {
  queue: string;
  group?: string;
  waiting?: number;
  inFlight?: number;
  delayed?: number;
  dead?: number;
  consumers?: number;
}

/** Counting by peek stops here: past it, the dashboard shows "at least" this many. */
export const PEEK_COUNT_LIMIT = 10_000;

/**
 * Reads the counts of the given queues. Without inspection, waiting and dead are counted with
 * `peek` (up to `PEEK_COUNT_LIMIT`), and what peek cannot see (in flight, delayed) stays unknown.
 */
export async function readQueueCounts(
  transport: Transport,
  queues: readonly string[],
): Promise<QueueCounts[]> {
  const peek = transport.peek?.bind(transport);
  if (!peek) return queues.map((queue) => ({ queue }));
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
