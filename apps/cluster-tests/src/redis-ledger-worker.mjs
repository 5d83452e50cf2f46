// A worker process of the Redis Cluster ledger run: the Redis transport on an ioredis Cluster. Each event
// is recorded (its id appended synchronously to this worker's ledger file, so a kill loses no recorded
// line), then acked; an event whose id ends in "poison" is dead-lettered instead. Exits after close() on
// SIGTERM. Argv: one JSON object (nodes, keyPrefix, queue, ledger, wait, handlerMs).
import { appendFileSync } from 'node:fs';
import { redisTransport } from '@thrun/transport-redis';
import { Cluster } from 'ioredis';

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
  keyPrefix: config.keyPrefix,
  visibilityTimeoutMs: 3_000,
  blockTimeoutMs: 500,
  ...(config.wait ? { waitForReplicas: 1, waitForReplicasOnSettle: true } : {}),
});
process.on('SIGTERM', () => {
  transport.close({ drainTimeoutMs: 5_000 }).then(
    () => {
      cluster.disconnect();
      process.exit(0);
    },
    () => process.exit(1),
  );
});
await transport.consume(
  config.queue,
  async (delivery) => {
    const id = new TextDecoder().decode(delivery.body);
    await new Promise((resolve) => setTimeout(resolve, config.handlerMs));
    if (id.endsWith('poison')) {
      await delivery.deadLetter({ code: 'poison', message: 'refused by the ledger worker' });
      return;
    }
    appendFileSync(config.ledger, `${id}\n`);
    await delivery.ack();
  },
  { group: 'ledger', concurrency: 8 },
);
process.stdout.write('subscribed\n');
