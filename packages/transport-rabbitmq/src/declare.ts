import { ConfigurationError } from '@thrun/contract';
import type { Channel } from 'amqplib';
import { topology } from './topology.js';

export type QueueType = 'quorum' | 'classic';

/**
 * Idempotent declarations. Every entity is durable. Thrun queues and their groups use `queueType`;
 * delay and retry buckets are classic queues (lighter than one Raft group each) holding persistent
 * messages, with a queue-wide TTL and dead-lettering back to where the message belongs.
 */
export async function declareGroup(
  channel: Channel,
  queueType: QueueType,
  queue: string,
  groupQueue: string,
): Promise<void> {
  const exchange = topology.exchange(queue);
  await guard(channel.assertExchange(exchange, 'fanout', { durable: true }), `exchange ${exchange}`);
  await guard(
    channel.assertQueue(groupQueue, { durable: true, arguments: { 'x-queue-type': queueType } }),
    `queue ${groupQueue}`,
  );
  await channel.bindQueue(groupQueue, exchange, '');
}

export async function declarePlainQueue(channel: Channel, queueType: QueueType, name: string): Promise<void> {
  await guard(
    channel.assertQueue(name, { durable: true, arguments: { 'x-queue-type': queueType } }),
    `queue ${name}`,
  );
}

/** A bucket whose messages expire after `ttlMs` and are dead-lettered to `exchange` with `routingKey`. */
export async function declareBucket(
  channel: Channel,
  name: string,
  ttlMs: number,
  exchange: string,
  routingKey: string | undefined,
): Promise<void> {
  await guard(
    channel.assertQueue(name, {
      durable: true,
      arguments: {
        'x-queue-type': 'classic',
        'x-message-ttl': ttlMs,
        'x-dead-letter-exchange': exchange,
        ...(routingKey === undefined ? {} : { 'x-dead-letter-routing-key': routingKey }),
      },
    }),
    `queue ${name}`,
  );
}

async function guard<T>(declaration: Promise<T>, what: string): Promise<T> {
  try {
    return await declaration;
  } catch (cause) {
    // 406 PRECONDITION_FAILED: it exists with other arguments (say, a classic queue where a quorum
    // queue is configured). Only the operator can resolve that.
    if ((cause as { code?: number }).code === 406) {
      throw new ConfigurationError(
        'invalid_option',
        `[thrun:rabbitmq] ${what} exists with different arguments (queue type, TTL or dead-lettering); delete it or match queueType`,
        { cause },
      );
    }
    throw cause;
  }
}
