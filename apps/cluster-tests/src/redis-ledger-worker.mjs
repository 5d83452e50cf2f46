// A worker process of the Redis Cluster ledger run (ledger-worker-loop.mjs): the Redis transport on an
// ioredis Cluster, in group "ledger". Argv: one JSON object (nodes, keyPrefix, queue, mode, ledger,
// wait, handlerMs).
import { redisTransport } from '@thrun/transport-redis';
import { Cluster } from 'ioredis';
import { runLedgerWorker } from './ledger-worker-loop.mjs';

const config = JSON.parse(process.argv[2]);
const cluster = new Cluster(config.nodes, {
  clusterRetryStrategy: (times) => Math.min(100 * times, 1_000),
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  retryDelayOnTryAgain: 200,
  maxRedirections: 64,
  redisOptions: { maxRetriesPerRequest: 50, connectTimeout: 1_000 },
});
cluster.on('error', () => {});
const transport = redisTransport({
  client: cluster,
  mode: config.mode,
  keyPrefix: config.keyPrefix,
  visibilityTimeoutMs: 3_000,
  blockTimeoutMs: 500,
  ...(config.wait ? { waitForReplicas: 1, waitForReplicasOnSettle: true } : {}),
});
await runLedgerWorker(transport, config, { group: 'ledger', afterClose: () => cluster.disconnect() });
