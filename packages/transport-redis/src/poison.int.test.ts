import { describePoisonMessages } from '@thrun/core/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix, waitFor } from './test-support/redis.js';

let admin: Redis;
const prefix = uniquePrefix();
let queues = 0;

beforeAll(async () => {
  admin = await requireRedis();
});
afterAll(async () => {
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

for (const mode of ['list', 'stream'] as const) {
  const key = (name: string) => `${prefix}${name}`;
  describePoisonMessages({
    name: `redis (${mode})`,
    transport: () => redisTransport({ url: REDIS_URL, keyPrefix: prefix, mode }),
    queue: (label) => `poison.${mode}.${label}.${++queues}`,
    // A foreign producer: a plain LPUSH, or an XADD with the body in field `b`.
    produce: async (queue, body) => {
      if (mode === 'list') await admin.lpush(key(queue), Buffer.from(body));
      else await admin.xadd(key(queue), '*', 'b', Buffer.from(body));
    },
    sourceSize: async (queue) => (mode === 'list' ? admin.llen(key(queue)) : admin.xlen(key(queue))),
    readDead: async (queue) => {
      const dead = key(`${queue}.dead`);
      if ((await admin.type(dead)) === 'string') return []; // refusing, below
      if (mode === 'list') return (await admin.lrangeBuffer(dead, 0, -1)).map((body) => ({ body }));
      const entries = await admin.xrangeBuffer(dead, '-', '+');
      return entries.map(([, fields]) => ({ body: fields[1]! }));
    },
    // A key of the wrong type makes Redis answer every write to it with WRONGTYPE.
    refuseDeadLetters: async (queue) => {
      const dead = key(`${queue}.dead`);
      await admin.set(dead, 'not a list or a stream');
      return async () => {
        await admin.del(dead);
      };
    },
  });

  describe(`redis (${mode}): a handler that gives up after a refused settlement`, () => {
    it('gets the message back after a backoff, as the next attempt: no loop, no copy', async () => {
      const queue = `poison.${mode}.handler.${++queues}`;
      await admin.set(key(`${queue}.dead`), 'not a list or a stream');
      const transport = redisTransport({ url: REDIS_URL, keyPrefix: prefix, mode });
      const attempts: number[] = [];
      const refusals: unknown[] = [];
      await transport.consume(queue, async (delivery) => {
        attempts.push(delivery.attempt);
        // Not core's worker: this handler tries once and returns whatever happened.
        await delivery
          .deadLetter({ code: 'test', message: 'refused' })
          .catch((error) => refusals.push(error));
      });
      await transport.publish(queue, [{ body: Buffer.from('poison') }]);
      await waitFor(() => attempts.length >= 1);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // 100 ms doubling (jittered): a handful of attempts in 1.5 s, each counted, never a hot loop.
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      expect(attempts.length).toBeLessThanOrEqual(7);
      expect(attempts).toEqual(attempts.map((_, index) => index + 1));
      expect(refusals.every((error) => (error as { name?: string }).name === 'TransportError')).toBe(true);
      expect(mode === 'list' ? await admin.llen(key(queue)) : await admin.xlen(key(queue))).toBe(
        mode === 'list' ? 0 : 1,
      );
      await admin.del(key(`${queue}.dead`));
      await waitFor(async () => (await admin.exists(key(`${queue}.dead`))) === 1);
      await transport.close({ drainTimeoutMs: 1_000 });
    });
  });
}
