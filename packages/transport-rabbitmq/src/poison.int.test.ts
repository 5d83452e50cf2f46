import { describePoisonMessages } from '@thrun/core/testing';
import type { Channel, ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { rabbitmqTransport } from './rabbitmq-transport.js';
import {
  amqpUrl,
  ctl,
  deleteTopology,
  rawConnection,
  refuseQueuePublishes,
  regexQuoted,
  uniqueQueue,
} from './test-helpers.js';

let raw: ChannelModel;
let channel: Channel;
const queues: string[] = [];
const policies: string[] = [];

beforeAll(async () => {
  raw = await rawConnection();
  channel = await raw.createChannel();
});
afterEach(async () => {
  for (const name of policies.splice(0)) await ctl('clear_policy', name).catch(() => {});
});
afterAll(async () => {
  for (const queue of queues) await deleteTopology(raw, queue, [`${queue}:retry:20`, `${queue}:retry:40`]);
  await raw.close();
});

/** Every message waiting in `queue`, taken and put back (the channel's nack-all requeues them in order). */
async function look(queue: string) {
  const found: { body: Uint8Array; headers: Record<string, string> }[] = [];
  const look = await raw.createChannel();
  look.on('error', () => {}); // a missing queue closes the channel: nothing in it yet
  try {
    await look.checkQueue(queue);
    for (let message = await look.get(queue); message; message = await look.get(queue)) {
      const headers = Object.fromEntries(
        Object.entries(message.properties.headers ?? {}).flatMap(([name, value]) =>
          typeof value === 'string'
            ? [[name, value]]
            : Buffer.isBuffer(value)
              ? [[name, value.toString()]]
              : [],
        ),
      );
      found.push({ body: new Uint8Array(message.content), headers });
    }
    look.nackAll(true);
  } catch {
    // no such queue yet
  } finally {
    await look.close().catch(() => {});
  }
  return found;
}

describePoisonMessages({
  name: 'rabbitmq',
  transport: () => rabbitmqTransport({ url: amqpUrl }),
  queue: (label) => {
    const queue = uniqueQueue(`poison-${label}`);
    queues.push(queue);
    return queue;
  },
  // A plain AMQP producer (a PHP or Go service): straight to the queue named like the Thrun queue.
  produce: async (queue, body) => {
    channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
  },
  sourceSize: async (queue) => (await channel.checkQueue(queue)).messageCount,
  readDead: (queue) => look(`${queue}.dead`),
  // A policy that rejects every publish to the dead queue until it is cleared.
  refuseDeadLetters: async (queue) => {
    const name = `${queue}-refuse-dead`;
    policies.push(name);
    await refuseQueuePublishes(name, `^${regexQuoted(queue)}\\.dead$`);
    return async () => {
      await ctl('clear_policy', name);
    };
  },
});
