/**
 * A handler may run far longer than `visibilityTimeoutMs`: while its consumer is alive the lease is
 * renewed, so no other consumer of the group gets the message. Both modes, against the real Redis.
 */
import type { Transport } from '@thrun/contract';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import {
  bytes,
  deleteKeys,
  REDIS_URL,
  requireRedis,
  text,
  uniquePrefix,
  waitFor,
} from './test-support/redis.js';

// Short, so the handler outlives several leases in a few seconds.
const visibilityTimeoutMs = 900;
const handlerMs = visibilityTimeoutMs * 3;

let admin: Redis;
const transports: Transport[] = [];
const prefix = uniquePrefix();

beforeAll(async () => {
  admin = await requireRedis();
});
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close({ drainTimeoutMs: 100 })));
});
afterAll(async () => {
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

describe.each(['list', 'stream'] as const)(
  'redis (%s): a handler longer than visibilityTimeoutMs',
  (mode) => {
    it('is not redelivered while its worker is alive', { timeout: 30_000 }, async () => {
      const queue = `long-${mode}`;
      const open = () => {
        const transport = redisTransport({
          url: REDIS_URL,
          keyPrefix: prefix,
          mode,
          visibilityTimeoutMs,
          blockTimeoutMs: 100,
        });
        transports.push(transport);
        return transport;
      };
      const deliveries: { consumer: string; body: string; attempt: number }[] = [];
      let finished = false;
      // Two consumers of one group: the idle one would take the message if the busy one's lease lapsed.
      for (const consumer of ['busy', 'idle']) {
        await open().consume(
          queue,
          async (delivery) => {
            deliveries.push({ consumer, body: text(delivery.body), attempt: delivery.attempt });
            await new Promise((resolve) => setTimeout(resolve, handlerMs));
            await delivery.ack();
            finished = true;
          },
          // One slot each: the idle consumer is free to take the message the moment a lease lapses.
          { group: 'workers', concurrency: 1 },
        );
      }
      await open().publish(queue, [{ body: bytes('long job') }]);
      await waitFor(() => finished, handlerMs + 10_000);
      // Past another lease, for a redelivery that came late.
      await new Promise((resolve) => setTimeout(resolve, visibilityTimeoutMs * 2));
      expect(deliveries.map(({ body, attempt }) => ({ body, attempt }))).toEqual([
        { body: 'long job', attempt: 1 },
      ]);
    });
  },
);
