/**
 * The transport on a real Redis Cluster (scripts/brokers/redis-cluster.sh: three masters, one replica
 * each), through the `client` option with an ioredis `Cluster`. `<queue>.dead` hashes to another slot
 * than the queue's `{<queue>}` keys, so dead-lettering takes the two-step path there; `waitForReplicas`
 * waits for the master's replica.
 */
import { decodeDeadLetter, type Transport, TransportError } from '@thrun/contract';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import { bytes, text, uniquePrefix, waitFor } from './test-support/redis.js';

const nodes = (
  process.env.THRUN_REDIS_CLUSTER_NODES ??
  '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005,127.0.0.1:7006'
)
  .split(',')
  .map((address) => {
    const [host = '127.0.0.1', port = '7001'] = address.split(':');
    return { host, port: Number(port) };
  });

let cluster: Cluster;
const prefix = uniquePrefix();
const transports: Transport[] = [];

function open(options: Omit<Parameters<typeof redisTransport>[0], 'client' | 'url'> = {}): Transport {
  const transport = redisTransport({ client: cluster, keyPrefix: prefix, blockTimeoutMs: 200, ...options });
  transports.push(transport);
  return transport;
}

/** Fails (never skips) when the cluster is not there, saying how to start it. */
beforeAll(async () => {
  cluster = new Cluster(nodes, { clusterRetryStrategy: () => null, enableReadyCheck: true });
  cluster.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve);
      cluster.once('end', () => reject(new Error('connection ended')));
      setTimeout(() => reject(new Error('not ready within 10 s')), 10_000).unref();
    });
  } catch (error) {
    cluster.disconnect();
    throw new Error(
      `No Redis Cluster at ${nodes.map((n) => `${n.host}:${n.port}`).join(',')} (${(error as Error).message}). Start one with: eval "$(bash scripts/brokers/redis-cluster.sh start)"`,
    );
  }
});
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close({ drainTimeoutMs: 100 })));
});
afterAll(async () => {
  if (!cluster) return;
  // Only this run's keys, on every master.
  await Promise.all(
    cluster.nodes('master').map(async (node) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) await node.del(key);
      } while (cursor !== '0');
    }),
  );
  cluster.disconnect();
});

const slot = async (key: string) => Number(await cluster.cluster('KEYSLOT', key));

describe.each(['list', 'stream'] as const)('redis (%s) on a Cluster, through the client option', (mode) => {
  it('delivers, and dead-letters across slots: the record lands in <queue>.dead and the message leaves', async () => {
    const queue = `cluster-${mode}`;
    // The queue's own keys and its dead-letter queue really are in different slots.
    expect(await slot(`${prefix}${queue}.dead`)).not.toBe(await slot(`{${prefix}${queue}}`));
    // Short leases, so that a message left behind would be back within the watch below.
    const transport = open({ mode, visibilityTimeoutMs: 500 });
    const seen: { body: string; attempt: number }[] = [];
    await transport.consume(queue, async (delivery) => {
      seen.push({ body: text(delivery.body), attempt: delivery.attempt });
      if (text(delivery.body) === 'poison') await delivery.deadLetter({ code: 'poison', message: 'refused' });
      else await delivery.ack();
    });
    await transport.publish(queue, [{ body: bytes('fine') }, { body: bytes('poison') }]);
    await waitFor(async () => (await transport.peek!(`${queue}.dead`, 10)).length === 1);
    const [record] = (await transport.peek!(`${queue}.dead`, 10)).map((m) => decodeDeadLetter(m));
    expect(text(record!.originalBody)).toBe('poison');
    expect(record).toMatchObject({ queue, attempts: 1, error: { code: 'poison', message: 'refused' } });
    // Removed from the queue: a new consumer of the group gets nothing back, even after a lease.
    await transport.close();
    const later = open({ mode, visibilityTimeoutMs: 500 });
    const again: string[] = [];
    await later.consume(queue, async (delivery) => {
      again.push(text(delivery.body));
      await delivery.ack();
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // three leases
    expect(again).toEqual([]);
    expect(seen).toEqual([
      { body: 'fine', attempt: 1 },
      { body: 'poison', attempt: 1 },
    ]);
    // The given client stays open for its owner.
    expect(cluster.status).toBe('ready');
  });
});

describe('waitForReplicas on a Cluster', () => {
  it('resolves once the master’s replica has the message, and rejects when more replicas are asked than exist', async () => {
    const withReplica = open({ waitForReplicas: 1 });
    await withReplica.publish('replicated', [{ body: bytes('copied') }]);
    // The replica of the master that owns the queue's slot holds it.
    const key = `${prefix}replicated`;
    const replicas = cluster.nodes('slave');
    const copies = await Promise.all(
      replicas.map(async (replica) => {
        await replica.call('READONLY');
        return replica.lrange(key, 0, -1).catch(() => [] as string[]);
      }),
    );
    expect(copies.flat()).toContain('copied');

    const tooMany = open({ waitForReplicas: 2, connectTimeoutMs: 500 });
    const error = await tooMany.publish('replicated', [{ body: bytes('unsure') }]).catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('publish_failed');
    expect(String((error as Error).message)).toMatch(/1 of 2 replicas acknowledged/);
  });

  it('settles a deep stream with each acknowledgement replicated, reading behind the acknowledgements', async () => {
    const transport = open({ mode: 'stream', waitForReplicas: 1, waitForReplicasOnSettle: true });
    const sent = Array.from({ length: 300 }, (_, i) => `r${i}`);
    await transport.publish(
      'replicated-stream',
      sent.map((s) => ({ body: bytes(s) })),
    );
    const seen: string[] = [];
    await transport.consume(
      'replicated-stream',
      async (delivery) => {
        await delivery.ack();
        seen.push(text(delivery.body));
      },
      { concurrency: 10 },
    );
    await waitFor(() => seen.length === 300);
    expect([...seen].sort()).toEqual([...sent].sort());
    const key = `${prefix}replicated-stream`;
    await waitFor(async () => Number((await cluster.xpending(key, 'default'))[0]) === 0);
  });
});
