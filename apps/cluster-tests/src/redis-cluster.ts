/**
 * The Redis Cluster of scripts/brokers/redis-cluster.sh as the tests see it: its nodes (from
 * THRUN_REDIS_CLUSTER_NODES, in the script's order), an ioredis `Cluster` that rides out a failover,
 * and SIGKILL / revive of the master that serves a key, through the script.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../../scripts/brokers/redis-cluster.sh', import.meta.url));

export const nodes = (process.env.THRUN_REDIS_CLUSTER_NODES ?? '')
  .split(',')
  .filter(Boolean)
  .map((address) => {
    const [host = '127.0.0.1', port = '0'] = address.split(':');
    return { host, port: Number(port) };
  });

/**
 * A client that keeps going through a failover: it retries topology refreshes for good and re-sends a
 * command that met a dead node or CLUSTERDOWN while the replica is promoted.
 */
export function connectCluster(): Cluster {
  if (nodes.length !== 6) {
    throw new Error(
      'THRUN_REDIS_CLUSTER_NODES must list the six nodes of the cluster; run through scripts/test-cluster.sh',
    );
  }
  const cluster = new Cluster(nodes, {
    clusterRetryStrategy: (times) => Math.min(100 * times, 1_000),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    maxRedirections: 64,
    redisOptions: { maxRetriesPerRequest: 50, connectTimeout: 1_000 },
  });
  cluster.on('error', () => {});
  return cluster;
}

/** The node number (1-6, the script's) of the master that serves `key` now. */
export async function masterOf(cluster: Cluster, key: string): Promise<number> {
  const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', key));
  const ranges = (await cluster.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const range = ranges.find(([first, last]) => slot >= first && slot <= last);
  const port = range?.[2][1];
  const index = nodes.findIndex((node) => node.port === port);
  if (index < 0) throw new Error(`no master found for slot ${slot}`);
  return index + 1;
}

async function clusterScript(...args: string[]): Promise<void> {
  await run('bash', [script, ...args], { env: process.env });
}

/** SIGKILL of node `n`, as a crash would. */
export const killNode = (n: number) => clusterScript('kill', String(n));

/** Starts node `n` again; resolves once the cluster is ok and every master has a replica in sync. */
export const reviveNode = (n: number) => clusterScript('revive', String(n));

/** Waits until `key`'s slot is served by a master other than node `n` (its replica was promoted). */
export async function waitForFailover(cluster: Cluster, key: string, n: number, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await masterOf(cluster, key)) !== n) return;
    } catch {
      // The node asked may be the dead one: ask again.
    }
    if (Date.now() > deadline) throw new Error(`no failover of node ${n} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A key prefix of its own for each run, so runs never see each other's keys. */
export const runPrefix = (name: string) => `cluster-test:${name}:${randomUUID().slice(0, 8)}:`;

/** Deletes the keys of one run (`prefix`), on every master. */
export async function deleteRunKeys(cluster: Cluster, prefix: string): Promise<void> {
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
}
