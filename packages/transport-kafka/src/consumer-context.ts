import type { DeliveryHandler } from '@thrun/contract';
import type { Consumer, Message } from 'kafkajs';

/** What a queue consumer needs from its transport. */
export interface QueueConsumerContext {
  queue: string;
  group: string;
  retryTopic: string;
  handler: DeliveryHandler;
  concurrency: number;
  consumer: Consumer;
  heartbeatIntervalMs: number;
  /** How often a batch in progress resolves and commits its settled offsets. */
  commitIntervalMs: number;
  /** Sends with the transport's idempotent producer (`acks: -1`); rejects when not acknowledged. */
  send(topic: string, messages: Message[]): Promise<void>;
  /** Creates a topic when missing (used for `<queue>.dead`, on first use). */
  ensureTopic(topic: string): Promise<void>;
  /** Reports an error nobody awaits (a failed release, a failed commit); never holds credentials. */
  onError(error: unknown): void;
  /**
   * Cuts the consumer's connections, for a `close` whose group leave outlasts its deadline. Absent
   * with a kafkajs client of the user's own (Thrun does not own its sockets): `close` then returns at
   * the deadline and kafkajs finishes leaving in the background.
   */
  cutConnections?(): void;
}

/** How a delivery ended for its batch: `done` when its offset may be passed. */
export type Outcome = 'done' | 'undone';
