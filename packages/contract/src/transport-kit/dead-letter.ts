import { createDeadLetterMetadata, deadLetterHeaders } from '../dead-letter.js';
import { deadLetterQueueName } from '../event-name.js';
import type { DeadLetterReason } from '../transport.js';

/** A dead letter in the headers form: the original bytes go to `queue` with these headers beside them. */
export interface DeadLetterCopy {
  /** `<queue>.dead`. */
  queue: string;
  /** The `thrun-dead-*` description, its reason cut to the protocol's limits. */
  headers: Record<string, string>;
}

/**
 * Where and how a transport that carries headers dead-letters a message of `queue` (RabbitMQ, Kafka,
 * memory). The body is left to the caller: it is the message's original bytes, so the dead letter
 * fits wherever the message did.
 */
export function deadLetterCopy(queue: string, reason: DeadLetterReason, attempts: number): DeadLetterCopy {
  return {
    queue: deadLetterQueueName(queue),
    headers: deadLetterHeaders(createDeadLetterMetadata({ queue, reason, attempts })),
  };
}
