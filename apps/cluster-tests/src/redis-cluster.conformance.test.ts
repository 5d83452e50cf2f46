/**
 * The transport conformance suite of @thrun/contract on the Redis Cluster, in both modes, through an
 * ioredis `Cluster` given as `client`. The broker-restart case is skipped with its reason (a cluster is
 * not restarted as one server); the node kills are the ledger and batch runs' business.
 */
import { describeTransportConformance } from '@thrun/contract/conformance';
import { redisTransport } from '@thrun/transport-redis';
import type { Cluster } from 'ioredis';
import { connectCluster, deleteRunKeys, runPrefix } from './redis-cluster.js';

const visibilityTimeoutMs = 1_500;

for (const mode of ['list', 'stream'] as const) {
  const keyPrefix = runPrefix(`conformance-${mode}`);
  let cluster: Cluster | undefined;
  describeTransportConformance({
    name: `redis cluster (${mode === 'list' ? 'lists' : 'streams'})`,
    factory: () =>
      redisTransport({
        client: cluster!,
        mode,
        keyPrefix,
        visibilityTimeoutMs,
        blockTimeoutMs: 250,
        trimIntervalMs: 500,
      }),
    features: { redeliveryAfterMs: visibilityTimeoutMs * 2 },
    hooks: {
      beforeAll: async () => {
        cluster = connectCluster();
        await cluster.ping();
      },
      afterAll: async () => {
        if (!cluster) return;
        await deleteRunKeys(cluster, keyPrefix);
        cluster.disconnect();
      },
    },
  });
}
